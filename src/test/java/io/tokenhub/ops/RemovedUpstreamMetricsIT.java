package io.tokenhub.ops;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code tokenhub_circuit_state{provider,deployment}} is the state of the upstreams the node routes to,
 * as {@code GET /admin/v1/upstreams} lists them. An operator who takes a failing deployment out of the
 * catalog with {@code POST /admin/v1/reload} (the usual fix) must not be left with its circuit shown as
 * open (2) or half-open (1) for ever: an alert on the gauge would never clear.
 */
class RemovedUpstreamMetricsIT {

    private static final String CATALOG = """
        providers:
          - id: broken
            type: openai
            base_url: "%1$s"
            circuit_breaker: { max_failures: 1, window_ms: 10000, reset_ms: 60000 }
          - { id: mock, type: mock }
        models:
          - id: mock-chat
            deployments: [ { provider: mock, model: mock-chat-1 } ]
        %2$s""";
    private static final String FAILING_MODEL = """
          - id: failing
            deployments: [ { provider: broken, model: failing-1 } ]
        """;

    @Test
    void aDeploymentAReloadRemovedIsNoLongerExportedAsAnOpenCircuit() {
        Vertx vertx = Vertx.vertx();
        FakeOpenAiUpstream upstream = new FakeOpenAiUpstream(vertx, "failing-1").start();
        try (TestGateway gateway = TestGateway.reloadable(CATALOG.formatted(upstream.baseUrl(), FAILING_MODEL), "")) {
            // Given a deployment whose circuit opened
            upstream.fault = FakeOpenAiUpstream.Fault.STATUS;
            upstream.status = 500;
            String key = gateway.newKey();
            assertThat(gateway.post("/v1/chat/completions", key,
                "{\"model\":\"failing\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}").statusCode())
                .isEqualTo(502);
            String series = "tokenhub_circuit_state{deployment=\"failing-1\",provider=\"broken\"}";
            TestGateway.eventually(() -> scrape(gateway).contains(series + " 2.0"), 5_000, "the circuit open");

            // When a reload takes the failing model (and so its deployment) out of the catalog
            gateway.reload(CATALOG.formatted(upstream.baseUrl(), ""));
            List<String> listed = gateway.adminOk("GET", "/admin/v1/upstreams", null).getJsonArray("data").stream()
                .map(JsonObject.class::cast).map(u -> u.getString("provider") + "/" + u.getString("deployment")).toList();
            assertThat(listed).as("the admin API no longer lists it").doesNotContain("broken/failing-1");

            // Then /metrics no longer reports a circuit for it either (open or otherwise)
            assertThat(scrape(gateway).lines().filter(l -> l.startsWith(series)).toList())
                .as("tokenhub_circuit_state of a deployment no longer in the catalog").isEmpty();
        } finally {
            upstream.stop();
            vertx.close();
        }
    }

    private static String scrape(TestGateway gateway) {
        return gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/metrics"))).GET()).body();
    }
}
