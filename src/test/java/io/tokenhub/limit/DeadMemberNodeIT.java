package io.tokenhub.limit;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.TestCluster;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A node whose Hazelcast member stopped by itself (its out-of-memory handler, a failed merge, an
 * operator's tool: ClusterMemberReadinessIT) turns unready, but its API port goes on serving: the
 * clients whose connections are already open to it (HTTP keep-alive through the Service), or that
 * reach the pod directly. PRODUCT §6: "a limit of 60 RPM across three nodes admits 60 requests a
 * minute"; §4: "Revocation takes effect cluster-wide within one second" (from a cluster audit).
 */
class DeadMemberNodeIT {

    private static final long LIMIT = 10;

    @Test
    void aNodeWhoseMemberStoppedAnswersItsRateLimitedRequestsWithoutAnInternalError() {
        try (TestCluster cluster = new TestCluster("gpt-4o-mini")) {
            TestGateway admin = cluster.addNode(ClusterIT.CATALOG::formatted);
            TestGateway orphan = cluster.addNode(ClusterIT.CATALOG::formatted);
            JsonObject limited = admin.newKey(new JsonObject().put("rpm", LIMIT));
            JsonObject revoked = admin.newKey(new JsonObject());
            // Given both keys in use on the node (cached there)
            assertThat(chat(orphan, revoked.getString("key"))).isEqualTo(200);
            long minute = System.currentTimeMillis() / 60_000;

            // When its Hazelcast member stops
            orphan.hub().hazelcast().orElseThrow().getLifecycleService().terminate();
            TestGateway.eventually(() -> orphan.send(HttpRequest.newBuilder(URI.create(
                orphan.managementUrl("/health/ready")))).statusCode() == 503, 15_000, "the node unready");
            // And a key is revoked through another node
            admin.adminOk("DELETE", "/admin/v1/keys/" + revoked.getString("id"), null);
            long revokedAt = System.currentTimeMillis();
            // And three times a key's RPM is sent to it
            List<Integer> statuses = new ArrayList<>();
            for (int i = 0; i < 3 * LIMIT; i++) {
                statuses.add(chat(orphan, limited.getString("key")));
            }
            long admitted = statuses.stream().filter(s -> s == 200).count();

            // Then the node answers as the gateway does for a passing outage (503 with Retry-After, which SDKs
            // retry on another node), or counts the limit: never an internal error
            assertThat(statuses).as("statuses of %s requests to the node whose member stopped", 3 * LIMIT)
                .doesNotContain(500);
            // And the revoked key is refused there within a second
            TestGateway.eventually(() -> chat(orphan, revoked.getString("key")) != 200,
                Math.max(1, 1_000 - (System.currentTimeMillis() - revokedAt)), "the revoked key refused on the node");
            // And no more than the limit was admitted in the minute
            if (System.currentTimeMillis() / 60_000 == minute) {
                assertThat(admitted).as("admitted of %s with rpm %s (statuses %s)", 3 * LIMIT, LIMIT, statuses)
                    .isLessThanOrEqualTo(LIMIT);
            }
        }
    }

    @Test
    void aKeyRevokedElsewhereIsRefusedWithinASecondOnANodeWhoseMemberStopped() {
        try (TestCluster cluster = new TestCluster("gpt-4o-mini")) {
            TestGateway admin = cluster.addNode(TestCluster.ONE_MODEL::formatted);
            TestGateway orphan = cluster.addNode(TestCluster.ONE_MODEL::formatted);
            // Given a key without limits, on a model without limits, in use on the node
            JsonObject revoked = admin.newKey(new JsonObject());
            assertThat(chat(orphan, revoked.getString("key"))).isEqualTo(200);

            // When the node's Hazelcast member stops, and the key is revoked through another node
            orphan.hub().hazelcast().orElseThrow().getLifecycleService().terminate();
            TestGateway.eventually(() -> orphan.send(HttpRequest.newBuilder(URI.create(
                orphan.managementUrl("/health/ready")))).statusCode() == 503, 15_000, "the node unready");
            // (the rest of the cluster has seen the member go)
            TestGateway.eventually(() -> admin.hub().hazelcast().orElseThrow().getCluster().getMembers().size() == 1,
                30_000, "the member gone from the others' view");
            admin.adminOk("DELETE", "/admin/v1/keys/" + revoked.getString("id"), null);
            long revokedAt = System.currentTimeMillis();

            // Then the node refuses it within a second (PRODUCT §4), as the rest of the cluster does
            assertThat(chat(admin, revoked.getString("key"))).isEqualTo(401);
            try {
                TestGateway.eventually(() -> chat(orphan, revoked.getString("key")) != 200,
                    Math.max(1, 1_000 - (System.currentTimeMillis() - revokedAt)), "the revoked key refused on the node");
            } catch (AssertionError late) {
                // how long it goes on serving it (bounded here at 20 s)
                long servedFor;
                try {
                    TestGateway.eventually(() -> chat(orphan, revoked.getString("key")) != 200, 20_000, "refused at last");
                    servedFor = System.currentTimeMillis() - revokedAt;
                } catch (AssertionError never) {
                    servedFor = -1;
                }
                throw new AssertionError("the key revoked elsewhere was still served on the node after 1 s; refused "
                    + (servedFor < 0 ? "not within 20 s" : "after " + servedFor + " ms"), late);
            }
        }
    }

    private static int chat(TestGateway node, String key) {
        return node.post("/v1/chat/completions", key,
            "{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")
            .statusCode();
    }
}
