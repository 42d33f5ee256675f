package io.tokenhub.routing;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.TestCluster;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * PRODUCT §9: "max_failures consecutive provider failures open it, so the upstream sees exactly
 * max_failures failing calls and then none until reset_ms has passed; then one trial call"; §2: an
 * open circuit "is probed again after its reset time". A node that joined while a circuit was open
 * elsewhere skips the upstream until the trial time it was told (1efc030); when that time comes and
 * the upstream still hangs, it must probe it as the others do (one trial), not send it every request.
 */
class JoinerTrialIT {

    private static final String CATALOG = """
        providers:
          - id: openai
            type: openai
            base_url: "%s"
            timeouts: { connect_ms: 500, first_byte_ms: 2000, idle_ms: 2000 }
            circuit_breaker: { max_failures: 2, window_ms: 60000, reset_ms: 20000 }
        models:
          - id: gpt-4o-mini
            deployments: [ { provider: openai, model: gpt-4o-mini } ]
        """;
    private static final int CONCURRENT = 4;

    @Test
    void aJoinerProbesAStillFailingUpstreamWithOneTrialAfterTheTimeItWasTold() throws Exception {
        try (TestCluster cluster = new TestCluster("gpt-4o-mini")) {
            TestGateway first = cluster.addNode(CATALOG::formatted);
            TestGateway peer = cluster.addNode(CATALOG::formatted);
            FakeOpenAiUpstream upstream = cluster.upstream();
            String key = first.newKey();
            // Given a circuit opened on the first node (the peer opens too, told of it)
            upstream.fault = FakeOpenAiUpstream.Fault.STATUS;
            upstream.status = 500;
            for (int i = 0; i < 2; i++) {
                assertThat(chat(first, key).statusCode()).isEqualTo(502);
            }
            TestGateway.eventually(() -> "open".equals(state(peer).getString("circuit_state")), 5_000, "peer open");
            // And a node that joins meanwhile, told when the trial is due
            TestGateway joiner = cluster.addNode(CATALOG::formatted);
            TestGateway.eventually(() -> state(joiner).getLong("retry_in_ms") > 0, 5_000, "joiner told");
            // And the upstream, still failing, now hangs
            upstream.fault = FakeOpenAiUpstream.Fault.HANG;

            // When the reset time has passed
            TestGateway.eventually(() -> state(joiner).getLong("retry_in_ms") == 0
                && "half_open".equals(state(peer).getString("circuit_state")), 40_000, "reset time passed");

            // Then the joiner probes the upstream with one call at most, as the node that opened it does
            int before = upstream.requests().size();
            List<HttpResponse<String>> onJoiner = concurrently(joiner, key);
            int joinerCalls = upstream.requests().size() - before;
            // (control: the peer, half-open, lets one trial through; the joiner's opening does not reach a
            // circuit that is not closed)
            before = upstream.requests().size();
            List<HttpResponse<String>> onPeer = concurrently(peer, key);
            int peerCalls = upstream.requests().size() - before;

            assertThat(peerCalls).as("control: the peer's calls after its reset (statuses %s)",
                onPeer.stream().map(HttpResponse::statusCode).toList()).isEqualTo(1);
            assertThat(joinerCalls).as("the joiner's calls to the still-failing upstream once the time it was told "
                + "passed, %s requests at once (statuses %s)", CONCURRENT,
                onJoiner.stream().map(HttpResponse::statusCode).toList()).isLessThanOrEqualTo(1);
        }
    }

    private static List<HttpResponse<String>> concurrently(TestGateway node, String key) throws Exception {
        List<CompletableFuture<HttpResponse<String>>> calls = IntStream.range(0, CONCURRENT)
            .mapToObj(i -> CompletableFuture.supplyAsync(() -> chat(node, key))).toList();
        CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
        return calls.stream().map(CompletableFuture::join).toList();
    }

    private static JsonObject state(TestGateway node) {
        return node.adminOk("GET", "/admin/v1/upstreams", null).getJsonArray("data").getJsonObject(0);
    }

    private static HttpResponse<String> chat(TestGateway node, String key) {
        return node.post("/v1/chat/completions", key,
            "{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    }
}
