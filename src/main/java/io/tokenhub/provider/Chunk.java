package io.tokenhub.provider;

import io.tokenhub.core.Usage;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.math.BigDecimal;

/**
 * One OpenAI {@code chat.completion.chunk} on its way to the client, its {@code model} already
 * {@code provider/upstream-model}. Adapters that build chunks hand over JSON ({@link #of}); one
 * that relays the provider's own bytes may rewrite them in place instead of re-encoding.
 */
public interface Chunk {

    static Chunk of(JsonObject json) {
        return new Parsed(json);
    }

    /** Whether it carries output: a content, reasoning or tool-call delta. */
    boolean hasOutput();

    /** Whether it is the usage chunk: a usage object and no choices. */
    boolean usageOnly();

    /** Appends what its deltas generated, to estimate output when the provider sends no usage. */
    void appendText(StringBuilder text);

    /**
     * Appends the chunk's JSON to {@code out}: without its {@code usage} field unless
     * {@code keepUsage}, and then with {@code "usage": null} unless it is the usage chunk, as OpenAI
     * streams every chunk before that one (a provider that puts its counts on the last chunk with
     * choices, as DeepSeek does, has them sent on a usage chunk of the relay's own); with
     * {@code cost} added to the usage chunk's object when one is given.
     */
    void writeTo(Buffer out, boolean keepUsage, BigDecimal cost);

    /**
     * Its {@code id} and {@code created}, which every chunk of an OpenAI stream shares, for a chunk
     * the relay adds to the stream; either null where the chunk has none. Decodes a relayed chunk:
     * asked once a stream, not of every chunk.
     */
    JsonObject identity();

    /** The {@code id} and {@code created} of a chunk's JSON. */
    static JsonObject identity(JsonObject json) {
        return new JsonObject().put("id", json.getValue("id")).put("created", json.getValue("created"));
    }

    /** A chunk held as JSON. */
    record Parsed(JsonObject json) implements Chunk {

        @Override
        public boolean hasOutput() {
            if (!(json.getValue("choices") instanceof JsonArray choices)) {
                return false;
            }
            for (Object c : choices) {
                if (c instanceof JsonObject choice && choice.getValue("delta") instanceof JsonObject delta
                    && (nonEmpty(delta.getValue("content")) || nonEmpty(delta.getValue("reasoning_content"))
                        || nonEmpty(delta.getValue("refusal"))
                        || delta.getValue("tool_calls") instanceof JsonArray calls && !calls.isEmpty()
                        || delta.getValue("function_call") instanceof JsonObject call && !call.isEmpty()
                        || delta.getValue("audio") instanceof JsonObject audio && !audio.isEmpty())) {
                    return true;
                }
            }
            return false;
        }

        @Override
        public boolean usageOnly() {
            Object choices = json.getValue("choices");
            return json.getValue("usage") instanceof JsonObject
                && (!(choices instanceof JsonArray list) || list.isEmpty());
        }

        @Override
        public void appendText(StringBuilder text) {
            GeneratedText.append(text, json.getValue("choices"), "delta");
        }

        @Override
        public void writeTo(Buffer out, boolean keepUsage, BigDecimal cost) {
            if (!keepUsage) {
                json.remove("usage");
            } else if (!usageOnly()) {
                json.putNull("usage");
            } else if (cost != null) {
                Usage.withOpenAiDetails(json.getJsonObject("usage")).put("cost", cost);
            }
            out.appendBuffer(json.toBuffer());
        }

        @Override
        public JsonObject identity() {
            return Chunk.identity(json);
        }

        private static boolean nonEmpty(Object value) {
            return value instanceof String s && !s.isEmpty();
        }
    }
}
