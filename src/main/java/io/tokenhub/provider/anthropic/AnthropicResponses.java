package io.tokenhub.provider.anthropic;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.Locale;

/**
 * Translates a non-streamed Anthropic Messages response (and Anthropic error bodies) into the
 * OpenAI Chat Completions shapes the gateway speaks internally.
 *
 * <p>The stop-reason and usage mappings are shared with {@link AnthropicStreamTranslator} so that a
 * streamed and a non-streamed call are billed and reported identically.
 */
public final class AnthropicResponses {

    /** An upstream failure expressed in OpenAI terms, ready to be rendered as an error body. */
    public record ErrorInfo(int status, String type, String code, String message) {
    }

    private AnthropicResponses() {
    }

    /**
     * @param anthropicMessage    the Anthropic {@code message} object
     * @param modelLabel          the model name to show the client (the gateway's alias, not the upstream id)
     * @param id                  the completion id to show the client
     * @param createdEpochSeconds the {@code created} timestamp
     */
    public static JsonObject toOpenAi(JsonObject anthropicMessage, String modelLabel, String id, long createdEpochSeconds) {
        JsonArray content = anthropicMessage.getJsonArray("content", new JsonArray());
        StringBuilder text = new StringBuilder();
        StringBuilder reasoning = new StringBuilder();
        JsonArray toolCalls = new JsonArray();
        for (int i = 0; i < content.size(); i++) {
            collectBlock(content.getJsonObject(i), text, reasoning, toolCalls);
        }

        JsonObject message = new JsonObject().put("role", "assistant");
        // OpenAI clients expect content null (not "") on a pure tool-call turn.
        message.put("content", text.length() == 0 && !toolCalls.isEmpty() ? null : text.toString());
        if (reasoning.length() > 0) {
            message.put("reasoning_content", reasoning.toString());
        }
        if (!toolCalls.isEmpty()) {
            message.put("tool_calls", toolCalls);
        }

        JsonObject choice = new JsonObject()
            .put("index", 0)
            .put("message", message)
            .put("logprobs", null)
            .put("finish_reason", finishReason(anthropicMessage.getString("stop_reason")));

        JsonObject out = new JsonObject()
            .put("id", id)
            .put("object", "chat.completion")
            .put("created", createdEpochSeconds)
            .put("model", modelLabel)
            .put("choices", new JsonArray().add(choice));
        JsonObject usage = anthropicMessage.getJsonObject("usage");
        if (usage != null) {
            out.put("usage", usage(usage));
        }
        return out;
    }

    private static void collectBlock(JsonObject block, StringBuilder text, StringBuilder reasoning, JsonArray toolCalls) {
        switch (block.getString("type", "")) {
            case "text" -> text.append(block.getString("text", ""));
            case "thinking" -> reasoning.append(block.getString("thinking", ""));
            case "tool_use" -> toolCalls.add(toolCall(block));
            // redacted_thinking, server tool blocks etc. have no OpenAI counterpart.
            default -> {
            }
        }
    }

    private static JsonObject toolCall(JsonObject toolUse) {
        JsonObject input = toolUse.getJsonObject("input", new JsonObject());
        return new JsonObject()
            .put("id", toolUse.getString("id"))
            .put("type", "function")
            .put("function", new JsonObject()
                .put("name", toolUse.getString("name"))
                .put("arguments", input.encode()));
    }

    /** Maps an Anthropic stop_reason to an OpenAI finish_reason; null while still generating. */
    public static String finishReason(String stopReason) {
        if (stopReason == null) {
            return null;
        }
        return switch (stopReason) {
            case "max_tokens", "model_context_window_exceeded" -> "length";
            case "tool_use" -> "tool_calls";
            case "refusal" -> "content_filter";
            // end_turn, stop_sequence, pause_turn and any future reason: the turn ended normally.
            default -> "stop";
        };
    }

