package io.tokenhub.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.TestGateway;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Streams from an OpenAI-compatible upstream that writes exactly the bytes a test gives it, as real
 * providers do (a streaming audit of 2026-12-08): their shapes relayed, billed and fallen back from.
 */
class RawUpstreamStreamIT {

    static Vertx vertx;
    static HttpServer server;
    static TestGateway gateway;
    static String key;
    /** What the upstream does with the next request: (request body, response). */
    static volatile BiConsumer<JsonObject, HttpServerResponse> script;
    static final List<JsonObject> received = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        server = vertx.createHttpServer().requestHandler(RawUpstreamStreamIT::handle);
        server.listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        String base = "http://127.0.0.1:" + server.actualPort() + "/v1";
        gateway = TestGateway.start("""
            providers:
              - { id: raw, type: openai, base_url: "%s", api_key: k, timeouts: { idle_ms: 3000 },
                  circuit_breaker: { max_failures: 1000 } }
              - { id: mock, type: mock }
            models:
              - id: solo
                pricing: { input: 1.0, output: 2.0 }
                deployments: [ { provider: raw, model: raw-model } ]
              - id: with-fallback
                pricing: { input: 1.0, output: 2.0 }
                deployments: [ { provider: raw, model: raw-model } ]
                fallbacks: [ backup ]
              - id: backup
                deployments: [ { provider: mock, model: mock-chat } ]
            """.formatted(base), "");
        key = gateway.newKey();
    }

    @AfterAll
    static void stop() {
        if (gateway != null) {
            gateway.close();
        }
        vertx.close();
    }

    @BeforeEach
    void reset() {
        received.clear();
        script = null;
    }

    private static void handle(HttpServerRequest request) {
        request.body().onSuccess(body -> {
            JsonObject json = body.length() == 0 ? new JsonObject() : body.toJsonObject();
            received.add(json);
            script.accept(json, request.response());
        });
    }

    static String chunk(JsonObject delta, String finish) {
        return chunk(new JsonArray().add(new JsonObject().put("index", 0).put("delta", delta).put("finish_reason", finish)));
    }

    static String chunk(JsonArray choices) {
        return new JsonObject().put("id", "chatcmpl-raw").put("object", "chat.completion.chunk").put("created", 1)
            .put("model", "raw-model").put("choices", choices).encode();
    }

    static String usageChunk(int prompt, int completion) {
        return new JsonObject().put("id", "chatcmpl-raw").put("object", "chat.completion.chunk").put("created", 1)
            .put("model", "raw-model").put("choices", new JsonArray())
            .put("usage", usage(prompt, completion)).encode();
    }

    static JsonObject usage(int prompt, int completion) {
        return new JsonObject().put("prompt_tokens", prompt).put("completion_tokens", completion)
            .put("total_tokens", prompt + completion);
    }

    static HttpServerResponse sse(HttpServerResponse response) {
        return response.setChunked(true).putHeader("Content-Type", "text/event-stream");
    }

    // ---------------------------------------------------------------------------------------------

    /**
     * OpenAI streams audio output ({@code modalities: ["text","audio"]}) as {@code delta.audio}
     * (transcript and data), with no {@code content}: such chunks are output and must reach the
     * client as they come, not be held until the whole answer is generated.
     */
    @Test
    void streamedAudioReachesTheClientAsItIsGenerated() throws Exception {
        // Given a provider generating an audio answer: a transcript delta, then audio data every 50 ms,
        // 60 chunks in all (3 s, under idle_ms), and it stops early once the client has the transcript
        CompletableFuture<Void> clientHasIt = new CompletableFuture<>();
        AtomicInteger sent = new AtomicInteger();
        script = (body, response) -> {
            sse(response).write("data: " + chunk(new JsonObject().put("role", "assistant"), null) + "\n\n");
            response.write("data: " + chunk(new JsonObject().put("audio", new JsonObject().put("id", "audio_1")
                .put("transcript", "Hello there")), null) + "\n\n");
            vertx.setPeriodic(50, id -> {
                if (clientHasIt.isDone() || sent.incrementAndGet() >= 60) {
                    vertx.cancelTimer(id);
                    response.end("data: " + chunk(new JsonObject(), "stop") + "\n\ndata: " + usageChunk(10, 20)
                        + "\n\ndata: [DONE]\n\n");
                } else {
                    response.write("data: " + chunk(new JsonObject().put("audio", new JsonObject()
                        .put("data", "AAAAAAAAAAAAAAAA")), null) + "\n\n");
                }
            });
        };
        try (Raw client = Raw.post(gateway.hub().apiPort(), key, """
            {"model":"solo","stream":true,"modalities":["text","audio"],
             "audio":{"voice":"alloy","format":"pcm16"},
             "messages":[{"role":"user","content":"say hello"}]}""")) {
            client.readUntil("Hello there", 15_000);
            int chunksSentBefore = sent.get();
            clientHasIt.complete(null);
            // Then the client had the transcript while the provider was still generating
            assertThat(chunksSentBefore).as("audio chunks the provider had generated (of 60) before the client "
                + "saw the first one").isLessThan(60);
        }
    }

    /**
     * A provider that sends a usage chunk before the content and its final counts on its last
     * content chunk: the one usage chunk the client gets must carry the counts that were billed.
     */
    @Test
    void theUsageChunkTheClientGetsHasTheCountsItWasChargedFor() {
        script = (body, response) -> sse(response).end(
            "data: " + usageChunk(11, 0) + "\n\n"
                + "data: " + chunk(new JsonObject().put("role", "assistant").put("content", "Hi"), null) + "\n\n"
                + "data: " + new JsonObject(chunk(new JsonObject().put("content", " there"), "stop"))
                .put("usage", usage(11, 5)).encode() + "\n\n"
                + "data: [DONE]\n\n");
        HttpResponse<String> answer = stream("solo", ",\"stream_options\":{\"include_usage\":true}");
        List<JsonObject> usages = TestGateway.sseChunks(answer).stream().filter(c -> c.getValue("usage") instanceof JsonObject).toList();
        assertThat(usages).hasSize(1);
        Map<String, Object> row = gateway.usageRecordOf(answer);
        assertThat(row.get("completion_tokens")).as("billed").isEqualTo(5);
        assertThat(usages.get(0).getJsonObject("usage").getInteger("completion_tokens"))
            .as("the usage chunk the client got: %s", usages.get(0)).isEqualTo(5);
    }

    /** CRLF, data: without a space, every byte in its own write (UTF-8 characters split). */
    @Test
    void crlfNoSpaceAndBytesSplitAnywhereReassemble() {
        String text = "héllo 你好 🎉";
        byte[] bytes = ("data:" + chunk(new JsonObject().put("role", "assistant").put("content", text), null) + "\r\n\r\n"
            + ": OPENROUTER PROCESSING\r\n\r\n"
            + "data:" + chunk(new JsonObject(), "stop") + "\r\n\r\n"
            + "data:" + usageChunk(3, 4) + "\r\n\r\ndata:[DONE]\r\n\r\n").getBytes(StandardCharsets.UTF_8);
        script = (body, response) -> {
            sse(response);
            for (byte b : bytes) {
                response.write(Buffer.buffer(new byte[] {b}));
            }
            response.end();
        };
        HttpResponse<String> answer = stream("solo", ",\"stream_options\":{\"include_usage\":true}");
        StringBuilder content = new StringBuilder();
        TestGateway.sseChunks(answer).forEach(c -> c.getJsonArray("choices").forEach(ch ->
            content.append(((JsonObject) ch).getJsonObject("delta").getString("content", ""))));
        assertThat(content.toString()).isEqualTo(text);
        assertThat(answer.body()).doesNotContain("event: error").endsWith("data: [DONE]\n\n");
        assertThat(gateway.usageRecordOf(answer).get("completion_tokens")).isEqualTo(4);
    }

    /** OpenRouter's mid-stream error: a chunk with error and finish_reason "error", after content. */
    @Test
    void openRoutersErrorChunkAfterContentEndsWithAnErrorEvent() {
        script = (body, response) -> sse(response).end(
            ": OPENROUTER PROCESSING\n\n"
                + "data: " + chunk(new JsonObject().put("role", "assistant").put("content", "Part"), null) + "\n\n"
                + "data: " + new JsonObject(chunk(new JsonObject().put("content", ""), "error"))
                .put("provider", "openai").put("error", new JsonObject().put("code", "server_error")
                    .put("message", "Provider disconnected unexpectedly")).encode() + "\n\n"
                + "data: [DONE]\n\n");
        HttpResponse<String> answer = stream("solo", "");
        assertThat(answer.body()).contains("Part").contains("event: error")
            .contains("Provider disconnected unexpectedly").doesNotContain("\"finish_reason\":\"error\"")
            .endsWith("data: [DONE]\n\n");
        Map<String, Object> row = gateway.usageRecordOf(answer);
        assertThat(row.get("status")).isEqualTo(502);
        assertThat(row.get("estimated")).isEqualTo(true);
        assertThat((Integer) row.get("completion_tokens")).isPositive();
    }

    /** A 200 text/event-stream with an empty body is the provider's failure: the fallback answers. */
    @Test
    void anEmptyStreamFallsBack() {
        script = (body, response) -> sse(response).end();
        HttpResponse<String> answer = stream("with-fallback", "");
        assertThat(answer.statusCode()).isEqualTo(200);
        assertThat(answer.headers().firstValue("X-TokenHub-Provider")).hasValue("mock");
    }

    /** A stream of nothing but [DONE]: no choice, no finish_reason; not an answer. */
    @Test
    void aStreamOfOnlyDoneIsNotAnAnswer() {
        script = (body, response) -> sse(response).end("data: [DONE]\n\n");
        HttpResponse<String> answer = stream("with-fallback", "");
        assertThat(answer.headers().firstValue("X-TokenHub-Provider")).as(answer.body()).hasValue("mock");
    }

    /** n=2 (Qwen-style usage on a last chunk with choices: []): both finish reasons, usage once, hidden unless asked. */
    @Test
    void twoChoicesStreamWithUsageOnceAndEachFinishReason() {
        JsonArray first = new JsonArray()
            .add(new JsonObject().put("index", 0).put("delta", new JsonObject().put("content", "A")).putNull("finish_reason"))
            .add(new JsonObject().put("index", 1).put("delta", new JsonObject().put("content", "B")).putNull("finish_reason"));
        JsonArray last = new JsonArray()
            .add(new JsonObject().put("index", 0).put("delta", new JsonObject()).put("finish_reason", "stop"))
            .add(new JsonObject().put("index", 1).put("delta", new JsonObject()).put("finish_reason", "length"));
        script = (body, response) -> sse(response).end("data: " + chunk(first) + "\n\ndata: " + chunk(last)
            + "\n\ndata: " + usageChunk(5, 2) + "\n\ndata: [DONE]\n\n");
        HttpResponse<String> hidden = stream("solo", ",\"n\":2");
        assertThat(received.get(0).getJsonObject("stream_options").getBoolean("include_usage")).isTrue();
        assertThat(hidden.body()).doesNotContain("\"usage\"").contains("\"finish_reason\":\"stop\"")
            .contains("\"finish_reason\":\"length\"");
        HttpResponse<String> asked = stream("solo", ",\"n\":2,\"stream_options\":{\"include_usage\":true}");
        List<JsonObject> usages = TestGateway.sseChunks(asked).stream().filter(c -> c.getValue("usage") instanceof JsonObject).toList();
        assertThat(usages).hasSize(1);
        assertThat(usages.get(0).getJsonObject("usage").getValue("cost")).isNotNull();
    }

    /** DeepSeek: reasoning deltas, usage on the last content chunk with prompt_cache_hit_tokens only. */
    @Test
    void deepSeekReasoningAndCacheHitsReachTheClientAndAreBilledOnce() {
        JsonObject dsUsage = new JsonObject().put("prompt_tokens", 100).put("completion_tokens", 50)
            .put("total_tokens", 150).put("prompt_cache_hit_tokens", 64).put("prompt_cache_miss_tokens", 36)
            .put("completion_tokens_details", new JsonObject().put("reasoning_tokens", 40));
        script = (body, response) -> sse(response).end(": keep-alive\n\n"
            + "data: " + chunk(new JsonObject().put("role", "assistant").putNull("content").put("reasoning_content", "Think"), null) + "\n\n"
            + "data: " + chunk(new JsonObject().put("content", "Answer"), null) + "\n\n"
            + "data: " + new JsonObject(chunk(new JsonObject().put("content", ""), "stop")).put("usage", dsUsage).encode() + "\n\n"
            + "data: [DONE]\n\n");
        HttpResponse<String> answer = stream("solo", ",\"stream_options\":{\"include_usage\":true}");
        List<JsonObject> usages = TestGateway.sseChunks(answer).stream().filter(c -> c.getValue("usage") instanceof JsonObject).toList();
        assertThat(usages).hasSize(1);
        JsonObject u = usages.get(0).getJsonObject("usage");
        assertThat(u.getJsonObject("prompt_tokens_details").getInteger("cached_tokens")).isEqualTo(64);
        assertThat(u.getJsonObject("completion_tokens_details").getInteger("reasoning_tokens")).isEqualTo(40);
        assertThat(u.getInteger("completion_tokens")).isEqualTo(50);
        assertThat(answer.body()).contains("\"reasoning_content\":\"Think\"");
        Map<String, Object> row = gateway.usageRecordOf(answer);
        assertThat(row.get("completion_tokens")).isEqualTo(50);
        assertThat(row.get("cached_tokens")).isEqualTo(64);
        assertThat(row.get("reasoning_tokens")).isEqualTo(40);
        // 36 at $1/M + 64 cached (no cached price: at input price) + 50 at $2/M: reasoning not added again
        assertThat(((Number) row.get("cost_micro_usd")).longValue()).isLessThanOrEqualTo(100 + 100);
    }

    /** Non-streamed: refusal, audio and unknown fields pass through; a missing usage is estimated and marked. */
    @Test
    void aWholeAnswersUnknownFieldsPassAndAMissingUsageIsEstimated() {
        JsonObject message = new JsonObject().put("role", "assistant").putNull("content").put("refusal", "I can't help with that.")
            .put("audio", new JsonObject().put("id", "audio_1").put("data", "AAAA").put("transcript", "x").put("expires_at", 1))
            .put("annotations", new JsonArray());
        JsonObject whole = new JsonObject().put("id", "chatcmpl-raw").put("object", "chat.completion").put("created", 1)
            .put("model", "raw-model").put("system_fingerprint", "fp_x").put("service_tier", "default")
            .put("x_vendor", new JsonObject().put("a", 1))
            .put("choices", new JsonArray().add(new JsonObject().put("index", 0).put("message", message)
                .put("logprobs", (Object) null).put("finish_reason", "stop")));
        script = (body, response) -> response.putHeader("Content-Type", "application/json").end(whole.encode());
        HttpResponse<String> answer = gateway.post("/v1/chat/completions", key,
            "{\"model\":\"solo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
        JsonObject got = new JsonObject(answer.body());
        JsonObject m = got.getJsonArray("choices").getJsonObject(0).getJsonObject("message");
        assertThat(m.getString("refusal")).isEqualTo("I can't help with that.");
        assertThat(m.getJsonObject("audio").getString("data")).isEqualTo("AAAA");
        assertThat(got.getJsonObject("x_vendor")).isEqualTo(new JsonObject().put("a", 1));
        assertThat(got.getJsonObject("usage").getBoolean("estimated")).isTrue();
        assertThat(got.getJsonObject("usage").getInteger("completion_tokens")).isPositive();
        assertThat(gateway.usageRecordOf(answer).get("estimated")).isEqualTo(true);
    }

    // ---------------------------------------------------------------------------------------------

    private static HttpResponse<String> stream(String model, String extra) {
        return gateway.post("/v1/chat/completions", key, "{\"model\":\"" + model + "\",\"stream\":true" + extra
            + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    }


    /** A bare HTTP/1.1 client that reads as bytes arrive. */
    static final class Raw implements AutoCloseable {
        private final Socket socket;
        private final InputStream in;
        private final ByteArrayOutputStream got = new ByteArrayOutputStream();

        private Raw(Socket socket) throws IOException {
            this.socket = socket;
            this.in = socket.getInputStream();
        }

        static Raw post(int port, String key, String json) throws IOException {
            Socket socket = new Socket("127.0.0.1", port);
            byte[] body = json.getBytes(StandardCharsets.UTF_8);
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key
                + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            return new Raw(socket);
        }

        String text() {
            return got.toString(StandardCharsets.UTF_8);
        }

        String readUntil(String marker, int timeoutMs) throws IOException {
            socket.setSoTimeout(timeoutMs);
            byte[] buffer = new byte[4096];
            while (!text().contains(marker)) {
                int n = in.read(buffer);
                if (n < 0) {
                    throw new AssertionError("closed before '" + marker + "': " + text());
                }
                got.write(buffer, 0, n);
            }
            return text();
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
