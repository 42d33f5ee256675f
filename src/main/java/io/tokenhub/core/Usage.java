package io.tokenhub.core;

import io.vertx.core.json.JsonObject;

/**
 * Token counts of one upstream call, in OpenAI semantics: {@code promptTokens} includes
 * {@code cachedTokens}, {@code completionTokens} includes {@code reasoningTokens}.
 *
 * @param estimated true when counted by our tokenizer because the provider gave no counts
 */
public record Usage(long promptTokens, long cachedTokens, long completionTokens, long reasoningTokens,
                    boolean estimated) {

    public static final Usage NONE = new Usage(0, 0, 0, 0, false);

    public long totalTokens() {
        return promptTokens + completionTokens;
    }

    /** Reads an OpenAI {@code usage} object; null when absent. */
    public static Usage fromOpenAi(JsonObject usage) {
        if (usage == null) {
            return null;
        }
        JsonObject promptDetails = usage.getJsonObject("prompt_tokens_details");
        JsonObject completionDetails = usage.getJsonObject("completion_tokens_details");
        return new Usage(
            longOf(usage, "prompt_tokens"),
            promptDetails == null ? 0 : longOf(promptDetails, "cached_tokens"),
            longOf(usage, "completion_tokens"),
            completionDetails == null ? 0 : longOf(completionDetails, "reasoning_tokens"),
            false);
    }

    /** The OpenAI {@code usage} object, with details where known. */
    public JsonObject toOpenAi() {
        JsonObject json = new JsonObject()
            .put("prompt_tokens", promptTokens)
            .put("completion_tokens", completionTokens)
            .put("total_tokens", totalTokens())
            .put("prompt_tokens_details", new JsonObject().put("cached_tokens", cachedTokens))
            .put("completion_tokens_details", new JsonObject().put("reasoning_tokens", reasoningTokens));
        if (estimated) {
            json.put("estimated", true);
        }
        return json;
    }

    private static long longOf(JsonObject json, String field) {
        Object value = json.getValue(field);
        return value instanceof Number n ? n.longValue() : 0;
    }
}
