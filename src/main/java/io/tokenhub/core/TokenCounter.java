package io.tokenhub.core;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * Token estimates with a real BPE tokenizer (o200k, GPT-4o's). Exact for OpenAI models, close
 * enough for the others to check context windows, reserve money and bill streams whose provider
 * sent no counts (such records are marked estimated).
 */
public final class TokenCounter {

    /** OpenAI's documented framing cost per message and per reply. */
    private static final int PER_MESSAGE = 3;
    private static final int PER_REPLY = 3;
    /** A low-detail image as OpenAI counts it; high detail costs more, which the upstream reports. */
    private static final int PER_IMAGE = 85;

    private static final Encoding ENCODING =
        Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.O200K_BASE);

    private TokenCounter() {
    }

    public static int count(String text) {
        return text == null || text.isEmpty() ? 0 : ENCODING.countTokensOrdinary(text);
    }

    /** Prompt tokens of a chat request: messages, their parts, and tool definitions. */
    public static int chatPrompt(JsonObject request) {
        int total = PER_REPLY;
        JsonArray messages = request.getJsonArray("messages");
        if (messages != null) {
            for (Object m : messages) {
                if (m instanceof JsonObject message) {
                    total += PER_MESSAGE + message(message);
                }
            }
        }
        Object tools = request.getValue("tools");
        if (tools instanceof JsonArray array && !array.isEmpty()) {
            total += count(array.encode());
        }
        return total;
    }

    private static int message(JsonObject message) {
        int total = 0;
        Object content = message.getValue("content");
        if (content instanceof String text) {
            total += count(text);
        } else if (content instanceof JsonArray parts) {
            for (Object p : parts) {
                if (p instanceof JsonObject part) {
                    total += "image_url".equals(part.getValue("type")) ? PER_IMAGE : count(part.getString("text", ""));
                }
            }
        }
        Object toolCalls = message.getValue("tool_calls");
        if (toolCalls instanceof JsonArray calls && !calls.isEmpty()) {
            total += count(calls.encode());
        }
        return total;
    }
}
