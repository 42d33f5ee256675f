package io.tokenhub.provider;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * What a model generated, as text to count when the provider gave no usage: content, reasoning,
 * a refusal and tool (or function) calls of a message (whole answers) or of a delta (streams) all count as output
 * tokens.
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
                    text.append(calls.encode());
                }
                if (generated.getValue("function_call") instanceof JsonObject call) {
                    text.append(call.encode());
                }
            }
        }
    }
}
