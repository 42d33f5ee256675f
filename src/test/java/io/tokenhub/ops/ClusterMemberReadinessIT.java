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
 * longer shared, its event bus reaches nobody. It must turn unready and name the cluster check, and
 * not live, so that it is restarted; until then its API answers 503, to be retried on another node.
 */
class ClusterMemberReadinessIT {

    private static final long WAIT_MS = 15_000;

    @Test
    void aNodeWhoseHazelcastMemberStoppedIsNotReady() {
        try (TestCluster cluster = new TestCluster("gpt-4o-mini")) {
            // Given a ready clustered node
            TestGateway node = cluster.addNode(TestCluster.ONE_MODEL::formatted);
            TestGateway.eventually(() -> ready(node).statusCode() == 200, WAIT_MS, "the node ready");
            assertThat(new JsonObject(ready(node).body()).getJsonObject("checks").getString("cluster")).isEqualTo("UP");

            String key = node.newKey();

            // When its Hazelcast member stops running
            node.hub().hazelcast().orElseThrow().getLifecycleService().terminate();
            assertThat(node.hub().hazelcast().orElseThrow().getLifecycleService().isRunning()).isFalse();

            // Then, within a few probes, the node is not ready, the cluster check named as down
            TestGateway.eventually(() -> ready(node).statusCode() == 503, WAIT_MS, "the node unready");
            HttpResponse<String> unready = ready(node);
            assertThat(unready.statusCode()).isEqualTo(503);
            assertThat(new JsonObject(unready.body()).getJsonObject("checks").getString("cluster")).isEqualTo("DOWN");
            // and not live either, so that it is restarted; meanwhile its API refuses, to be retried elsewhere
            HttpResponse<String> live = node.send(HttpRequest.newBuilder(URI.create(node.managementUrl("/health/live")))
                .GET());
            assertThat(live.statusCode()).isEqualTo(503);
            HttpResponse<String> models = node.get("/v1/models", key);
            assertThat(models.statusCode()).isEqualTo(503);
            assertThat(new JsonObject(models.body()).getJsonObject("error").getString("code"))
                .isEqualTo("service_unavailable");
            assertThat(models.headers().firstValue("Retry-After")).hasValue("1");
        }
    }

    private static HttpResponse<String> ready(TestGateway gateway) {
        return gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/health/ready"))).GET());
    }
}
