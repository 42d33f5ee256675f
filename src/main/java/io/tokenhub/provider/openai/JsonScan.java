package io.tokenhub.provider.openai;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.io.JsonStringEncoder;
import io.tokenhub.core.Usage;
import io.vertx.core.buffer.Buffer;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;

/**
 * What the byte-level relays ({@link RelayedCompletion}, {@link RelayedChunk}) share: the parser
 * factory, offsets of tokens, the usage object read straight from the parser, and the edits that
 * write a label or a cost into the provider's bytes.
 */
final class JsonScan {

    static final JsonFactory JSON = new JsonFactory();

    /** Thrown inside a scan when the JSON needs the whole parse; never leaves the scan. */
    static final class Unusual extends RuntimeException {
        private Unusual() {
            super(null, null, false, false);
        }
    }

    static final Unusual UNUSUAL = new Unusual();

    private static final byte[] COST_FIELD = "\"cost\":".getBytes(StandardCharsets.UTF_8);
    private static final byte[] NEXT_COST_FIELD = ",\"cost\":".getBytes(StandardCharsets.UTF_8);

    /** One top-level field: the parser is on its value and must be left at the value's last token. */
    interface Field {
        void visit(String name, int nameStart, JsonToken value, JsonParser parser) throws IOException;
    }

    private JsonScan() {
    }

    /**
     * Walks the top-level fields of the JSON object in {@code bytes}; answers where its closing
     * brace is, or -1 when the bytes are not one JSON object and nothing else, or a field was
     * {@link #UNUSUAL}.
     */
    static int fields(byte[] bytes, Field field) {
        try (JsonParser parser = JSON.createParser(bytes)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return -1;
            }
            JsonToken token;
            while ((token = parser.nextToken()) == JsonToken.FIELD_NAME) {
                String name = parser.currentName();
                int nameStart = start(parser);
                field.visit(name, nameStart, parser.nextToken(), parser);
            }
            int close = start(parser);
            return token == JsonToken.END_OBJECT && parser.nextToken() == null ? close : -1;
        } catch (IOException | RuntimeException e) {
            // Malformed, or UNUSUAL: the whole parse says what is wrong, or takes it as it is.
            return -1;
        }
    }

    /** Skips the current value; answers where it ends. */
    static int skipValue(JsonParser parser, JsonToken value) throws IOException {
        if (value.isStructStart()) {
            parser.skipChildren();
            return start(parser) + 1;
        }
        parser.finishToken();
        return end(parser);
    }

    /** Where the current token starts in the bytes. */
    static int start(JsonParser parser) {
        return (int) parser.currentTokenLocation().getByteOffset();
    }

    /** Where the current token ends, for a scalar (a string must have been read). */
    static int end(JsonParser parser) {
        return (int) parser.currentLocation().getByteOffset();
    }

    static boolean whitespace(byte b) {
        return b == ' ' || b == '\n' || b == '\r' || b == '\t';
    }

    /** {@code text} as a JSON string. */
    static Buffer quote(String text) {
        return Buffer.buffer(text.length() + 8).appendByte((byte) '"')
            .appendBytes(JsonStringEncoder.getInstance().quoteAsUTF8(text)).appendByte((byte) '"');
    }

    /**
     * An OpenAI usage object, the parser on its opening brace, read as {@link Usage#fromOpenAi}
     * reads it from JSON; leaves the parser on its closing brace. A usage that already has a
     * {@code cost}, repeats a field or has a count that is not a whole number is {@link #UNUSUAL}.
     */
    static Usage usage(JsonParser parser) throws IOException {
        long prompt = 0;
        long cached = 0;
        long cacheWrite = 0;
        long completion = 0;
        long reasoning = 0;
        long cacheHit = 0;
        int seen = 0;
        boolean counted = false;
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
            String name = parser.currentName();
            JsonToken value = parser.nextToken();
            switch (name) {
                case Usage.CACHE_HIT -> {
                    seen = once(seen, 16);
                    cacheHit = count(parser, value);
                }
                case "prompt_tokens" -> {
                    seen = once(seen, 1);
                    counted |= value == JsonToken.VALUE_NUMBER_INT;
                    prompt = count(parser, value);
                }
                case "completion_tokens" -> {
                    seen = once(seen, 2);
                    counted |= value == JsonToken.VALUE_NUMBER_INT;
                    completion = count(parser, value);
                }
                case "prompt_tokens_details" -> {
                    seen = once(seen, 4);
                    long[] details = counts(parser, value, "cached_tokens", "cache_write_tokens");
                    cached = details[0];
                    cacheWrite = details[1];
                }
                case "completion_tokens_details" -> {
                    seen = once(seen, 8);
                    reasoning = counts(parser, value, "reasoning_tokens")[0];
                }
                case "cost" -> throw UNUSUAL;
                default -> parser.skipChildren();
            }
        }
        if (!counted) {
            // Counts nothing ({}, or total_tokens alone): Usage.fromOpenAi makes it null, to be estimated.
            throw UNUSUAL;
        }
        if ((seen & 4) == 0 && cacheHit > 0) {
            // DeepSeek's cache hits without OpenAI's details: the answer gets them added, by the whole parse.
            throw UNUSUAL;
        }
        return new Usage(prompt, cached != 0 ? cached : cacheHit, cacheWrite, completion, reasoning, false);
    }

    /** {@code ,"cost":…} to insert before the closing brace of the usage object that ends at {@code usageEnd}. */
    static Buffer costField(byte[] bytes, int usageEnd, BigDecimal cost) {
        int before = usageEnd - 2;
        while (whitespace(bytes[before])) {
            before--;
        }
        return Buffer.buffer(32).appendBytes(bytes[before] == '{' ? COST_FIELD : NEXT_COST_FIELD)
            .appendString(cost.toPlainString());
    }

    /** The named counts of a details object (or null), 0 where absent; the parser ends on its closing brace. */
    private static long[] counts(JsonParser parser, JsonToken value, String... names) throws IOException {
        long[] counts = new long[names.length];
        if (value == JsonToken.VALUE_NULL) {
            return counts;
        }
        if (value != JsonToken.START_OBJECT) {
            throw UNUSUAL;
        }
        int seen = 0;
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
            int i = indexOf(names, parser.currentName());
            JsonToken v = parser.nextToken();
            if (i < 0) {
                parser.skipChildren();
            } else {
                seen = once(seen, 1 << i);
                counts[i] = count(parser, v);
            }
        }
        return counts;
    }

    private static int indexOf(String[] names, String name) {
        for (int i = 0; i < names.length; i++) {
            if (names[i].equals(name)) {
                return i;
            }
        }
        return -1;
    }

    private static long count(JsonParser parser, JsonToken value) throws IOException {
        if (value == JsonToken.VALUE_NULL) {
            return 0;
        }
        if (value != JsonToken.VALUE_NUMBER_INT || parser.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
            throw UNUSUAL;
        }
        return parser.getLongValue();
    }

    /** Marks {@code bit} in {@code seen}; a field seen twice (which the whole parse resolves its own way) is UNUSUAL. */
    static int once(int seen, int bit) {
        if ((seen & bit) != 0) {
            throw UNUSUAL;
        }
        return seen | bit;
    }
}
