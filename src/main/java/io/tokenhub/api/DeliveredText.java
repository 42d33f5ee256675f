package io.tokenhub.api;

import io.tokenhub.core.TokenCounter;
import io.tokenhub.provider.Chunk;

/**
 * What a stream delivered, for an estimate of its output tokens when the provider sends no usage:
 * the text itself while it is short enough to tokenize on the event loop
 * ({@link ChatRequestParser#OFF_LOOP_BYTES}), then only its size. Until 2026-12-08 a stream kept
 * every character it relayed (62 MB of heap for a 40 MB answer) to use only the size past that.
 */
final class DeliveredText {

    private final StringBuilder text = new StringBuilder();
    /** The UTF-8 bytes delivered once there was too much text to keep; -1 while {@link #text} holds it all. */
    private long bytes = -1;

    void add(Chunk chunk) {
        chunk.appendText(text);
        if (bytes >= 0 || text.length() > ChatRequestParser.OFF_LOOP_BYTES) {
            boolean first = bytes < 0;
            bytes = Math.max(0, bytes) + TokenCounter.utf8Length(text.toString());
            text.setLength(0);
            if (first) {
                text.trimToSize();
            }
        }
    }

    /** Tokenized if it was short enough to keep, else estimated from its size, as a prompt is. */
    int tokens() {
        return bytes < 0 ? TokenCounter.countIfUnder(text.toString(), ChatRequestParser.OFF_LOOP_BYTES)
            : (int) Math.min(Integer.MAX_VALUE, (bytes + 2) / 3);
    }

    /** The characters held. */
    int retained() {
        return text.length();
    }
}
