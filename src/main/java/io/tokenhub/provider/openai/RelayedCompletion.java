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
 * not a string, a usage that already has a cost, bytes after the object, a choice the provider cut
 * short for want of resources: {@link ResourceShortage}) is left to the whole parse: {@link #scan}
 * answers null.
 */
final class RelayedCompletion implements Completion {

    private static final byte[] MODEL_FIELD = ",\"model\":".getBytes(StandardCharsets.UTF_8);
    private static final byte[] USAGE_FIELD = ",\"usage\":".getBytes(StandardCharsets.UTF_8);

    private final byte[] bytes;
    private final ModelAndUsage fields = new ModelAndUsage();
    private String label;
    private boolean choices;
    /** Where the root object's closing brace is: absent fields are added there. */
    private int close;

    private RelayedCompletion(byte[] bytes) {
        this.bytes = bytes;
    }

    /**
     * The answer located in {@code bytes}, or null when it needs the whole parse (or is not an answer).
     *
     * @param deploymentModel the model asked for, for the label when the answer names none
     */
    static RelayedCompletion scan(byte[] bytes, String providerId, String deploymentModel) {
        RelayedCompletion answer = new RelayedCompletion(bytes);
        answer.close = JsonScan.fields(bytes, (name, nameStart, value, parser) -> {
            switch (name) {
                case "model" -> answer.fields.model(parser, value);
                case "usage" -> answer.fields.usage(parser, value, nameStart);
                case "choices" -> {
                    if (answer.choices || value != JsonToken.START_ARRAY) {
                        throw JsonScan.UNUSUAL;
                    }
                    answer.choices = true;
                    skipChoices(parser);
                }
                default -> parser.skipChildren();
            }
        });
        if (answer.close < 0 || !answer.choices) {
            return null;
        }
        String model = answer.fields.reportedModel;
        answer.label = providerId + "/" + (model != null && !model.isEmpty() ? model : deploymentModel);
        return answer;
    }

    /**
     * Skips the choices, reading only their finish reasons and their messages' field names: each
     * field of a message is skipped whole.
     */
    private static void skipChoices(JsonParser parser) throws IOException {
        JsonToken token;
        while ((token = parser.nextToken()) != JsonToken.END_ARRAY) {
            if (token != JsonToken.START_OBJECT) {
                parser.skipChildren();
                continue;
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String name = parser.currentName();
                JsonToken value = parser.nextToken();
                if (ResourceShortage.at(name, value, parser)) {
                    throw JsonScan.UNUSUAL;
                }
                if (name.equals("message") && value == JsonToken.START_OBJECT) {
                    skipMessage(parser);
                } else {
                    parser.skipChildren();
                }
            }
        }
    }

    /** A message with reasoning under another name than ours goes to the whole parse ({@link ReasoningField}). */
    private static void skipMessage(JsonParser parser) throws IOException {
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
            if (parser.currentName().equals(ReasoningField.NAME)) {
                throw JsonScan.UNUSUAL;
            }
            parser.nextToken();
            parser.skipChildren();
        }
    }

    @Override
    public Usage usage() {
        return fields.usage;
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
        if (fields.modelStart >= 0) {
            edits.replace(fields.modelStart, fields.modelEnd, quotedLabel);
        } else {
            edits.insert(close, Buffer.buffer(MODEL_FIELD).appendBuffer(quotedLabel));
        }
        if (fields.usage != null) {
            edits.insert(fields.usageEnd - 1, JsonScan.costField(bytes, fields.usageEnd, cost));
        } else {
            Buffer ours = replacement.put("cost", cost).toBuffer();
            if (fields.usageNameStart >= 0) {
                edits.replace(fields.usageStart, fields.usageEnd, ours);
            } else {
                edits.insert(close, Buffer.buffer(USAGE_FIELD).appendBuffer(ours));
            }
        }
        return edits.writeTo(Buffer.buffer(bytes.length + 256));
    }
}