    /**
     * Converts Anthropic usage to OpenAI usage. Anthropic's input_tokens excludes both cache reads
     * and cache writes, while OpenAI's prompt_tokens includes them, so both are added back in; they
     * are priced apart, so reads go to {@code cached_tokens} and writes to
     * {@code cache_write_tokens} (OpenRouter's name), which {@link io.tokenhub.core.Usage} reads.
     */
    public static JsonObject usage(JsonObject anthropicUsage) {
        long input = count(anthropicUsage, "input_tokens");
        long cacheRead = count(anthropicUsage, "cache_read_input_tokens");
        long cacheWrite = count(anthropicUsage, "cache_creation_input_tokens");
        long output = count(anthropicUsage, "output_tokens");
        long prompt = input + cacheRead + cacheWrite;
        return new JsonObject()
            .put("prompt_tokens", prompt)
            .put("completion_tokens", output)
            .put("total_tokens", prompt + output)
            .put("prompt_tokens_details", new JsonObject()
                .put("cached_tokens", cacheRead)
                .put("cache_write_tokens", cacheWrite));
    }

    private static long count(JsonObject usage, String key) {
        Object v = usage.getValue(key);
        return v instanceof Number n ? n.longValue() : 0L;
    }

    // ---- errors ------------------------------------------------------------------------------

    /**
     * Maps an Anthropic error response to an OpenAI-style error. The body may be null or not the
     * documented {@code {"type":"error","error":{"type","message"}}} shape (e.g. a 413 produced by
     * Anthropic's edge before the API sees the request), so the HTTP status is the fallback.
     */
    public static ErrorInfo mapError(int httpStatus, JsonObject anthropicErrorBody) {
        JsonObject error = anthropicErrorBody == null ? null : anthropicErrorBody.getJsonObject("error");
        String anthropicType = error == null ? null : error.getString("type");
        String message = error == null ? null : error.getString("message");
        if (message == null || message.isEmpty()) {
            message = "Anthropic returned HTTP " + httpStatus;
        }
        String type = anthropicType != null ? anthropicType : typeForStatus(httpStatus);
        return switch (type) {
            case "invalid_request_error" -> new ErrorInfo(400, "invalid_request_error",
                windowExceeded(message) ? "context_length_exceeded" : "invalid_request_error", message);
            case "authentication_error" -> new ErrorInfo(401, "authentication_error", "upstream_authentication_failed", message);
            case "permission_error" -> new ErrorInfo(403, "permission_error", "permission_denied", message);
            case "not_found_error" -> new ErrorInfo(404, "invalid_request_error", "not_found", message);
            case "request_too_large" -> new ErrorInfo(413, "invalid_request_error", "request_too_large", message);
            case "rate_limit_error" -> new ErrorInfo(429, "rate_limit_error", "rate_limit_exceeded", message);
            // TokenHub's own account at Anthropic, not the caller's: never the caller's insufficient_quota.
            case "billing_error" -> new ErrorInfo(402, "server_error", "upstream_billing_error", message);
            case "timeout_error" -> new ErrorInfo(504, "server_error", "timeout", message);
            case "api_error" -> new ErrorInfo(500, "server_error", "upstream_error", message);
            case "overloaded_error" -> new ErrorInfo(529, "server_error", "overloaded", message);
            // Anthropic warns new types may appear; keep the status so retry decisions still work.
            default -> new ErrorInfo(httpStatus, httpStatus >= 500 ? "server_error" : "invalid_request_error",
                anthropicType != null ? anthropicType : "upstream_error", message);
        };
    }

    /**
     * Anthropic's words for a prompt (with {@code max_tokens}) over the model's context window, which
     * its tokenizer can find where the gateway's estimate did not: OpenAI's {@code
     * context_length_exceeded}, the code clients match on to shorten their history.
     */
    private static boolean windowExceeded(String message) {
        String m = message.toLowerCase(Locale.ROOT);
        return m.startsWith("prompt is too long") || m.contains("exceed context limit")
            || m.contains("exceeds the context window") || m.contains("context window exceeded");
    }

    private static String typeForStatus(int status) {
        return switch (status) {
            case 400 -> "invalid_request_error";
            case 401 -> "authentication_error";
            case 402 -> "billing_error";
            case 403 -> "permission_error";
            case 404 -> "not_found_error";
            case 413 -> "request_too_large";
            case 429 -> "rate_limit_error";
            case 500 -> "api_error";
            case 504 -> "timeout_error";
            case 529 -> "overloaded_error";
            default -> "unknown";
        };
    }
}
