package io.tokenhub.provider;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * What a model generated, as text to count when the provider gave no usage: content, reasoning,
 * a refusal and tool (or function) calls' names and arguments of a message (whole answers) or of a
 * delta (streams) all count as output tokens.
 */
public final class GeneratedText {

    private GeneratedText() {
    }

    /** Appends the generated parts of every choice's {@code part} ("message" or "delta"). */
    public static void append(StringBuilder text, Object choices, String part) {
        if (!(choices instanceof JsonArray list)) {
            return;
        }
        for (Object c : list) {
            if (c instanceof JsonObject choice && choice.getValue(part) instanceof JsonObject generated) {
                if (generated.getValue("content") instanceof String content) {
                    text.append(content);
                }
                if (generated.getValue("reasoning_content") instanceof String reasoning) {
                    text.append(reasoning);
                }
                if (generated.getValue("refusal") instanceof String refusal) {
                    text.append(refusal);
                }
                if (generated.getValue("tool_calls") instanceof JsonArray calls) {
                    appendCalls(text, calls);
                }
                if (generated.getValue("function_call") instanceof JsonObject call) {
                    appendCall(text, call);
                }
            }
        }
    }

    /**
     * What a model generated of its tool calls: each function's name and arguments, not the JSON
     * around them (a stream sends the arguments a token or so a chunk, each in a wrapper of a dozen
     * tokens, which counted would bill a streamed call about twelve times over).
     */
    public static void appendCalls(StringBuilder text, JsonArray calls) {
        for (Object c : calls) {
            if (c instanceof JsonObject call && call.getValue("function") instanceof JsonObject function) {
                appendCall(text, function);
            }
        }
    }

    /** A function's name and arguments, as {@link #appendCalls}. */
    public static void appendCall(StringBuilder text, JsonObject function) {
        if (function.getValue("name") instanceof String name) {
            text.append(name);
        }
        if (function.getValue("arguments") instanceof String arguments) {
            text.append(arguments);
        }
    }
}
