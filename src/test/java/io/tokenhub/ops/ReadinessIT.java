package io.tokenhub.ops;

import static io.tokenhub.testing.TestGateway.MOCK_CATALOG;
import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.TcpProxy;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/**
 * {@code /health/ready} when a dependency stops answering without failing (the connection stays
 * open, nothing comes back): the probe still answers, at once, not ready, naming the check and why;
 * and the node is ready again once the dependency answers.
 */
class ReadinessIT {

    private static final String NO_ANSWER = "no answer within " + ManagementVerticle.CHECK_TIMEOUT_MS + " ms";
    private static final long WAIT_MS = 30_000;

    @Test
    void redisThatAcceptsConnectionsButNeverAnswersMakesTheNodeNotReadyWithTheReason() throws IOException {
        // Given a "Redis" that completes TCP handshakes (the kernel does, up to the backlog) but never
        // reads or writes a byte
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
             TestGateway gateway = TestGateway.start(MOCK_CATALOG, "", "redis://127.0.0.1:" + silent.getLocalPort())) {

            // When the readiness probe is asked, then it answers 503: Redis down for want of an
            // answer, PostgreSQL up
            TestGateway.eventually(() -> NO_ANSWER.equals(reasons(ready(gateway)).getString("redis")), WAIT_MS,
                "redis reported as not answering");
            HttpResponse<String> ready = ready(gateway);
            assertThat(ready.statusCode()).as(ready.body()).isEqualTo(503);
            JsonObject body = new JsonObject(ready.body());
            assertThat(body.getString("status")).isEqualTo("DOWN");
            assertThat(body.getJsonObject("checks").getString("redis")).isEqualTo("DOWN");
            assertThat(body.getJsonObject("checks").getString("postgres")).isEqualTo("UP");
            assertThat(reasons(ready).getMap()).doesNotContainKey("postgres");
        }
    }

    @Test
    void redisThatGoesSilentTurnsTheNodeNotReadyAndBackWhenItAnswersAgain() {
        // Given a ready node whose Redis is reached through a network that can go quiet
        try (TcpProxy network = new TcpProxy("127.0.0.1", 6379);
             TestGateway gateway = TestGateway.start(MOCK_CATALOG, "", "redis://127.0.0.1:" + network.port())) {
            TestGateway.eventually(() -> ready(gateway).statusCode() == 200, WAIT_MS, "the node ready");

            // When the network drops everything, connections staying open
            network.partition();

            // Then the node is not ready, Redis named as not answering (not left at its last "UP")
            TestGateway.eventually(() -> ready(gateway).statusCode() == 503, WAIT_MS, "the node not ready");
            HttpResponse<String> ready = ready(gateway);
            assertThat(new JsonObject(ready.body()).getJsonObject("checks").getString("redis")).isEqualTo("DOWN");
            assertThat(reasons(ready).getString("redis")).isEqualTo(NO_ANSWER);

            // When the network lets traffic through again, then the node is ready again
            network.heal();
            TestGateway.eventually(() -> ready(gateway).statusCode() == 200, WAIT_MS, "the node ready again");
            assertThat(reasons(ready(gateway)).getMap()).isEmpty();
        }
    }

    private static HttpResponse<String> ready(TestGateway gateway) {
        return gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/health/ready"))).GET());
    }

    private static JsonObject reasons(HttpResponse<String> ready) {
        return new JsonObject(ready.body()).getJsonObject("reasons");
    }
}
