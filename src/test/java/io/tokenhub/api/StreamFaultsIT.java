package io.tokenhub.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeOpenAiUpstream.Fault;
import io.tokenhub.testing.FakeUpstreamGateway;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * What an OpenAI-compatible provider's stream may do wrong, and what the client gets: the shapes a
 * streaming audit found taken for answers, or holding a stream or the heap.
 */
class StreamFaultsIT {

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("fake-model", """
        providers:
          - { id: fake, type: openai, base_url: "%s", api_key: k, timeouts: { idle_ms: 2000 },
              circuit_breaker: { max_failures: 1000 } }
          - { id: mock, type: mock }
        models:
          - id: with-fallback
            pricing: { input: 0.15, output: 0.60 }
            deployments: [ { provider: fake, model: fake-model } ]
            fallbacks: [ backup ]
          - id: solo
            pricing: { input: 0.15, output: 0.60 }
            deployments: [ { provider: fake, model: fake-model } ]
          - id: backup
            deployments: [ { provider: mock, model: mock-chat } ]
        """, "");

    static FakeOpenAiUpstream upstream;
    static TestGateway gateway;
    static String key;

    @BeforeAll
    static void start() {
        upstream = hub.upstream();
        gateway = hub.gateway();
        key = gateway.newKey();
    }

    /**
     * @param fault a data: line that never ends (it filled the heap), or an event that passes the
     *              bound only with its last line, as the body ends (the stream hung)
     */
    @ParameterizedTest
    @EnumSource(value = Fault.class, names = {"ENDLESS_LINE", "OVERSIZE_AT_END"})
    void anEventOverItsBoundFailsItsOwnStream(Fault fault) {
        // Given a provider that starts answering, then sends an event over 16 MiB
        upstream.fault = fault;
        upstream.faultAfter = 2;

        HttpResponse<String> streamed = stream("solo", "");

        // Then the stream ends with an error event naming the bound, and the next request is served
        assertThat(streamed.body()).contains("event: error").contains("16 MiB").endsWith("data: [DONE]\n\n");
        upstream.fault = Fault.NONE;
        assertThat(stream("solo", "").body()).contains("Hello").doesNotContain("event: error");
    }

    @Test
    void theAnswerEndsAtDoneThoughTheBodyStaysOpenAndWhatFollowsIsDropped() {
        // Given a provider that sends [DONE], then another chunk, and keeps the body open
        upstream.fault = Fault.HOLD_AFTER_DONE;
        upstream.raw = "data: " + new JsonObject().put("id", "chatcmpl-fake").put("object", "chat.completion.chunk")
            .put("created", 1).put("model", "fake-model").put("choices", new io.vertx.core.json.JsonArray()
                .add(new JsonObject().put("index", 0).put("delta", new JsonObject().put("content", "AFTERDONE"))))
            .encode() + "\n\n";

        HttpResponse<String> streamed = stream("solo", "");

        // Then the client has the whole answer at once, without what came after [DONE], and no error
        assertThat(streamed.statusCode()).isEqualTo(200);
        assertThat(streamed.body()).contains("Hello").doesNotContain("AFTERDONE").doesNotContain("event: error")
            .endsWith("data: [DONE]\n\n");
        assertThat(gateway.usageRecordOf(streamed)).containsEntry("status", 200);
        // And the provider's connection is let go once the body has stayed open for idle_ms
        upstream.awaitAbandoned(10_000);
    }

    @Test
    void anErrorEventBeforeTheAnswerIsTheProvidersFailureAndTheFallbackAnswers() {
        // Given a provider that sends an SSE error event, of no OpenAI shape, before any content
        upstream.fault = Fault.RAW;
        upstream.faultAfter = 1;
        upstream.raw = "event: error\ndata: {\"message\":\"overloaded\",\"type\":\"overloaded\"}\n\n";

        HttpResponse<String> streamed = stream("with-fallback", "");

        // Then the fallback model answers
        assertThat(streamed.statusCode()).isEqualTo(200);
        assertThat(streamed.headers().firstValue("X-TokenHub-Provider")).hasValue("mock");
        assertThat(streamed.body()).doesNotContain("overloaded");
    }

    @Test
    void anErrorGivenAsTextAfterTheAnswerBeganEndsTheStreamWithAnErrorEvent() {
        // Given a provider that streams some content, then Text Generation Inference's older error shape
        upstream.fault = Fault.ERROR_CHUNK;
        upstream.faultAfter = 2;
        upstream.errorBody = new JsonObject().put("error", "CUDA out of memory").put("error_type", "generation");

        HttpResponse<String> streamed = stream("solo", "");

        // Then the client is told in an error event (the chunk itself was relayed as if content), and
        // the record says the provider failed
        assertThat(streamed.body()).endsWith("data: [DONE]\n\n");
        List<String> events = List.of(streamed.body().split("\n\n"));
        assertThat(events).filteredOn(e -> e.contains("CUDA out of memory")).singleElement()
            .satisfies(e -> assertThat(e).startsWith("event: error\n"));
        assertThat((Integer) gateway.usageRecordOf(streamed).get("status")).isEqualTo(502);
    }

