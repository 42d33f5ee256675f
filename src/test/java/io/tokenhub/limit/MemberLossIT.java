package io.tokenhub.limit;

import static io.tokenhub.testing.OpenAiErrorAssert.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;

import com.hazelcast.cluster.Member;
import com.hazelcast.core.HazelcastInstance;
import io.tokenhub.testing.TestCluster;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A member that dies without a goodbye (its Hazelcast member terminated, as when a pod is killed)
 * loses no limit state the others need: the window it owned lives on in its backup on another member
 * ({@code tokenhub.limits} keeps one), so the survivors go on counting from where the cluster was.
 * Its own three nodes, since one of them does not survive.
 */
class MemberLossIT {

    private static final long LIMIT = 64;
    private static final int BEFORE_THE_KILL = 30;
    /** A window is a wall-clock minute: the scenario starts with at least this much of one left. */
    private static final long SCENARIO_MS = 15_000;

    static TestCluster cluster;

    @BeforeAll
    static void startCluster() {
        cluster = new TestCluster("gpt-4o-mini");
        for (int i = 0; i < 3; i++) {
            cluster.addNode(ClusterIT.CATALOG::formatted);
        }
    }

    @AfterAll
    static void stopCluster() {
        cluster.close();
    }

    @Test
    void aMemberKilledMidRunLeavesTheLimitEnforcedByTheSurvivors() throws Exception {
        // Given a key allowed LIMIT requests a minute, in a minute with room for the whole scenario
        List<TestGateway> nodes = cluster.nodes();
        JsonObject created = nodes.get(0).newKey(new JsonObject().put("rpm", LIMIT));
        String key = created.getString("key");
        long minute = minuteWithRoomFor(SCENARIO_MS);

        // When part of the traffic goes round the three nodes, one request at a time
        int admitted = 0;
        for (int i = 0; i < BEFORE_THE_KILL; i++) {
            assertThat(chat(nodes.get(i % 3), key).statusCode()).isEqualTo(200);
            admitted++;
        }
        // And the member holding the key's window (its primary copy) is killed
        TestGateway victim = cluster.remove(ownerOf(nodes, "key_rpm|" + created.getString("id") + "|" + minute));
        hazelcast(victim).getLifecycleService().terminate();
        // And twice the limit is sent round the survivors
        List<TestGateway> survivors = cluster.nodes();
        List<HttpResponse<String>> refused = new ArrayList<>();
        for (int i = 0; i < 2 * LIMIT; i++) {
            HttpResponse<String> response = chat(survivors.get(i % 2), key);
            if (response.statusCode() == 200) {
                admitted++;
            } else {
                refused.add(response);
            }
        }
        assertThat(System.currentTimeMillis() / 60_000).as("the scenario ran within one window").isEqualTo(minute);

        // Then the cluster admitted no more than the limit, and no less than the limit less what the
        // dead node may have held unused: with one request at a time it held at most one lease (the
        // lease rule of RateLimiter), less the request that took it
        long strandedAtMost = RateLimiter.block(1, LIMIT, 0) - 1;
        assertThat((long) admitted).isBetween(LIMIT - strandedAtMost, LIMIT);
        // And every refusal is a 429 that says when to come back
        assertThat(refused).hasSize((int) (BEFORE_THE_KILL + 2 * LIMIT - admitted));
        refused.forEach(MemberLossIT::assertRateLimited);

        // And the killed node's gateway still closes
        CompletableFuture.runAsync(victim::close).get(90, TimeUnit.SECONDS);
    }

    /** The node whose Hazelcast member owns the primary copy of this entry of {@code tokenhub.limits}. */
    private static TestGateway ownerOf(List<TestGateway> nodes, String window) {
        Member owner = hazelcast(nodes.get(0)).getPartitionService().getPartition(window).getOwner();
        return nodes.stream().filter(n -> hazelcast(n).getCluster().getLocalMember().equals(owner)).findFirst()
            .orElseThrow(() -> new AssertionError("no node owns " + window));
    }

    private static HazelcastInstance hazelcast(TestGateway node) {
        return node.hub().hazelcast().orElseThrow();
    }

    /** The current minute if at least {@code ms} of it is left, else the next one, once it has begun. */
    private static long minuteWithRoomFor(long ms) {
        long now = System.currentTimeMillis();
        if (60_000 - now % 60_000 < ms) {
            long next = now / 60_000 + 1;
            TestGateway.eventually(() -> System.currentTimeMillis() / 60_000 >= next, 60_000, "the next minute");
        }
        return System.currentTimeMillis() / 60_000;
    }

    private static void assertRateLimited(HttpResponse<String> response) {
        assertOpenAiError(response, 429, "rate_limit_error", "rate_limit_exceeded", null);
        String retryAfter = response.headers().firstValue("Retry-After").orElseThrow();
        assertThat(Long.parseLong(retryAfter)).isBetween(1L, 60L);
        assertThat(response.headers().firstValue("x-ratelimit-limit-requests")).hasValue(Long.toString(LIMIT));
        assertThat(response.headers().firstValue("x-ratelimit-remaining-requests")).hasValue("0");
        assertThat(response.headers().firstValue("x-ratelimit-reset-requests")).hasValue(retryAfter + "s");
    }

    private static HttpResponse<String> chat(TestGateway node, String key) {
        return node.post("/v1/chat/completions", key,
            "{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    }
}
