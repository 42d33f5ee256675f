package io.tokenhub.provider.anthropic;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns one Anthropic Messages SSE stream into OpenAI {@code chat.completion.chunk} objects.
 *
 * <p>Stateful and single-use: create one per upstream stream and feed it every event in order.
 * Not thread-safe; a stream is consumed on one event loop anyway.
 *
 * <p>State is needed because Anthropic addresses deltas by content-block index across all block
 * kinds, while OpenAI numbers tool calls on their own, and because usage arrives split between
 * {@code message_start} (input side, with a placeholder {@code output_tokens}) and
 * {@code message_delta} (cumulative output side).
 */
public final class AnthropicStreamTranslator {

    private final String modelLabel;
    private final String id;
    private final long created;

    /** Anthropic block index to OpenAI tool_calls index, for tool_use blocks only. */
    private final Map<Integer, Integer> toolIndexByBlock = new HashMap<>();
    /** The tool_use blocks that sent arguments so far (a tool without parameters sends none). */
    private final Set<Integer> blocksWithArguments = new HashSet<>();
    private int nextToolIndex;
    private boolean roleSent;
    private JsonObject anthropicUsage;
    /** Whether message_delta counted the output; until then message_start's output_tokens is a placeholder. */
    private boolean outputCounted;
    private boolean finished;
    private JsonObject error;

    public AnthropicStreamTranslator(String modelLabel, String id, long created) {
        this.modelLabel = modelLabel;
        this.id = id;
        this.created = created;
    }

    /**
     * Consumes one SSE event and returns the chunks to forward, possibly none.
     *
     * @param eventName the SSE {@code event:} field; when absent, the payload's {@code type} is used
     * @param data      the parsed {@code data:} payload
     */
    public List<JsonObject> onEvent(String eventName, JsonObject data) {
        JsonObject payload = data == null ? new JsonObject() : data;
        String type = eventName != null ? eventName : payload.getString("type", "");
        return switch (type) {
            case "message_start" -> onMessageStart(payload);
            case "content_block_start" -> onBlockStart(payload);
            case "content_block_delta" -> onBlockDelta(payload);
            case "content_block_stop" -> onBlockStop(payload);
            case "message_delta" -> onMessageDelta(payload);
            case "message_stop" -> {
                finished = true;
                yield List.of();
            }
            case "error" -> {
                // The caller owns error reporting (it may have to fail over or close the client stream).
                error = payload.getJsonObject("error", new JsonObject());
                yield List.of();
            }
            // ping and event types added after this was written carry
            // nothing the client needs; Anthropic asks consumers to ignore unknown events.
            default -> List.of();
        };
    }

    /**
     * OpenAI usage once message_delta counted the output, or null before: message_start's
     * {@code output_tokens} (usually 1) is a placeholder, and taken as the count it would bill a
     * stream cut off after many tokens as one. Before that only {@link #promptUsage()} is Anthropic's.
     */
    public JsonObject usage() {
        return outputCounted ? AnthropicResponses.usage(anthropicUsage) : null;
    }

    /** OpenAI usage of the input side alone (completion 0) once Anthropic counted it, or null. */
    public JsonObject promptUsage() {
        return anthropicUsage == null ? null : AnthropicResponses.usage(anthropicUsage.copy().put("output_tokens", 0));
    }

    /** Whether {@code message_stop} arrived, i.e. the upstream completed normally. */
    public boolean finished() {
        return finished;
    }

    /** The {@code error} object of an in-stream error event, or null. */
    public JsonObject error() {
        return error;
    }

    /**
     * The trailing chunk OpenAI sends when {@code stream_options.include_usage} is set: no choices,
     * only usage. Returns null until Anthropic counted the output, so the caller never reports
     * invented zeros or the placeholder as a count.
     */
    public JsonObject usageChunk() {
        JsonObject usage = usage();
        return usage == null ? null : envelope(new JsonArray()).put("usage", usage);
    }

    // ---- event handlers ----------------------------------------------------------------------

    private List<JsonObject> onMessageStart(JsonObject payload) {
        JsonObject message = payload.getJsonObject("message", new JsonObject());
        mergeUsage(message.getJsonObject("usage"));
        // Announce the role at once so clients can render the turn before the first token arrives.
        return List.of(chunk(new JsonObject().put("content", ""), null));
    }

    private List<JsonObject> onBlockStart(JsonObject payload) {
        JsonObject block = payload.getJsonObject("content_block", new JsonObject());
        String blockType = block.getString("type", "");
        switch (blockType) {
            case "tool_use" -> {
                return List.of(toolCallStart(payload.getInteger("index", 0), block));
            }
            case "text" -> {
                return textChunk("content", block.getString("text"));
            }
            case "thinking" -> {
                return textChunk("reasoning_content", block.getString("thinking"));
            }
            default -> {
                // redacted_thinking and server-side tool blocks have no OpenAI representation.
                return List.of();
            }
        }
    }

