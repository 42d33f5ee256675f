package io.tokenhub.provider.openai;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.tokenhub.core.Usage;
import io.tokenhub.provider.Chunk;
import io.tokenhub.provider.GeneratedText;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.math.BigDecimal;

/**
 * An OpenAI stream chunk relayed as the provider's own bytes. One pass of a streaming parser finds
 * the top-level {@code model} and {@code usage}, and reads the deltas of {@code choices} for what
 * the relay needs to know (output or not, the generated text); on the way out the model label is
 * replaced, and the usage field dropped or given its {@code cost}, without decoding the chunk into
 * maps and encoding it again. Anything out of the ordinary (an {@code error}, a repeated field, a
 * field of an unexpected type, no model, a choice the provider cut short for want of resources:
 * {@link ResourceShortage}) is left to the whole parse: {@link #scan} answers null.
 */
final class RelayedChunk implements Chunk {

    /** What a dropped field is replaced with; never written to. */
    private static final Buffer NOTHING = Buffer.buffer(0);
    /** What a chunk without usage gains when the client asked for usage, as OpenAI's own chunks have. */
    private static final Buffer NULL_USAGE = Buffer.buffer(",\"usage\":null");
    private static final Buffer NULL = Buffer.buffer("null");

    private final byte[] bytes;
    private final ModelAndUsage fields = new ModelAndUsage();
    /** Where the closing brace is. */
    private int close;
    /** How many choices; -1 when there is no choices field. */
    private int choices = -1;
    private boolean output;
    /** What the deltas generated; null when nothing. */
    private String text;
    private Buffer label;

    private RelayedChunk(byte[] bytes) {
        this.bytes = bytes;
    }

    /**
     * The chunk located in {@code bytes}, or null when it needs the whole parse (or is not a chunk).
     * A chunk the provider sent over several {@code data:} lines (the SSE parser joins them with line
     * feeds) is one too: relayed as it came, its line feeds would end the client's {@code data:} line.
     */
    static RelayedChunk scan(byte[] bytes) {
        for (byte b : bytes) {
            if (b == '\n') {
                return null;
            }
        }
        RelayedChunk chunk = new RelayedChunk(bytes);
        int close = JsonScan.fields(bytes, (name, nameStart, value, parser) -> {
            switch (name) {
                case "model" -> chunk.fields.model(parser, value);
                case "usage" -> chunk.fields.usage(parser, value, nameStart);
                case "choices" -> chunk.choices(parser, value);
                case "error" -> throw JsonScan.UNUSUAL;
                default -> parser.skipChildren();
            }
        });
        chunk.close = close;
        return close < 0 || chunk.fields.modelStart < 0 ? null : chunk;
    }

    /** The model the provider named (the stream turns it into the label). */
    String reportedModel() {
        return fields.reportedModel;
    }

    /** Sets the model label written in place of the provider's, as a JSON string. */
    void label(Buffer quotedLabel) {
        this.label = quotedLabel;
    }

    /** The provider's counts, when this chunk carries them. */
    Usage usage() {
        return fields.usage;
    }

    @Override
    public boolean hasOutput() {
        return output;
    }

    @Override
    public boolean usageOnly() {
        return fields.usage != null && choices <= 0;
    }

    @Override
    public void appendText(StringBuilder generated) {
        if (text != null) {
            generated.append(text);
        }
    }

    @Override
    public void writeTo(Buffer out, boolean keepUsage, BigDecimal cost) {
        ByteEdits edits = new ByteEdits(bytes).replace(fields.modelStart, fields.modelEnd, label);
        if (fields.usageNameStart >= 0) {
            if (!keepUsage) {
                dropUsage(edits);
            } else if (!usageOnly()) {
                // Counts on a chunk with choices: the relay sends them on a usage chunk of its own.
                edits.replace(fields.usageStart, fields.usageEnd, NULL);
            } else if (cost != null) {
                edits.insert(fields.usageEnd - 1, JsonScan.costField(bytes, fields.usageEnd, cost));
            }
        } else if (keepUsage) {
            edits.insert(close, NULL_USAGE);
        }
        edits.writeTo(out);
    }

    @Override
    public JsonObject identity() {
        return Chunk.identity(new JsonObject(Buffer.buffer(bytes)));
    }

    /** Removes the usage field with one of the commas around it. */
    private void dropUsage(ByteEdits edits) {
        int before = fields.usageNameStart - 1;
        while (JsonScan.whitespace(bytes[before])) {
            before--;
        }
        if (bytes[before] == ',') {
            edits.replace(before, fields.usageEnd, NOTHING);
            return;
        }
        // The first field: the comma after it goes instead (there is one: the model follows).
        int after = fields.usageEnd;
        while (JsonScan.whitespace(bytes[after])) {
            after++;
        }
        edits.replace(fields.usageNameStart, bytes[after] == ',' ? after + 1 : fields.usageEnd, NOTHING);
    }

