package io.tokenhub.provider;

import io.vertx.core.buffer.Buffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.function.BiConsumer;

/**
 * Incremental Server-Sent Events parser: feed it the body as it arrives in buffers of any size; it
 * calls back once per complete event with the event name (null when none was given) and the data
 * lines joined by newlines, as the UTF-8 bytes they came in (the data is usually JSON, which is
 * parsed from bytes). Comments and {@code id}/{@code retry} fields are ignored; whether a buffer held
 * more than comments and blank lines is what {@link #feed} answers.
 */
public final class SseParser {

    private static final byte[] DATA = "data".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] EVENT = "event".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] NEWLINE = {'\n'};
    /**
     * The longest event (or line) taken: past it the stream fails ({@link TooLarge}). A provider that
     * sends a line without its end would otherwise have it buffered, doubling, until the heap ran
     * out; Jackson refuses a JSON string past 20 million characters anyway.
     */
    public static final int MAX_EVENT_BYTES = 16 << 20;
    private static final byte[] BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};

    /** An event or a line longer than {@link #MAX_EVENT_BYTES}. */
    public static final class TooLarge extends RuntimeException {
        TooLarge() {
            super("an event over " + (MAX_EVENT_BYTES >> 20) + " MiB in the stream", null, false, false);
        }
    }

    private final BiConsumer<String, byte[]> onEvent;
    private byte[] line = new byte[256];
    private int lineLength;
    private boolean skipNextLf;
    private String event;
    private byte[] data = new byte[256];
    private int dataLength = -1;
    /** Whether the body's first bytes were seen (a byte order mark there is dropped, as SSE says). */
    private boolean started;

    public SseParser(BiConsumer<String, byte[]> onEvent) {
        this.onEvent = onEvent;
    }

    /**
     * Reads the next part of the body, calling back for each event it completes. Answers whether the
     * buffer held any of a field line, whole or in part: comments and blank lines alone are no sign
     * of the upstream's progress (some keep a connection open with them while the answer waits).
     *
     * @throws TooLarge once an event or a line passes {@link #MAX_EVENT_BYTES}
     */
    public boolean feed(Buffer buffer) {
        byte[] bytes = buffer.getBytes();
        boolean fields = false;
        int from = 0;
        if (!started && bytes.length > 0) {
            // A BOM cut across buffers is not looked for: hardly any provider sends one at all.
            started = true;
            if (bytes.length >= BOM.length && Arrays.equals(bytes, 0, BOM.length, BOM, 0, BOM.length)) {
                from = BOM.length;
            }
        }
        if (skipNextLf && bytes.length > 0) {
            skipNextLf = false;
            if (bytes[0] == '\n') {
                from = 1;
            }
        }
        while (from < bytes.length) {
            int end = from;
            while (end < bytes.length && bytes[end] != '\n' && bytes[end] != '\r') {
                end++;
            }
            // A line begun in an earlier buffer is a comment if its first byte there was the colon.
            fields |= lineLength == 0 ? end > from && bytes[from] != ':' : line[0] != ':';
            if (end == bytes.length) {
                // A line cut by the buffer's end: kept until the rest comes.
                appendLine(bytes, from, end - from);
                return fields;
            }
            if (lineLength == 0) {
                line(bytes, from, end - from);
            } else {
                appendLine(bytes, from, end - from);
                int length = lineLength;
                lineLength = 0;
                line(line, 0, length);
            }
            from = end + 1;
            if (bytes[end] == '\r') {
                if (from == bytes.length) {
                    skipNextLf = true;
                } else if (bytes[from] == '\n') {
                    from++;
                }
            }
        }
        return fields;
    }

    /** The body ended: a last event without its blank line is still delivered. */
    public void end() {
        if (lineLength > 0) {
            endOfLine();
        }
        dispatch();
    }

    private void endOfLine() {
        int length = lineLength;
        lineLength = 0;
        line(line, 0, length);
    }

    private void appendLine(byte[] bytes, int from, int length) {
        if (lineLength + length > MAX_EVENT_BYTES) {
            throw new TooLarge();
        }
        if (lineLength + length > line.length) {
            line = Arrays.copyOf(line, Math.max(line.length * 2, lineLength + length));
        }
        System.arraycopy(bytes, from, line, lineLength, length);
        lineLength += length;
    }

    /** One line, without its end: a blank line ends the event, a field adds to it. */
    private void line(byte[] bytes, int from, int length) {
        if (length == 0) {
            dispatch();
            return;
        }
        int end = from + length;
        int colon = from;
        while (colon < end && bytes[colon] != ':') {
            colon++;
        }
        if (colon == from) {
            return; // a comment
        }
        int value = Math.min(colon + 1, end);
        if (value < end && bytes[value] == ' ') {
            value++;
        }
        if (Arrays.equals(bytes, from, colon, DATA, 0, DATA.length)) {
            if (dataLength >= 0) {
                appendData(NEWLINE, 0, 1);
            } else {
                dataLength = 0;
            }
            appendData(bytes, value, end - value);
        } else if (Arrays.equals(bytes, from, colon, EVENT, 0, EVENT.length)) {
            event = new String(bytes, value, end - value, StandardCharsets.UTF_8);
        }
    }

    private void appendData(byte[] bytes, int from, int length) {
        if (dataLength + length > MAX_EVENT_BYTES) {
            throw new TooLarge();
        }
        if (dataLength + length > data.length) {
            data = Arrays.copyOf(data, Math.max(data.length * 2, dataLength + length));
        }
        System.arraycopy(bytes, from, data, dataLength, length);
        dataLength += length;
    }

    private void dispatch() {
        String name = event;
        event = null;
        if (dataLength >= 0) {
            byte[] payload = Arrays.copyOf(data, dataLength);
            dataLength = -1;
            onEvent.accept(name, payload);
        }
    }
}