    private JsonObject toolCallStart(int blockIndex, JsonObject block) {
        int toolIndex = nextToolIndex++;
        toolIndexByBlock.put(blockIndex, toolIndex);
        JsonObject call = new JsonObject()
            .put("index", toolIndex)
            .put("id", block.getString("id"))
            .put("type", "function")
            .put("function", new JsonObject().put("name", block.getString("name")).put("arguments", ""));
        return chunk(new JsonObject().put("tool_calls", new JsonArray().add(call)), null);
    }

    private List<JsonObject> onBlockDelta(JsonObject payload) {
        JsonObject delta = payload.getJsonObject("delta", new JsonObject());
        return switch (delta.getString("type", "")) {
            case "text_delta" -> textChunk("content", delta.getString("text"));
            case "thinking_delta" -> textChunk("reasoning_content", delta.getString("thinking"));
            case "input_json_delta" -> toolArguments(payload.getInteger("index", 0), delta.getString("partial_json"));
            // signature_delta only matters when replaying thinking to Anthropic, which OpenAI
            // clients cannot do; citations_delta has no OpenAI field.
            default -> List.of();
        };
    }

    private List<JsonObject> toolArguments(int blockIndex, String partialJson) {
        Integer toolIndex = toolIndexByBlock.get(blockIndex);
        // Unknown index: JSON for a server-side tool we did not expose. Empty fragment: Anthropic
        // opens every tool block with one, and forwarding it would only add noise.
        if (toolIndex == null || partialJson == null || partialJson.isEmpty()) {
            return List.of();
        }
        blocksWithArguments.add(blockIndex);
        return List.of(argumentsChunk(toolIndex, partialJson));
    }

    /**
     * A tool called without arguments sends no JSON at all, and its call would end with arguments
     * {@code ""}, which clients parse as JSON and fail on: such a call gets {@code {}}, as the
     * answer does when it is not streamed.
     */
    private List<JsonObject> onBlockStop(JsonObject payload) {
        int blockIndex = payload.getInteger("index", 0);
        Integer toolIndex = toolIndexByBlock.get(blockIndex);
        if (toolIndex == null || blocksWithArguments.contains(blockIndex)) {
            return List.of();
        }
        return List.of(argumentsChunk(toolIndex, "{}"));
    }

    private JsonObject argumentsChunk(int toolIndex, String json) {
        JsonObject call = new JsonObject()
            .put("index", toolIndex)
            .put("function", new JsonObject().put("arguments", json));
        return chunk(new JsonObject().put("tool_calls", new JsonArray().add(call)), null);
    }

    private List<JsonObject> onMessageDelta(JsonObject payload) {
        JsonObject usage = payload.getJsonObject("usage");
        mergeUsage(usage);
        // An explicit 0 is a count too; a message_delta without one leaves the output to be estimated.
        outputCounted |= usage != null && usage.getValue("output_tokens") instanceof Number;
        String stopReason = payload.getJsonObject("delta", new JsonObject()).getString("stop_reason");
        String finishReason = AnthropicResponses.finishReason(stopReason);
        return finishReason == null ? List.of() : List.of(chunk(new JsonObject(), finishReason));
    }

    // ---- helpers -----------------------------------------------------------------------------

    /**
     * message_delta usage is cumulative and may repeat or refine message_start fields, so later
     * values overwrite earlier ones key by key instead of being added.
     */
    private void mergeUsage(JsonObject usage) {
        if (usage == null) {
            return;
        }
        if (anthropicUsage == null) {
            anthropicUsage = new JsonObject();
        }
        usage.forEach(e -> {
            if (e.getValue() instanceof Number) {
                anthropicUsage.put(e.getKey(), e.getValue());
            }
        });
    }

    private List<JsonObject> textChunk(String field, String text) {
        return text == null || text.isEmpty() ? List.of() : List.of(chunk(new JsonObject().put(field, text), null));
    }

    private JsonObject chunk(JsonObject delta, String finishReason) {
        if (!roleSent) {
            // Covers streams that skip message_start: the role must ride on the first chunk.
            delta.put("role", "assistant");
            roleSent = true;
        }
        JsonObject choice = new JsonObject()
            .put("index", 0)
            .put("delta", delta)
            .put("logprobs", null)
            .put("finish_reason", finishReason);
        return envelope(new JsonArray().add(choice));
    }

    private JsonObject envelope(JsonArray choices) {
        return new JsonObject()
            .put("id", id)
            .put("object", "chat.completion.chunk")
            .put("created", created)
            .put("model", modelLabel)
            .put("choices", choices);
    }
}