    private void choices(JsonParser parser, JsonToken value) throws IOException {
        if (choices >= 0 || value != JsonToken.START_ARRAY) {
            throw JsonScan.UNUSUAL;
        }
        choices = 0;
        JsonToken token;
        while ((token = parser.nextToken()) != JsonToken.END_ARRAY) {
            choices++;
            if (token != JsonToken.START_OBJECT) {
                parser.skipChildren();
                continue;
            }
            boolean delta = false;
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String name = parser.currentName();
                JsonToken field = parser.nextToken();
                if (name.equals("delta")) {
                    if (delta) {
                        throw JsonScan.UNUSUAL;
                    }
                    delta = true;
                    if (field == JsonToken.START_OBJECT) {
                        delta(parser);
                        continue;
                    }
                } else if (ResourceShortage.at(name, field, parser)) {
                    throw JsonScan.UNUSUAL;
                }
                parser.skipChildren();
            }
        }
    }

    /** One choice's delta: what it generated, in the order the whole parse takes it. */
    private void delta(JsonParser parser) throws IOException {
        String content = null;
        String reasoning = null;
        String refusal = null;
        JsonArray calls = null;
        JsonObject functionCall = null;
        String transcript = null;
        int seen = 0;
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
            String name = parser.currentName();
            JsonToken value = parser.nextToken();
            switch (name) {
                case "content" -> {
                    seen = JsonScan.once(seen, 1);
                    content = value == JsonToken.VALUE_STRING ? parser.getText() : skip(parser);
                }
                case "reasoning_content" -> {
                    seen = JsonScan.once(seen, 2);
                    reasoning = value == JsonToken.VALUE_STRING ? parser.getText() : skip(parser);
                }
                case "refusal" -> {
                    seen = JsonScan.once(seen, 8);
                    refusal = value == JsonToken.VALUE_STRING ? parser.getText() : skip(parser);
                }
                case "tool_calls" -> {
                    seen = JsonScan.once(seen, 4);
                    calls = value == JsonToken.START_ARRAY ? new JsonArray(skipped(parser)) : skip(parser);
                }
                case "audio" -> {
                    // Audio output (modalities: text and audio): its transcript and data arrive here,
                    // and no content. Until 2026-12-08 such a chunk was not output, and a spoken answer
                    // reached the client only once it was whole (a streaming audit).
                    seen = JsonScan.once(seen, 32);
                    JsonObject audio = value == JsonToken.START_OBJECT ? new JsonObject(skipped(parser)) : skip(parser);
                    if (audio != null && !audio.isEmpty()) {
                        output = true;
                        transcript = audio.getValue("transcript") instanceof String t && !t.isEmpty() ? t : null;
                    }
                }
                case ReasoningField.NAME -> throw JsonScan.UNUSUAL;
                case "function_call" -> {
                    // The deprecated functions' call, streamed as tool calls are.
                    seen = JsonScan.once(seen, 16);
                    functionCall = value == JsonToken.START_OBJECT ? new JsonObject(skipped(parser)) : skip(parser);
                }
                default -> parser.skipChildren();
            }
        }
        output |= content != null && !content.isEmpty() || reasoning != null && !reasoning.isEmpty()
            || refusal != null && !refusal.isEmpty() || calls != null && !calls.isEmpty()
            || functionCall != null && !functionCall.isEmpty();
        addText(content);
        addText(reasoning);
        addText(refusal);
        addText(transcript);
        if (calls != null || functionCall != null) {
            StringBuilder called = new StringBuilder();
            if (calls != null) {
                GeneratedText.appendCalls(called, calls);
            }
            if (functionCall != null) {
                GeneratedText.appendCall(called, functionCall);
            }
            addText(called.isEmpty() ? null : called.toString());
        }
    }

    /** Most chunks generate one piece: kept as it is, joined only when there are more. */
    private void addText(String piece) {
        if (piece != null) {
            text = text == null ? piece : text + piece;
        }
    }

    /** Skips the value the parser is at; null, for the fields it leaves unread. */
    private static <T> T skip(JsonParser parser) throws IOException {
        parser.skipChildren();
        return null;
    }

    /** The bytes of the array or object the parser is at, which it skips. */
    private Buffer skipped(JsonParser parser) throws IOException {
        int start = JsonScan.start(parser);
        parser.skipChildren();
        int end = JsonScan.start(parser) + 1;
        return Buffer.buffer().appendBytes(bytes, start, end - start);
    }
}
