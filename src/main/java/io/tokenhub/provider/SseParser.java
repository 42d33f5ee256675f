package io.tokenhub.provider;

import io.vertx.core.buffer.Buffer;
import java.nio.charset.StandardCharsets;
import java.util.function.BiConsumer;

/**
 * Incremental Server-Sent Events parser: feed it the body as it arrives in buffers of any size; it
 * calls back once per complete event with the event name (null when none was given) and the data
 * lines joined by newlines. Comments and {@code id}/{@code retry} fields are ignored.
 */
public final class SseParser {

    private final BiConsumer<String, String> onEvent;
    private byte[] line = new byte[256];
    private int lineLength;
    private boolean skipNextLf;
    private String event;
    private StringBuilder data;

    public SseParser(BiConsumer<String, String> onEvent) {
        this.onEvent = onEvent;
    }

    public void feed(Buffer buffer) {
        int length = buffer.length();
        for (int i = 0; i < length; i++) {
            byte b = buffer.getByte(i);
            if (skipNextLf) {
                skipNextLf = false;
                if (b == '\n') {
                    continue;
                }
            }
            if (b == '\n' || b == '\r') {
                skipNextLf = b == '\r';
                endOfLine();
            } else {
                append(b);
            }
        }
    }

    /** The body ended: a last event without its blank line is still delivered. */
    public void end() {
        if (lineLength > 0) {
            endOfLine();
        }
        dispatch();
    }

    private void append(byte b) {
        if (lineLength == line.length) {
            byte[] bigger = new byte[line.length * 2];
            System.arraycopy(line, 0, bigger, 0, lineLength);
            line = bigger;
        }
        line[lineLength++] = b;
    }

    private void endOfLine() {
        if (lineLength == 0) {
            dispatch();
            return;
        }
        String text = new String(line, 0, lineLength, StandardCharsets.UTF_8);
        lineLength = 0;
        int colon = text.indexOf(':');
        if (colon == 0) {
            return;
        }
        String field = colon < 0 ? text : text.substring(0, colon);
        String value = colon < 0 ? "" : text.substring(colon + 1);
        if (value.startsWith(" ")) {
            value = value.substring(1);
        }
        if (field.equals("data")) {
            if (data == null) {
                data = new StringBuilder(value);
            } else {
                data.append('\n').append(value);
            }
        } else if (field.equals("event")) {
            event = value;
        }
    }

    private void dispatch() {
        if (data != null) {
            String name = event;
            String payload = data.toString();
            data = null;
            event = null;
            onEvent.accept(name, payload);
        } else {
            event = null;
        }
    }
}
