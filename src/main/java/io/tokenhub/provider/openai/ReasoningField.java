package io.tokenhub.provider.openai;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * vLLM (since 0.11) and OpenRouter send a model's reasoning as {@code reasoning}; TokenHub's
 * clients get it as {@code reasoning_content} from every provider (PRODUCT: as DeepSeek and Qwen
 * send it). The byte-level relays leave a message or delta with {@code reasoning} to the whole
 * parse, which renames it here; one that has both keeps both.
 */
final class ReasoningField {

    static final String NAME = "reasoning";
    private static final String OURS = "reasoning_content";

    private ReasoningField() {
    }

    /** Renames the field in each choice's {@code part} ("message" or "delta"). */
    static void rename(Object choices, String part) {
        if (!(choices instanceof JsonArray list)) {
            return;
        }
        for (Object c : list) {
            if (c instanceof JsonObject choice && choice.getValue(part) instanceof JsonObject generated
                && generated.getValue(NAME) instanceof String text && !generated.containsKey(OURS)) {
                generated.remove(NAME);
                generated.put(OURS, text);
            }
        }
    }
}
