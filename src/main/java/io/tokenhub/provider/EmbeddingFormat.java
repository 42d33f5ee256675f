package io.tokenhub.provider;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Base64;

/**
 * OpenAI's {@code encoding_format} of embeddings: {@code float}, a JSON array, or {@code base64}, the
 * vector as little-endian float32 base64-encoded, which both official SDKs ask for by default (the
 * Node one then decodes whatever comes). Self-hosted servers that ignore the field answer with
 * arrays: each vector is put in the format the client asked for.
 */
public final class EmbeddingFormat {

    private EmbeddingFormat() {
    }

    /**
     * Each {@code embedding} of {@code data} in the format asked for ({@code base64}, else floats);
     * fails as the provider's answer when one is a string that is not base64.
     */
    public static void asAsked(Object data, Object encodingFormat, String providerId) {
        if (!(data instanceof JsonArray items)) {
            return;
        }
        boolean base64 = "base64".equals(encodingFormat);
        for (Object item : items) {
            if (!(item instanceof JsonObject embedding)) {
                continue;
            }
            Object vector = embedding.getValue("embedding");
            if (base64 && vector instanceof JsonArray floats) {
                embedding.put("embedding", base64(floats));
            } else if (!base64 && vector instanceof String encoded) {
                embedding.put("embedding", floats(encoded, providerId));
            }
        }
    }

    /** The vector as little-endian float32, base64-encoded. */
    public static String base64(JsonArray vector) {
        ByteBuffer bytes = ByteBuffer.allocate(vector.size() * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < vector.size(); i++) {
            bytes.putFloat(((Number) vector.getValue(i)).floatValue());
        }
        return Base64.getEncoder().encodeToString(bytes.array());
    }

    private static JsonArray floats(String encoded, String providerId) {
        ByteBuffer bytes;
        try {
            bytes = ByteBuffer.wrap(Base64.getDecoder().decode(encoded)).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IllegalArgumentException e) {
            throw UpstreamException.of(providerId, UpstreamException.Kind.CONNECTION, "the provider's embedding is not base64");
        }
        JsonArray vector = new JsonArray();
        while (bytes.remaining() >= Float.BYTES) {
            vector.add((double) bytes.getFloat());
        }
        return vector;
    }
}
