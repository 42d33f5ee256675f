package io.tokenhub.ops;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.TestCluster;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/**
 * PRODUCT §6: {@code /health/ready} is ready only when storage and the cluster are up. A clustered
 * node whose Hazelcast member is no longer running (shut down by Hazelcast itself: an out-of-memory
 * handler, a failed merge, an operator's tool) is no cluster member any more: its rate limits are no
 * longer shared, its event bus reaches nobody. It must turn unready and name the cluster check.
 */
class ClusterMemberReadinessIT {

    private static final String CONFIG = """
        providers:
          - { id: openai, type: openai, base_url: "%s" }
        models:
          - id: gpt-4o-mini
            deployments: [ { provider: openai, model: gpt-4o-mini } ]
        """;
    private static final long WAIT_MS = 15_000;

    @Test
    void aNodeWhoseHazelcastMemberStoppedIsNotReady() {
        try (TestCluster cluster = new TestCluster("gpt-4o-mini")) {
            // Given a ready clustered node
            TestGateway node = cluster.addNode(CONFIG::formatted);
            TestGateway.eventually(() -> ready(node).statusCode() == 200, WAIT_MS, "the node ready");
            assertThat(new JsonObject(ready(node).body()).getJsonObject("checks").getString("cluster")).isEqualTo("UP");

            // When its Hazelcast member stops running
            node.hub().hazelcast().orElseThrow().getLifecycleService().terminate();
            assertThat(node.hub().hazelcast().orElseThrow().getLifecycleService().isRunning()).isFalse();

            // Then, within a few probes, the node is not ready, the cluster check named as down
            TestGateway.eventually(() -> ready(node).statusCode() == 503, WAIT_MS, "the node unready");
            HttpResponse<String> unready = ready(node);
            assertThat(unready.statusCode()).isEqualTo(503);
            assertThat(new JsonObject(unready.body()).getJsonObject("checks").getString("cluster")).isEqualTo("DOWN");
        }
    }

    private static HttpResponse<String> ready(TestGateway gateway) {
        return gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/health/ready"))).GET());
    }
}
