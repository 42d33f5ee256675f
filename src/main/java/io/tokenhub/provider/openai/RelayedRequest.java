package io.tokenhub.provider.openai;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * The client's request body rewritten for the upstream from its own bytes: the top-level fields
 * kept are copied as they came (the messages above all, however long), the changed ones written
 * after them, instead of encoding the whole parsed body again. A body with a repeated top-level
 * field (which the parse resolved one way) is left to the encoder: {@link #rewrite} answers null.
 */
final class RelayedRequest {

    private RelayedRequest() {
    }

    /**
     * @param raw     the client's body, a JSON object
     * @param keep    which of its top-level fields go to the upstream as they are
     * @param changed fields written after them (none of them kept)
     */
    static Buffer rewrite(Buffer raw, Predicate<String> keep, JsonObject changed) {
        byte[] bytes = raw.getBytes();
        Buffer out = Buffer.buffer(bytes.length + 128).appendByte((byte) '{');
        Set<String> seen = new HashSet<>();
        int close = JsonScan.fields(bytes, (name, start, value, parser) -> {
            int end = JsonScan.skipValue(parser, value);
            if (!seen.add(name)) {
                throw JsonScan.UNUSUAL;
            }
            if (keep.test(name)) {
                if (out.length() > 1) {
                    out.appendByte((byte) ',');
                }
                out.appendBytes(bytes, start, end - start);
            }
        });
        if (close < 0) {
            return null;
        }
        boolean first = out.length() == 1;
        for (Map.Entry<String, Object> field : changed) {
            if (!first) {
                out.appendByte((byte) ',');
            }
            out.appendBuffer(JsonScan.quote(field.getKey())).appendByte((byte) ':');
            Object value = field.getValue();
            if (value instanceof String text) {
                out.appendBuffer(JsonScan.quote(text));
            } else if (value instanceof Boolean || value instanceof Integer || value instanceof Long) {
                out.appendString(value.toString());
            } else {
                out.appendBuffer(Json.encodeToBuffer(value));
            }
            first = false;
        }
        return out.appendByte((byte) '}');
    }
}
