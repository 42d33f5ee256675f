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
 * Asked for them, each content delta carries its token's {@code logprobs}.
 */
final class MockChunks {

    private final String id;
    private final long created;
    private final String model;
    /** Null when the request did not ask for them. */
    private final MockLogprobs logprobs;
    private final List<JsonObject> chunks = new ArrayList<>();

    MockChunks(String id, long created, String model, MockLogprobs logprobs) {
        this.id = id;
        this.created = created;
        this.model = model;
        this.logprobs = logprobs;
    }

    /** One choice's delta, and the log probabilities of the content it carries (or null). */
    private record Step(JsonObject delta, JsonObject logprobs) {
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
        List<List<Step>> steps = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            steps.add(steps(reply, toolCallIds.apply(i)));
        }
        for (int step = 0; step < steps.get(0).size(); step++) {
            for (int i = 0; i < n; i++) {
                add(i, steps.get(i).get(step), null);
            }
        }
        for (int i = 0; i < n; i++) {
            add(i, new Step(new JsonObject(), null), reply.finishReason());
        }
    }

    private List<Step> steps(MockReply reply, String toolCallId) {
        MockReply.ToolCall call = reply.toolCall();
        List<Step> steps = new ArrayList<>();
        steps.add(new Step(new JsonObject().put("role", "assistant").put("content", call == null ? "" : null), null));
        for (String piece : reply.reasoning()) {
            steps.add(new Step(new JsonObject().put("reasoning_content", piece), null));
        }
        for (String piece : reply.content()) {
            steps.add(new Step(new JsonObject().put("content", piece),
                logprobs == null ? null : logprobs.of(List.of(piece))));
        }
        if (call != null && call.legacy()) {
            steps.add(new Step(new JsonObject().put("function_call", new JsonObject().put("name", call.name())
                .put("arguments", "")), null));
            for (String piece : call.arguments()) {
                steps.add(new Step(new JsonObject().put("function_call", new JsonObject().put("arguments", piece)), null));
            }
        } else if (call != null) {
            steps.add(new Step(toolCall(new JsonObject().put("index", 0).put("id", toolCallId).put("type", "function")
                .put("function", new JsonObject().put("name", call.name()).put("arguments", ""))), null));
            for (String piece : call.arguments()) {
                steps.add(new Step(toolCall(new JsonObject().put("index", 0)
                    .put("function", new JsonObject().put("arguments", piece))), null));
            }
        }
        return steps;
    }

    void usage(Usage usage) {
        chunks.add(chunk().put("choices", new JsonArray()).put("usage", usage.toOpenAi()));
    }

    private static JsonObject toolCall(JsonObject call) {
        return new JsonObject().put("tool_calls", new JsonArray().add(call));
    }

    private void add(int index, Step step, String finishReason) {
        chunks.add(chunk().put("choices", new JsonArray().add(new JsonObject().put("index", index)
            .put("delta", step.delta()).put("logprobs", step.logprobs()).put("finish_reason", finishReason))));
    }

    private JsonObject chunk() {
        return new JsonObject().put("id", id).put("object", "chat.completion.chunk").put("created", created)
            .put("model", model);
    }
}
