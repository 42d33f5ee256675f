package io.tokenhub.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.core.TokenCounter;
import io.tokenhub.provider.Chunk;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class DeliveredTextTest {

    private static Chunk delta(String content) {
        return Chunk.of(new JsonObject().put("choices", new JsonArray().add(new JsonObject().put("index", 0)
            .put("delta", new JsonObject().put("content", content)))));
    }

    @Test
    void aShortAnswerIsTokenized() {
        DeliveredText delivered = new DeliveredText();
        delivered.add(delta("Load balancers spread requests "));
        delivered.add(delta("across servers."));

        assertThat(delivered.tokens()).isEqualTo(TokenCounter.count("Load balancers spread requests across servers."));
    }

    @Test
    void aLongAnswerIsHeldNoFurtherThanItWouldBeTokenizedAndIsEstimatedFromItsSize() {
        // Given a stream that delivers four megabytes, some of it in characters of two and three UTF-8 bytes
        DeliveredText delivered = new DeliveredText();
        String piece = "0123456789abcdef".repeat(60) + "é€";
        long bytes = 0;
        int most = 0;

        // When it is delivered a kilobyte at a time
        for (int i = 0; i < 4_000; i++) {
            delivered.add(delta(piece));
            bytes += piece.getBytes(StandardCharsets.UTF_8).length;
            most = Math.max(most, delivered.retained());
        }

        // Then it never held more than the text a count would tokenize, and its tokens are its size at three bytes each
        assertThat(most).isLessThanOrEqualTo((int) ChatRequestParser.OFF_LOOP_BYTES + piece.length());
        assertThat(delivered.retained()).isLessThan(piece.length() + 1);
        assertThat(delivered.tokens()).isEqualTo((int) ((bytes + 2) / 3));
    }
}
