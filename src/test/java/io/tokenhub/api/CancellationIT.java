package io.tokenhub.api;

import static io.tokenhub.testing.OpenAiErrorAssert.assertOpenAiErrorShape;
import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.core.TokenCounter;
import io.tokenhub.testing.FakeOpenAiUpstream.Fault;
import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeUpstreamGateway;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A client that goes away, and an upstream that goes away: the upstream call is abandoned (no
 * tokens are paid for nobody), the client gets what was delivered and an in-band error, and the
 * request still leaves exactly one usage record, its tokens estimated from what was delivered.
 */
class CancellationIT {

    private static final long WAIT_MS = 15_000;
    /**
     * HTTP/1.1, with a bound on the whole exchange: the JDK client's default h2c upgrade on plain
     * HTTP sometimes never delivers the body of the first response on a connection (seen here on
     * /metrics: the class hung in {@code TestGateway.send}), and its request timeout stops at the head.
     */
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("gpt-4o-mini-2024-07-18", """
        providers:
          - { id: openai, type: openai, base_url: "%s", api_key: provider-secret-key }
        models:
          - id: gpt-4o-mini
            context_window: 100000
            max_output_tokens: 4000
            default_max_tokens: 2000
            pricing: { input: 0.15, cached_input: 0.075, output: 0.60 }
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
    void streamingClientThatLeavesAfterTheFirstChunkCancelsTheUpstreamAndIsRecordedAs499WithEstimatedTokens() {
        // Given an upstream that streams a long answer slowly, and would report usage only at its end
        List<String> pieces = IntStream.range(0, 200).mapToObj(i -> "word" + i + " ").toList();
        upstream.pieces = pieces;
        upstream.chunkDelayMs = 50;
        upstream.usage = FakeOpenAiUpstream.usage(11, 999, 0, 0);
        JsonObject key = newKey();
        double disconnectsBefore = requestsWithStatus(499);
        double cancelledBefore = upstreamRequests("cancelled");
        double successesBefore = upstreamRequests("success");

        // When a client reads the first content chunk and then disconnects
        String requestId;
        try (RawClient client = RawClient.post(gateway.hub().apiPort(), key.getString("key"),
            "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"long one\"}]}")) {
            assertThat(client.status()).isEqualTo(200);
            requestId = client.header("X-Request-Id");
            client.readUntil("\"content\":\"word0 \"");
        }

        // Then the gateway abandons the upstream response
        upstream.awaitAbandoned(WAIT_MS);
        // And the request has exactly one usage record: 499, estimated from the part that was delivered
        Map<String, Object> row = awaitOneRecordOf(key);
        assertThat(row.get("request_id")).isEqualTo(requestId);
        assertThat(row.get("status")).isEqualTo(499);
        assertThat(row.get("error_code")).isEqualTo("client_disconnected");
        assertThat(row.get("stream")).isEqualTo(true);
        assertThat(row.get("estimated")).isEqualTo(true);
        assertThat(row.get("provider")).isEqualTo("openai");
        assertThat((Integer) row.get("completion_tokens")).isPositive()
            .isLessThan(TokenCounter.count(String.join("", pieces)));
        assertThat((Integer) row.get("prompt_tokens")).isPositive();
        assertThat(row.get("ttft_ms")).isNotNull();
        assertThat(requestsWithStatus(499) - disconnectsBefore).as("499s counted").isEqualTo(1.0);
        assertThat(upstream.requests()).hasSize(1);
        // And the upstream call is counted once, as cancelled: its good start was no outcome yet
        assertThat(upstreamRequests("cancelled") - cancelledBefore).isEqualTo(1.0);
        assertThat(upstreamRequests("success")).isEqualTo(successesBefore);
    }

    @Test
    void streamingClientThatLeavesBeforeTheFirstTokenCancelsTheUpstreamAndIsRecordedAs499() {
        // Given an upstream that starts its stream (headers and the role chunk) but is slow to say anything
        upstream.chunkDelayMs = 60_000;
        JsonObject key = newKey();
        double disconnectsBefore = requestsWithStatus(499);
        double cancelledBefore = upstreamRequests("cancelled");

        // When a client sends a streaming request and disconnects once it has reached the upstream
        try (RawClient client = RawClient.send(gateway.hub().apiPort(), key.getString("key"),
            "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hello?\"}]}")) {
            TestGateway.eventually(() -> upstream.requests().size() == 1, WAIT_MS, "the request at the upstream");
        }

        // Then the gateway abandons the upstream stream
        upstream.awaitAbandoned(WAIT_MS);
        // And still records the request once, as the client's disconnect, with no output
        Map<String, Object> row = awaitOneRecordOf(key);
        assertThat(row.get("status")).isEqualTo(499);
        assertThat(row.get("error_code")).isEqualTo("client_disconnected");
        assertThat(row.get("stream")).isEqualTo(true);
        assertThat(row.get("completion_tokens")).isEqualTo(0);
        assertNamesTheUpstream(row);
        assertThat(requestsWithStatus(499) - disconnectsBefore).as("499s counted").isEqualTo(1.0);
        // And the upstream call, whose stream had begun without output, is counted once, as cancelled
        assertThat(upstreamRequests("cancelled") - cancelledBefore).isEqualTo(1.0);
    }

    @Test
    void nonStreamingClientThatLeavesWhileTheUpstreamHangsCancelsTheUpstreamAndIsRecordedAs499() {
        // Given an upstream that accepts the request and never answers, and an account with a token plan
        upstream.fault = Fault.HANG;
        JsonObject key = newKey();
        JsonObject plan = gateway.adminOk("POST", "/admin/v1/accounts/" + key.getString("account_id") + "/plans",
            new JsonObject().put("tokens", 100_000).put("valid_from", "2020-01-01T00:00:00Z")
                .put("valid_until", "2099-01-01T00:00:00Z"));
        double disconnectsBefore = requestsWithStatus(499);

        // When a client sends a non-streaming request and disconnects once it has reached the upstream
        try (RawClient client = RawClient.send(gateway.hub().apiPort(), key.getString("key"),
            "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"are you there?\"}]}")) {
            TestGateway.eventually(() -> upstream.requests().size() == 1, WAIT_MS, "the request at the upstream");
        }

        // Then the gateway abandons the upstream call
        upstream.awaitAbandoned(WAIT_MS);
        // And records the request once, as the client's disconnect, with nothing delivered
        Map<String, Object> row = awaitOneRecordOf(key);
        assertThat(row.get("status")).isEqualTo(499);
        assertThat(row.get("error_code")).isEqualTo("client_disconnected");
        assertThat(row.get("stream")).isEqualTo(false);
        assertThat(row.get("completion_tokens")).isEqualTo(0);
        assertThat(row.get("cost_micro_usd")).isEqualTo(0L);
        assertNamesTheUpstream(row);
        assertThat(requestsWithStatus(499) - disconnectsBefore).as("499s counted").isEqualTo(1.0);
        assertThat(upstream.requests()).as("no retry after the client left").hasSize(1);
        assertThat(gateway.database().count("SELECT tokens_remaining FROM token_plans WHERE id = ?",
            plan.getString("id"))).as("nothing drawn from the plan for nothing served").isEqualTo(100_000);
    }

    @Test
    void nonStreamingClientThatLeavesWhileTheAnswerComesCancelsTheUpstreamAndIsRecordedAs499() {
        // Given an upstream that sends the head and the first bytes of an answer, then nothing more
        // for longer than this test waits (its idle_ms is the default, 60 s)
        upstream.fault = Fault.BODY_STALL;
        JsonObject key = newKey();
        double disconnectsBefore = requestsWithStatus(499);

        // When a client sends a non-streaming request and disconnects once the answer has started
        try (RawClient client = RawClient.send(gateway.hub().apiPort(), key.getString("key"),
            "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"a long answer?\"}]}")) {
            TestGateway.eventually(() -> upstream.bodiesStarted() == 1, WAIT_MS, "the answer's first bytes sent");
        }

        // Then the gateway abandons the answer at once, not when the provider goes idle
        upstream.awaitAbandoned(WAIT_MS);
        // And records the request once, as the client's disconnect, with nothing charged
        Map<String, Object> row = awaitOneRecordOf(key);
        assertThat(row.get("status")).isEqualTo(499);
        assertThat(row.get("error_code")).isEqualTo("client_disconnected");
        assertThat(row.get("stream")).isEqualTo(false);
        assertThat(row.get("cost_micro_usd")).isEqualTo(0L);
        assertThat(requestsWithStatus(499) - disconnectsBefore).as("499s counted").isEqualTo(1.0);
        assertThat(upstream.requests()).as("no retry after the client left").hasSize(1);
    }

    @Test
    void clientsThatLeaveWhileTheUpstreamHangsDoNotCountAgainstItsCircuit() {
        // Given an upstream that accepts requests and never answers, behind a breaker that opens after 5 failures
        upstream.fault = Fault.HANG;
        JsonObject key = newKey();
        double cancelledBefore = upstreamRequests("cancelled");
        double connectionErrorsBefore = upstreamRequests("connection_error");
        double errorRateBefore = upstreamHealth().getDouble("error_rate");
        int leaving = 8;

        // When more clients than max_failures, streaming or not, leave once their request has reached it
        for (int i = 0; i < leaving; i++) {
            int reached = i + 1;
            try (RawClient client = RawClient.send(gateway.hub().apiPort(), key.getString("key"),
                "{\"model\":\"gpt-4o-mini\",\"stream\":" + (i % 2 == 0) + ",\"messages\":[{\"role\":\"user\","
                    + "\"content\":\"still there?\"}]}")) {
                TestGateway.eventually(() -> upstream.requests().size() == reached, WAIT_MS, "request " + reached);
            }
            TestGateway.eventually(() -> upstream.abandoned() == reached, WAIT_MS, "abandoned call " + reached);
        }

        // Then every abandoned call is counted as cancelled, and none as the upstream's failure
        TestGateway.eventually(() -> upstreamRequests("cancelled") - cancelledBefore == leaving, WAIT_MS,
            "cancelled calls counted");
        assertThat(upstreamRequests("connection_error")).isEqualTo(connectionErrorsBefore);
        JsonObject health = upstreamHealth();
        assertThat(health.getString("circuit_state")).isEqualTo("closed");
        assertThat(health.getDouble("error_rate")).isLessThanOrEqualTo(errorRateBefore);
        // And the next request still reaches the upstream and is answered
        upstream.fault = Fault.NONE;
        HttpResponse<String> answered = send(HttpRequest.newBuilder(URI.create(gateway.url("/v1/chat/completions")))
            .header("Authorization", "Bearer " + key.getString("key")).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(
                "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}")));
        assertThat(answered.statusCode()).isEqualTo(200);
        assertThat(upstream.requests()).hasSize(leaving + 1);
    }

    @Test
    void streamThatTheUpstreamDropsAfterItsFirstContentEndsWithAnErrorEventAndDoneAndAnEstimatedRecord() {
        // Given an upstream that sends the role chunk and one content chunk, then drops the connection
        upstream.fault = Fault.DROP_MID_STREAM;
        upstream.faultAfter = 2;
        JsonObject key = newKey();

        // When a client streams
        HttpResponse<String> response = send(HttpRequest.newBuilder(URI.create(gateway.url("/v1/chat/completions")))
            .header("Authorization", "Bearer " + key.getString("key")).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(
                "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")));

        // Then it gets the delivered content, then an error event in the OpenAI shape, then [DONE]
        assertThat(response.statusCode()).isEqualTo(200);
        List<String> events = Arrays.stream(response.body().split("\n\n")).filter(e -> !e.isBlank()).toList();
        assertThat(events).hasSize(4);
        assertThat(content(events.get(0))).isEmpty();
        assertThat(content(events.get(1))).isEqualTo("Hello");
        String[] errorEvent = events.get(2).split("\n");
        assertThat(errorEvent).hasSize(2);
        assertThat(errorEvent[0]).isEqualTo("event: error");
        assertThat(errorEvent[1]).startsWith("data: ");
        JsonObject error = assertOpenAiErrorShape(errorEvent[1].substring("data: ".length()));
        assertThat(error.getString("code")).isEqualTo("provider_error");
        assertThat(events.get(3)).isEqualTo("data: [DONE]");
        // And one usage record, the failure's, with the tokens of the delivered text estimated
        Map<String, Object> row = awaitOneRecordOf(key);
        assertThat(row.get("request_id")).isEqualTo(response.headers().firstValue("X-Request-Id").orElseThrow());
        assertThat(row.get("status")).isEqualTo(502);
        assertThat(row.get("error_code")).isEqualTo("provider_error");
        assertThat(row.get("stream")).isEqualTo(true);
        assertThat(row.get("estimated")).isEqualTo(true);
        assertThat(row.get("completion_tokens")).isEqualTo(TokenCounter.count("Hello"));
    }

    // ---- helpers --------------------------------------------------------------------------------

    /** The one usage record of a key's only request, once it is written; fails if there are more. */
    private static Map<String, Object> awaitOneRecordOf(JsonObject key) {
        String keyId = key.getString("id");
        TestGateway.eventually(() -> gateway.database().count(
            "SELECT count(*) FROM usage_records WHERE key_id = ?", keyId) > 0, WAIT_MS, "the usage record of " + keyId);
        List<Map<String, Object>> rows = gateway.database().query("SELECT * FROM usage_records WHERE key_id = ?", keyId);
        assertThat(rows).hasSize(1);
        return rows.get(0);
    }

    /** A record of a request the client left while its upstream call was in flight names that upstream. */
    private static void assertNamesTheUpstream(Map<String, Object> row) {
        assertThat(row.get("provider")).isEqualTo("openai");
        assertThat(row.get("deployment")).isEqualTo("gpt-4o-mini");
        assertThat(row.get("served_model")).isEqualTo("gpt-4o-mini");
        assertThat(row.get("fallback")).isEqualTo(false);
        assertThat(row.get("price_version")).isNull();
    }

    /** The {@code tokenhub_requests_total} of one status, summed over models and providers. */
    private static double requestsWithStatus(int status) {
        HttpResponse<String> metrics = send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/metrics"))).GET());
        return metrics.body().lines()
            .filter(line -> line.startsWith("tokenhub_requests_total{") && line.contains("status=\"" + status + "\""))
            .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
            .sum();
    }

    /** The upstream's entry in {@code GET /admin/v1/upstreams}: circuit state and error rate. */
    private static JsonObject upstreamHealth() {
        return gateway.adminOk("GET", "/admin/v1/upstreams", null).getJsonArray("data").getJsonObject(0);
    }

    /** The {@code tokenhub_upstream_requests_total} of one outcome. */
    private static double upstreamRequests(String outcome) {
        HttpResponse<String> metrics = send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/metrics"))).GET());
        return metrics.body().lines()
            .filter(line -> line.startsWith("tokenhub_upstream_requests_total{")
                && line.contains("outcome=\"" + outcome + "\""))
            .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
            .sum();
    }

    /** A new account with one key; the created key's JSON ({@code id}, {@code key}). */
    private static JsonObject newKey() {
        JsonObject account = admin("/admin/v1/accounts", new JsonObject().put("name", "Cancellation test")
            .put("email", "cancel-" + System.nanoTime() + "@example.com"));
        return admin("/admin/v1/keys", new JsonObject().put("account_id", account.getString("id")).put("name", "k"));
    }

    private static JsonObject admin(String path, JsonObject body) {
        HttpResponse<String> response = send(HttpRequest.newBuilder(URI.create(gateway.url(path)))
            .header("Authorization", "Bearer " + TestGateway.MASTER_KEY).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body.encode())));
        assertThat(response.statusCode()).as("POST %s: %s", path, response.body()).isBetween(200, 299);
        return new JsonObject(response.body());
    }

    private static HttpResponse<String> send(HttpRequest.Builder request) {
        try {
            return HTTP.sendAsync(request.build(), HttpResponse.BodyHandlers.ofString()).get(WAIT_MS, TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            throw new AssertionError("HTTP exchange did not complete", e);
        }
    }

    private static String content(String event) {
        assertThat(event).startsWith("data: ");
        JsonObject chunk = new JsonObject(event.substring("data: ".length()));
        return chunk.getJsonArray("choices").getJsonObject(0).getJsonObject("delta").getString("content");
    }

    /**
     * A bare HTTP/1.1 client on a socket, so that the test decides exactly when the connection
     * goes away: {@link #close()} is the client disconnecting.
     */
    static final class RawClient implements AutoCloseable {

        private final Socket socket;
        private final InputStream in;
        private final ByteArrayOutputStream received = new ByteArrayOutputStream();
        private int status;
        private final List<String> headers = new ArrayList<>();

        private RawClient(Socket socket) throws IOException {
            this.socket = socket;
            this.in = socket.getInputStream();
        }

        /** Sends the request and returns without reading anything. */
        static RawClient send(int port, String key, String json) {
            try {
                Socket socket = new Socket("127.0.0.1", port);
                socket.setSoTimeout((int) WAIT_MS);
                byte[] body = json.getBytes(StandardCharsets.UTF_8);
                String head = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n";
                OutputStream out = socket.getOutputStream();
                out.write(head.getBytes(StandardCharsets.US_ASCII));
                out.write(body);
                out.flush();
                return new RawClient(socket);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        /** Sends the request and reads the status line and headers. */
        static RawClient post(int port, String key, String json) {
            RawClient client = send(port, key, json);
            String head = client.readUntil("\r\n\r\n");
            String[] lines = head.substring(0, head.indexOf("\r\n\r\n")).split("\r\n");
            client.status = Integer.parseInt(lines[0].split(" ")[1]);
            client.headers.addAll(Arrays.asList(lines).subList(1, lines.length));
            return client;
        }

        int status() {
            return status;
        }

        String header(String name) {
            return headers.stream().filter(h -> h.regionMatches(true, 0, name + ":", 0, name.length() + 1))
                .map(h -> h.substring(name.length() + 1).trim()).findFirst()
                .orElseThrow(() -> new AssertionError("no " + name + " header in " + headers));
        }

        /** Reads until everything received so far contains {@code marker}; returns it all. */
        String readUntil(String marker) {
            byte[] buffer = new byte[4096];
            try {
                while (true) {
                    String text = received.toString(StandardCharsets.ISO_8859_1);
                    if (text.contains(marker)) {
                        return text;
                    }
                    int n = in.read(buffer);
                    if (n < 0) {
                        throw new AssertionError("connection closed before '" + marker + "' in: " + text);
                    }
                    received.write(buffer, 0, n);
                }
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        @Override
        public void close() {
            try {
                socket.close();
            } catch (IOException ignored) {
                // gone either way
            }
        }
    }
}
