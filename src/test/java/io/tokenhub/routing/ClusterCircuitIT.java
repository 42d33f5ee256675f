package io.tokenhub.routing;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.TestCluster;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Circuits across a cluster (PRODUCT.md §2: an open circuit is skipped without a network call): an
 * upstream one node saw fail is skipped by the others without failures of their own, and so by a
 * node that joins while the circuit is open; a circuit opened because a peer's was closes when the
 * peer's trial closes its own. Each scenario has its own deployment, hence its own circuit.
 */
class ClusterCircuitIT {

    private static final int MAX_FAILURES = 2;

    static final String CATALOG = """
        providers:
          - id: openai
            type: openai
            base_url: "%1$s"
            timeouts: { connect_ms: 500, first_byte_ms: 2000, idle_ms: 2000 }
            circuit_breaker: { max_failures: %2$d, window_ms: 60000, reset_ms: 120000 }
          - id: quick
            type: openai
            base_url: "%1$s"
            timeouts: { connect_ms: 500, first_byte_ms: 2000, idle_ms: 2000 }
            circuit_breaker: { max_failures: %2$d, window_ms: 60000, reset_ms: 1500 }
        models:
          - id: heard
            deployments: [ { provider: openai, model: heard } ]
          - id: recovering
            deployments: [ { provider: quick, model: recovering } ]
          - id: joined
            deployments: [ { provider: openai, model: joined } ]
        """;

    static TestCluster cluster;
    static TestGateway first;
    static TestGateway second;
    static FakeOpenAiUpstream upstream;
    static String key;

    @BeforeAll
    static void startCluster() {
        cluster = new TestCluster("any");
        first = cluster.addNode(url -> CATALOG.formatted(url, MAX_FAILURES));
        second = cluster.addNode(url -> CATALOG.formatted(url, MAX_FAILURES));
        upstream = cluster.upstream();
        key = first.newKey();
    }

    @AfterAll
    static void stopCluster() {
        cluster.close();
    }

    @BeforeEach
    void failingUpstream() {
        upstream.reset();
        upstream.fault = FakeOpenAiUpstream.Fault.STATUS;
        upstream.status = 500;
    }

    @Test
    void anUpstreamOneNodeSawFailIsSkippedByTheOtherWithoutACall() {
        opened(first, "heard");

        TestGateway.eventually(() -> "open".equals(upstream(second, "heard").getString("circuit_state")), 5_000,
            "the second node's circuit open");
        HttpResponse<String> refused = chat(second, "heard");

        assertThat(refused.statusCode()).isEqualTo(503);
        assertThat(new JsonObject(refused.body()).getJsonObject("error").getString("code"))
            .isEqualTo("no_healthy_upstream");
        assertThat(upstream.requests()).hasSize(MAX_FAILURES);
    }

    @Test
    void aNodeThatJoinsWhileACircuitIsOpenSkipsThatUpstreamFromItsFirstRequest() {
        opened(first, "joined");

        TestGateway third = cluster.addNode(url -> CATALOG.formatted(url, MAX_FAILURES));

        // It learns of the opening as it starts, with no traffic of its own
        TestGateway.eventually(() -> upstream(third, "joined").getLong("retry_in_ms") > 0, 5_000,
            "the joining node told of the open circuit");
        assertThat(upstream(third, "joined").getString("circuit_state")).isEqualTo("open");
        assertThat(upstream(third, "joined").getLong("retry_in_ms")).isGreaterThan(60_000L);
        HttpResponse<String> refused = chat(third, "joined");
        assertThat(refused.statusCode()).isEqualTo(503);
        assertThat(refused.headers().firstValue("Retry-After")).hasValueSatisfying(seconds ->
            assertThat(Long.parseLong(seconds)).isGreaterThan(60L));
        assertThat(upstream.requests()).hasSize(MAX_FAILURES);
    }

    @Test
    void aCircuitOpenedBecauseAPeersWasClosesWhenThePeersTrialClosesItsOwn() {
        // Given a circuit opened on the first node, and so on the second
        opened(first, "recovering");
        TestGateway.eventually(() -> "open".equals(upstream(second, "recovering").getString("circuit_state")), 5_000,
            "the second node's circuit open");

        // When the upstream answers again and the first node's trial closes its circuit
        upstream.reset();
        TestGateway.eventually(() -> "half_open".equals(upstream(first, "recovering").getString("circuit_state")),
            10_000, "the first node's circuit half-open");
        assertThat(chat(first, "recovering").statusCode()).isEqualTo(200);

        // Then the second node's closes too, with no trial of its own
        TestGateway.eventually(() -> "closed".equals(upstream(second, "recovering").getString("circuit_state")), 5_000,
            "the second node's circuit closed");
        assertThat(upstream.requests()).hasSize(1);
    }

    /** Opens the deployment's circuit through max_failures failed calls on one node. */
    private static void opened(TestGateway node, String model) {
        for (int i = 0; i < MAX_FAILURES; i++) {
            assertThat(chat(node, model).statusCode()).isEqualTo(502);
        }
        assertThat(upstream(node, model).getString("circuit_state")).isEqualTo("open");
        assertThat(upstream.requests()).hasSize(MAX_FAILURES);
    }

    private static JsonObject upstream(TestGateway node, String deployment) {
        return node.adminOk("GET", "/admin/v1/upstreams", null).getJsonArray("data").stream()
            .map(JsonObject.class::cast).filter(u -> u.getString("deployment").equals(deployment))
            .findFirst().orElseThrow();
    }

    private static HttpResponse<String> chat(TestGateway node, String model) {
        return node.post("/v1/chat/completions", key,
            "{\"model\":\"" + model + "\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    }
}