    @Test
    void theClientGetsOneUsageChunkAfterTheContentWhateverTheProviderSends() {
        // Given a provider that sends a usage chunk before the content, and its own at the end
        upstream.fault = Fault.RAW;
        upstream.faultAfter = 1;
        upstream.raw = "data: " + new JsonObject().put("id", "chatcmpl-fake").put("object", "chat.completion.chunk")
            .put("created", 1).put("model", "fake-model").put("choices", new io.vertx.core.json.JsonArray())
            .put("usage", FakeOpenAiUpstream.usage(11, 0, 0, 0)).encode() + "\n\n";

        List<JsonObject> chunks = TestGateway.sseChunks(stream("solo", ", \"stream_options\": {\"include_usage\": true}"));

        // Then one usage chunk, the last, with the final counts and their cost
        List<JsonObject> usages = chunks.stream().filter(c -> c.getValue("usage") instanceof JsonObject).toList();
        assertThat(usages).hasSize(1);
        assertThat(usages.get(0)).isSameAs(chunks.get(chunks.size() - 1));
        assertThat(usages.get(0).getJsonObject("usage").getInteger("completion_tokens")).isEqualTo(5);
        assertThat(usages.get(0).getJsonObject("usage").getValue("cost")).isNotNull();
    }

    @Test
    void jsonInPlaceOfAStreamOrAnErrorInA200IsTheProvidersFailureWithItsWords() {
        // Given a provider that answers 200 application/json with an error, to a stream and to a whole request
        upstream.fault = Fault.JSON_FOR_STREAM;
        upstream.errorBody = new JsonObject().put("error", new JsonObject().put("message", "model overloaded")
            .put("type", "server_error"));

        HttpResponse<String> streamed = stream("solo", "");
        HttpResponse<String> whole = gateway.post("/v1/chat/completions", key, body("solo", ""));

        // Then each is the provider's failure, in its words (before: "closed the stream before [DONE]",
        // "the provider's answer has no choices")
        for (HttpResponse<String> answer : List.of(streamed, whole)) {
            assertThat(answer.statusCode()).as(answer.body()).isEqualTo(502);
            assertThat(answer.body()).contains("model overloaded");
        }
        // And a whole answer sent to a streamed request moves on to the next candidate
        upstream.errorBody = null;
        HttpResponse<String> fellBack = stream("with-fallback", "");
        assertThat(fellBack.statusCode()).isEqualTo(200);
        assertThat(fellBack.headers().firstValue("X-TokenHub-Provider")).hasValue("mock");
    }

    @Test
    void aStreamLabelledJsonIsStreamedAllTheSame() {
        // Given a server that labels its stream application/json
        upstream.streamContentType = "application/json";

        HttpResponse<String> streamed = stream("solo", "");

        // Then it is read as the stream it is, by its first byte
        assertThat(streamed.headers().firstValue("X-TokenHub-Provider")).hasValue("fake");
        assertThat(TestGateway.sseChunks(streamed)).isNotEmpty();
        assertThat(streamed.body()).contains("Hello").doesNotContain("event: error");
    }

    @Test
    void aByteOrderMarkBeforeTheFirstEventLosesNothing() {
        // Given a provider whose stream starts with a UTF-8 byte order mark, then a chunk with content
        upstream.fault = Fault.RAW;
        upstream.faultAfter = 0;
        upstream.raw = "\uFEFFdata: " + new JsonObject().put("id", "chatcmpl-fake").put("object", "chat.completion.chunk")
            .put("created", 1).put("model", "fake-model").put("choices", new io.vertx.core.json.JsonArray()
                .add(new JsonObject().put("index", 0).put("delta", new JsonObject().put("content", "FIRST "))))
            .encode() + "\n\n";

        StringBuilder text = new StringBuilder();
        TestGateway.sseChunks(stream("solo", "")).forEach(c -> c.getJsonArray("choices").forEach(choice -> text.append(
            ((JsonObject) choice).getJsonObject("delta").getString("content", ""))));

        assertThat(text.toString()).startsWith("FIRST Hello");
    }

    private static HttpResponse<String> stream(String model, String extra) {
        return gateway.post("/v1/chat/completions", key, body(model, "\"stream\": true" + extra + ","));
    }

    private static String body(String model, String extra) {
        return "{\"model\": \"" + model + "\", " + extra + " \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}";
    }

}
