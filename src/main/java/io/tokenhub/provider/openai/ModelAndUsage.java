package io.tokenhub.provider.openai;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.tokenhub.core.Usage;
import java.io.IOException;

/**
 * Where a relayed object's top-level {@code model} and {@code usage} are in its bytes, and the
 * counts the usage holds: what {@link RelayedCompletion} and {@link RelayedChunk} read alike.
 * Spans are end-exclusive; a start of -1 means the field is absent. A repeated field, a model that
 * is not a string or a usage that is neither an object nor null is {@link JsonScan#UNUSUAL}.
 */
final class ModelAndUsage {

    String reportedModel;
    int modelStart = -1;
    int modelEnd;
    /** Where the usage field's name starts (for removing the whole field), and its value's span. */
    int usageNameStart = -1;
    int usageStart;
    int usageEnd;
    /** The provider's counts; null when the usage is null or absent. */
    Usage usage;

    /** The parser is on the model's value. */
    void model(JsonParser parser, JsonToken value) throws IOException {
        if (modelStart >= 0 || value != JsonToken.VALUE_STRING) {
            throw JsonScan.UNUSUAL;
        }
        modelStart = JsonScan.start(parser);
        reportedModel = parser.getText();
        modelEnd = JsonScan.end(parser);
    }

    /** The parser is on the usage's value, whose name started at {@code nameStart}. */
    void usage(JsonParser parser, JsonToken value, int nameStart) throws IOException {
        if (usageNameStart >= 0) {
            throw JsonScan.UNUSUAL;
        }
        usageNameStart = nameStart;
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
}
