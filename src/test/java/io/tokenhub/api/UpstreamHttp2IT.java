package io.tokenhub.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.api.CancellationIT.RawClient;
import io.tokenhub.testing.FakeOpenAiUpstream.Fault;
import io.tokenhub.testing.FakeOpenAiUpstream.Recorded;
import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeUpstreamGateway;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A provider with {@code http2: true}: requests and streams go to it as HTTP/2 streams, many at once
 * on one connection (no connection per stream, nothing opened when clients open connections), and a
 * client that leaves resets only its own stream, not the connection the others share.
 */
class UpstreamHttp2IT {

    private static final long WAIT_MS = 15_000;
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("gpt-4o-mini-2024-07-18", """
        providers:
          - { id: openai, type: openai, base_url: "%s", api_key: provider-secret-key, http2: true }
        models:
          - id: gpt-4o-mini
            context_window: 100000
            max_output_tokens: 4000
            default_max_tokens: 200
            pricing: { input: 0.15, output: 0.60 }
            deployments: [ { provider: openai, model: gpt-4o-mini } ]
        """, "");

    static FakeOpenAiUpstream upstream;
    static TestGateway gateway;

    @BeforeAll
    static void start() {
        upstream = hub.upstream();
        gateway = hub.gateway();
    }

    @Test
    void answersAndConcurrentStreamsShareOneHttp2ConnectionToTheProvider() {
        String key = gateway.newKey();
        long recordsBefore = gateway.database().count("SELECT count(*) FROM usage_records");

        // Given one answered request (the gateway now holds an HTTP/2 connection to the provider)
        HttpResponse<String> first = gateway.post("/v1/chat/completions", key,
            "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertThat(first.statusCode()).isEqualTo(200);
        assertThat(new JsonObject(first.body()).getJsonArray("choices").getJsonObject(0).getJsonObject("message")
            .getString("content")).isEqualTo("Hello from the fake upstream.");

        // When 16 clients, each on its own connection, stream at the same time
        upstream.chunkDelayMs = 20;
        List<CompletableFuture<HttpResponse<String>>> streams = IntStream.range(0, 16)
            .mapToObj(i -> HTTP.sendAsync(HttpRequest.newBuilder(URI.create(gateway.url("/v1/chat/completions")))
                .timeout(Duration.ofMillis(WAIT_MS))
                .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"gpt-4o-mini\",\"stream\":true,"
                    + "\"messages\":[{\"role\":\"user\",\"content\":\"stream " + i + "\"}]}")).build(),
                HttpResponse.BodyHandlers.ofString()))
            .toList();

        // Then every stream is whole
        for (CompletableFuture<HttpResponse<String>> stream : streams) {
            HttpResponse<String> response = stream.join();
            assertThat(response.statusCode()).isEqualTo(200);
            assertThat(response.body()).contains("\"content\":\" upstream.\"").endsWith("data: [DONE]\n\n");
        }
        // And the provider received all 17 requests as HTTP/2 streams of a single connection
        assertThat(upstream.requests()).hasSize(17)
            .allSatisfy(r -> assertThat(r.version()).isEqualTo(HttpVersion.HTTP_2));
        assertThat(upstream.requests().stream().map(Recorded::connection).distinct()).hasSize(1);
        // And each request was recorded once
        assertThat(gateway.awaitUsageRecords(recordsBefore + 17)).isEqualTo(recordsBefore + 17);
    }

    @Test
    void aClientThatLeavesResetsItsOwnStreamAndTheStreamBesideItGoesOn() {
        String key = gateway.newKey();
        // Given an upstream that sends the first word of each stream, then holds the rest
        upstream.fault = Fault.PAUSE;
        upstream.faultAfter = 2;
        String body = "{\"model\":\"gpt-4o-mini\",\"stream\":true,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
        try (RawClient staying = RawClient.post(gateway.hub().apiPort(), key, body)) {
            String stayingId = staying.header("X-Request-Id");
            String leavingId;
            try (RawClient leaving = RawClient.post(gateway.hub().apiPort(), key, body)) {
                assertThat(leaving.status()).isEqualTo(200);
                leavingId = leaving.header("X-Request-Id");
                leaving.readUntil("Hello");
                staying.readUntil("Hello");
            }
            // When one client leaves, the provider sees its stream abandoned
            upstream.awaitAbandoned(WAIT_MS);

            // Then the other stream, on the same connection, still goes to its end
            upstream.resume();
            assertThat(staying.status()).isEqualTo(200);
            assertThat(staying.readUntil("data: [DONE]")).contains("\"content\":\" upstream.\"");
            assertThat(upstream.abandoned()).isEqualTo(1);
            assertThat(upstream.requests()).hasSize(2);
            assertThat(upstream.requests().stream().map(Recorded::connection).distinct()).hasSize(1);

            // And each has its one usage record: the one that left as 499, the other as 200
            TestGateway.eventually(() -> status(leavingId) != null && status(stayingId) != null, WAIT_MS,
                "both usage records");
            assertThat(status(leavingId)).isEqualTo(499);
            assertThat(status(stayingId)).isEqualTo(200);
        }
    }

    private static Object status(String requestId) {
        List<Map<String, Object>> rows = gateway.database()
            .query("SELECT status FROM usage_records WHERE request_id = ?", requestId);
        return rows.isEmpty() ? null : rows.get(0).get("status");
    }
}
