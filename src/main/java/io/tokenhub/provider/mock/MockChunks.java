package io.tokenhub.provider.mock;

import io.tokenhub.core.Usage;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * The {@code chat.completion.chunk}s of a mock answer in the order and shape OpenAI streams them:
 * per choice a role delta, reasoning deltas, then content deltas or one tool call (its id, type and
 * name first, then its arguments fragment by fragment), then its finish reason; last, the usage.
 */
final class MockChunks {

    private final String id;
    private final long created;
    private final String model;
    private final List<JsonObject> chunks = new ArrayList<>();

    MockChunks(String id, long created, String model) {
        this.id = id;
        this.created = created;
        this.model = model;
    }

    List<JsonObject> list() {
        return chunks;
    }

    /**
     * The deltas of {@code n} choices of the same reply, interleaved as OpenAI sends them: each
     * choice's next delta in turn, and every finish reason only after all the content, which is
     * where the SDKs' accumulators expect the end.
     */
    void choices(int n, MockReply reply, IntFunction<String> toolCallIds) {
        List<List<JsonObject>> deltas = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            deltas.add(deltas(reply, toolCallIds.apply(i)));
        }
        for (int step = 0; step < deltas.get(0).size(); step++) {
            for (int i = 0; i < n; i++) {
                add(i, deltas.get(i).get(step), null);
            }
        }
        for (int i = 0; i < n; i++) {
            add(i, new JsonObject(), reply.finishReason());
        }
    }

    private static List<JsonObject> deltas(MockReply reply, String toolCallId) {
        MockReply.ToolCall call = reply.toolCall();
        List<JsonObject> deltas = new ArrayList<>();
        deltas.add(new JsonObject().put("role", "assistant").put("content", call == null ? "" : null));
        for (String piece : reply.reasoning()) {
            deltas.add(new JsonObject().put("reasoning_content", piece));
        }
        for (String piece : reply.content()) {
            deltas.add(new JsonObject().put("content", piece));
        }
        if (call != null) {
            deltas.add(toolCall(new JsonObject().put("index", 0).put("id", toolCallId).put("type", "function")
                .put("function", new JsonObject().put("name", call.name()).put("arguments", ""))));
            for (String piece : call.arguments()) {
                deltas.add(toolCall(new JsonObject().put("index", 0)
                    .put("function", new JsonObject().put("arguments", piece))));
            }
        }
        return deltas;
    }

    void usage(Usage usage) {
        chunks.add(chunk().put("choices", new JsonArray()).put("usage", usage.toOpenAi()));
    }

    private static JsonObject toolCall(JsonObject call) {
        return new JsonObject().put("tool_calls", new JsonArray().add(call));
    }

    private void add(int index, JsonObject delta, String finishReason) {
        chunks.add(chunk().put("choices", new JsonArray().add(new JsonObject().put("index", index)
            .put("delta", delta).put("logprobs", null).put("finish_reason", finishReason))));
    }

    private JsonObject chunk() {
        return new JsonObject().put("id", id).put("object", "chat.completion.chunk").put("created", created)
            .put("model", model);
    }
}
