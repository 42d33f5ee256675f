package io.tokenhub.billing;

import static io.tokenhub.testing.OpenAiErrorAssert.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.TcpProxy;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Redis, holding the hot counters, stops answering with its connections open (a network that drops
 * everything). Requests are refused at once as a passing outage instead of waiting for as long as it
 * lasts; a request already answered still gets its usage record, paid from the wallet in
 * PostgreSQL; and once Redis answers again, so does the gateway.
 */
class RedisStallIT {

    private static final long WAIT_MS = 20_000;
    private static final String BODY = """
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}""";

    Vertx vertx;
    FakeOpenAiUpstream upstream;
    TcpProxy network;
    TestGateway gateway;
    URI redis;
    String key;
    String accountId;

    @BeforeEach
    void start() {
        vertx = Vertx.vertx();
        upstream = new FakeOpenAiUpstream(vertx, "gpt-4o-mini").start();
        redis = URI.create(System.getenv().getOrDefault("TOKENHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379"));
        network = new TcpProxy(redis.getHost(), redis.getPort() < 0 ? 6379 : redis.getPort());
        gateway = TestGateway.start("""
            providers:
              - { id: openai, type: openai, base_url: "%s" }
            models:
              - id: gpt-4o-mini
                pricing: { input: 0.15, output: 0.60 }
                deployments: [ { provider: openai, model: gpt-4o-mini } ]
            """.formatted(upstream.baseUrl()), "", "redis://127.0.0.1:" + network.port());
        JsonObject created = gateway.newKey(new JsonObject());
        key = created.getString("key");
        accountId = created.getString("account_id");
    }

    @AfterEach
    void stop() {
        gateway.close();
        network.close();
        upstream.stop();
        vertx.close();
    }

    @Test
    void aSilentRedisRefusesRequestsAtOnceAndLosesNoRecord() throws Exception {
        assertThat(gateway.post("/v1/chat/completions", key, BODY).statusCode()).isEqualTo(200);

        // Given a request that reserved its estimate and waits on a slow upstream
        upstream.firstByteDelayMs = 1_000;
        CompletableFuture<HttpResponse<String>> answered = CompletableFuture.supplyAsync(
            () -> gateway.post("/v1/chat/completions", key, BODY));
        TestGateway.eventually(() -> upstream.requests().size() == 2, WAIT_MS, "the second request at the upstream");

        // When Redis goes silent before that request settles
        network.partition();

        // Then it is answered, and its usage record is written all the same (paid from the wallet)
        HttpResponse<String> response = answered.get(WAIT_MS, TimeUnit.MILLISECONDS);
        assertThat(response.statusCode()).isEqualTo(200);
        String requestId = response.headers().firstValue("X-Request-Id").orElseThrow();
        TestGateway.eventually(() -> gateway.database().count(
            "SELECT count(*) FROM usage_records WHERE request_id = ?", requestId) == 1, WAIT_MS, "its usage record");
        // And a new request is refused as a passing outage, with a Retry-After, not held until Redis returns
        upstream.firstByteDelayMs = 0;
        HttpResponse<String> refused = gateway.post("/v1/chat/completions", key, BODY);
        assertOpenAiError(refused, 503, "api_error", "service_unavailable", null);
        assertThat(refused.headers().firstValue("Retry-After")).isPresent();
        assertThat(upstream.requests()).hasSize(2);

        // When Redis answers again, then so does the gateway
        network.heal();
        TestGateway.eventually(() -> gateway.post("/v1/chat/completions", key, BODY).statusCode() == 200, WAIT_MS,
            "a request answered again");
        // And the reservation Redis made late for the refused request is handed back, not held for 15 minutes
        TestGateway.eventually(() -> reservationsHeld() == 0, WAIT_MS, "no reservation left in Redis");
    }

    /** How many reservations the account holds in Redis ({@code HLEN} of its reservations hash). */
    private long reservationsHeld() {
        String hash = "th:r:{" + accountId + "}";
        String command = "*2\r\n$4\r\nHLEN\r\n$" + hash.length() + "\r\n" + hash + "\r\n";
        try (Socket socket = new Socket(redis.getHost(), redis.getPort() < 0 ? 6379 : redis.getPort())) {
            socket.getOutputStream().write(command.getBytes(StandardCharsets.US_ASCII));
            String reply = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.US_ASCII))
                .readLine();
            assertThat(reply).startsWith(":");
            return Long.parseLong(reply.substring(1));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
