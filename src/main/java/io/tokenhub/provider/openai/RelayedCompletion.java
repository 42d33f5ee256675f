package io.tokenhub.provider.openai;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.tokenhub.core.Usage;
import io.tokenhub.provider.Completion;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;

/**
 * An OpenAI chat completion relayed as the provider's own bytes. A streaming parser finds the
 * top-level {@code model}, {@code usage} and {@code choices}; on the way out only the model label
 * is replaced and {@code cost} added to the usage object, instead of decoding the whole answer
 * into maps and encoding it again. Anything out of the ordinary (a repeated field, a model that is
 * not a string, a usage that already has a cost, bytes after the object) is left to the whole
 * parse: {@link #scan} answers null.
 */
final class RelayedCompletion implements Completion {

    private static final byte[] MODEL_FIELD = ",\"model\":".getBytes(StandardCharsets.UTF_8);
    private static final byte[] USAGE_FIELD = ",\"usage\":".getBytes(StandardCharsets.UTF_8);

    private final byte[] bytes;
    private String label;
    /** Spans of the values, end exclusive; -1 when the field is absent. */
    private int modelStart = -1;
    private int modelEnd;
    private int usageStart = -1;
    private int usageEnd;
    private boolean choices;
    /** Where the root object's closing brace is: absent fields are added there. */
    private int close;
    private Usage usage;

    private RelayedCompletion(byte[] bytes) {
        this.bytes = bytes;
    }

    /** The answer located in {@code bytes}, or null when it needs the whole parse (or is not an answer). */
    static RelayedCompletion scan(byte[] bytes, String providerId) {
        RelayedCompletion answer = new RelayedCompletion(bytes);
        String[] reportedModel = {null};
        answer.close = JsonScan.fields(bytes, (name, nameStart, value, parser) -> {
            switch (name) {
                case "model" -> reportedModel[0] = answer.model(parser, value);
                case "usage" -> answer.usage(parser, value);
                case "choices" -> {
                    if (answer.choices || value != JsonToken.START_ARRAY) {
                        throw JsonScan.UNUSUAL;
                    }
                    answer.choices = true;
                    parser.skipChildren();
                }
                default -> parser.skipChildren();
            }
        });
        if (answer.close < 0 || !answer.choices) {
            return null;
        }
        String model = reportedModel[0];
        answer.label = providerId + "/" + (model != null && !model.isEmpty() ? model : "unknown");
        return answer;
    }

    private String model(JsonParser parser, JsonToken value) throws IOException {
        if (modelStart >= 0 || value != JsonToken.VALUE_STRING) {
            throw JsonScan.UNUSUAL;
        }
        modelStart = JsonScan.start(parser);
        String model = parser.getText();
        modelEnd = JsonScan.end(parser);
        return model;
    }

    private void usage(JsonParser parser, JsonToken value) throws IOException {
        if (usageStart >= 0) {
            throw JsonScan.UNUSUAL;
        }
        usageStart = JsonScan.start(parser);
        if (value == JsonToken.START_OBJECT) {
            usage = JsonScan.usage(parser);
            usageEnd = JsonScan.start(parser) + 1;
        } else if (value == JsonToken.VALUE_NULL) {
            usageEnd = JsonScan.end(parser);
        } else {
            throw JsonScan.UNUSUAL;
        }
    }

    @Override
    public Usage usage() {
        return usage;
    }

    @Override
    public JsonObject body() {
        return new JsonObject(Buffer.buffer(bytes)).put("model", label);
    }

    @Override
    public Buffer encode(JsonObject replacement, BigDecimal cost) {
        Buffer quotedLabel = JsonScan.quote(label);
        ByteEdits edits = new ByteEdits(bytes);
        // Fields that were absent go in front of the closing brace.
        if (modelStart >= 0) {
            edits.replace(modelStart, modelEnd, quotedLabel);
        } else {
            edits.insert(close, Buffer.buffer(MODEL_FIELD).appendBuffer(quotedLabel));
        }
        if (usage != null) {
            edits.insert(usageEnd - 1, JsonScan.costField(bytes, usageEnd, cost));
        } else {
            Buffer ours = replacement.copy().put("cost", cost).toBuffer();
            if (usageStart >= 0) {
                edits.replace(usageStart, usageEnd, ours);
            } else {
                edits.insert(close, Buffer.buffer(USAGE_FIELD).appendBuffer(ours));
            }
        }
        return edits.writeTo(Buffer.buffer(bytes.length + 256));
    }
}
