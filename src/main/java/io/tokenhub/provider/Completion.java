package io.tokenhub.provider;

import io.tokenhub.core.Usage;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import java.math.BigDecimal;

/**
 * A finished non-streaming answer in OpenAI shape, its {@code model} already
 * {@code provider/upstream-model}. Adapters that build the answer hand over JSON ({@link #of});
 * one that relays the provider's own bytes may rewrite them in place instead of re-encoding.
 */
public interface Completion {

    static Completion of(JsonObject body, Usage usage) {
        return new Parsed(body, usage);
    }

    /** The provider's own counts, or null when it reported none. */
    Usage usage();

    /** The answer as JSON, free to change (read to estimate output when no usage came). */
    JsonObject body();

    /**
     * The answer for the client: its {@code usage} object carries {@code cost}; that object is
     * the provider's own, or {@code replacement} (which must be given when {@link #usage()} is null).
     */
    Buffer encode(JsonObject replacement, BigDecimal cost);

    /** An answer held as JSON. */
    record Parsed(JsonObject body, Usage usage) implements Completion {
        @Override
        public Buffer encode(JsonObject replacement, BigDecimal cost) {
            JsonObject usageJson = replacement == null && body.getValue("usage") instanceof JsonObject own
                ? own : replacement;
            return body.put("usage", Usage.withOpenAiDetails(usageJson).put("cost", cost)).toBuffer();
        }
    }
}
