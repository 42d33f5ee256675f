package io.tokenhub.core;

import io.vertx.core.json.JsonObject;

/**
 * Token counts of one upstream call, in OpenAI semantics: {@code promptTokens} includes
 * {@code cachedTokens} (cache reads) and {@code cacheWriteTokens} (prompt tokens written to the
 * provider's cache, Anthropic's {@code cache_creation_input_tokens}), which are disjoint and priced
 * apart; {@code completionTokens} includes {@code reasoningTokens}.
 *
 * @param estimated true when counted by our tokenizer because the provider gave no counts
 */
public record Usage(long promptTokens, long cachedTokens, long cacheWriteTokens, long completionTokens,
                    long reasoningTokens, boolean estimated) {

    public static final Usage NONE = new Usage(0, 0, 0, 0, false);

    /** The most tokens one count holds: what a usage record stores; a provider's absurd figure stops here. */
    public static final long MAX_TOKENS = Integer.MAX_VALUE;

    /** Counts are bounded to [0, {@link #MAX_TOKENS}], so that no figure a provider sends overflows a price. */
    public Usage {
        promptTokens = bounded(promptTokens);
        cachedTokens = bounded(cachedTokens);
        cacheWriteTokens = bounded(cacheWriteTokens);
        completionTokens = bounded(completionTokens);
        reasoningTokens = bounded(reasoningTokens);
    }

    /** Counts without cache writes, which only some providers report. */
    public Usage(long promptTokens, long cachedTokens, long completionTokens, long reasoningTokens, boolean estimated) {
        this(promptTokens, cachedTokens, 0, completionTokens, reasoningTokens, estimated);
    }

    /** These input counts with our estimate of the output, marked estimated: a stream billed from what it delivered. */
    public Usage withEstimatedCompletion(long estimatedCompletionTokens) {
        return new Usage(promptTokens, cachedTokens, cacheWriteTokens, estimatedCompletionTokens, 0, true);
    }

    public long totalTokens() {
        return promptTokens + completionTokens;
    }

    /**
     * Reads an OpenAI {@code usage} object; null when absent. Cache writes are read from
     * {@code prompt_tokens_details.cache_write_tokens}, where OpenRouter reports them and where
     * the Anthropic translation puts them. A usage without a count of the prompt or of the output
     * ({@code {}}, or {@code total_tokens} alone, as some self-hosted servers send) counts nothing:
     * null as well, so that the request is billed from our estimate and not for free.
     */
    public static Usage fromOpenAi(JsonObject usage) {
        if (usage == null || !(usage.getValue("prompt_tokens") instanceof Number)
            && !(usage.getValue("completion_tokens") instanceof Number)) {
            return null;
        }
        JsonObject promptDetails = usage.getJsonObject("prompt_tokens_details");
        JsonObject completionDetails = usage.getJsonObject("completion_tokens_details");
        long cached = promptDetails == null ? 0 : longOf(promptDetails, "cached_tokens");
        return new Usage(
            longOf(usage, "prompt_tokens"),
            cached != 0 ? cached : longOf(usage, CACHE_HIT),
            promptDetails == null ? 0 : longOf(promptDetails, "cache_write_tokens"),
            longOf(usage, "completion_tokens"),
            completionDetails == null ? 0 : longOf(completionDetails, "reasoning_tokens"),
            false);
    }

    /**
     * The OpenAI {@code usage} object, with details where known. {@code cache_write_tokens} is
     * only added when there were cache writes, so OpenAI-only traffic keeps OpenAI's exact shape.
     */
    public JsonObject toOpenAi() {
        JsonObject promptDetails = new JsonObject().put("cached_tokens", cachedTokens);
        if (cacheWriteTokens > 0) {
            promptDetails.put("cache_write_tokens", cacheWriteTokens);
        }
        JsonObject json = new JsonObject()
            .put("prompt_tokens", promptTokens)
            .put("completion_tokens", completionTokens)
            .put("total_tokens", totalTokens())
            .put("prompt_tokens_details", promptDetails)
            .put("completion_tokens_details", new JsonObject().put("reasoning_tokens", reasoningTokens));
        if (estimated) {
            json.put("estimated", true);
        }
        return json;
    }

    private static long bounded(long tokens) {
        return Math.max(0, Math.min(MAX_TOKENS, tokens));
    }

    /**
     * DeepSeek counts its cache hits here, at the top of usage, and not always in
     * {@code prompt_tokens_details.cached_tokens}; like those, they are part of {@code prompt_tokens}.
     */
    public static final String CACHE_HIT = "prompt_cache_hit_tokens";

    /**
     * A provider's usage object with its cache hits in OpenAI's words too, when it gave them only in
     * its own ({@link #CACHE_HIT}): what a client reads as {@code prompt_tokens_details.cached_tokens}.
     */
    public static JsonObject withOpenAiDetails(JsonObject usage) {
        if (!usage.containsKey("prompt_tokens_details") && usage.getValue(CACHE_HIT) instanceof Number hits
            && hits.longValue() > 0) {
            usage.put("prompt_tokens_details", new JsonObject().put("cached_tokens", hits.longValue()));
        }
        return usage;
    }

    private static long longOf(JsonObject json, String field) {
        Object value = json.getValue(field);
        return value instanceof Number n ? n.longValue() : 0;
    }
}
