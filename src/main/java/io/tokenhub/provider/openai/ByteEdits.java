package io.tokenhub.provider.openai;

import io.vertx.core.buffer.Buffer;

/**
 * A few replacements of spans of one byte array, written out in a single pass: what stays is
 * copied as it is, each span becomes its replacement. Spans must not overlap; an insertion is an
 * empty span. Added in any order; for a handful of edits, as here, a sort by hand is enough.
 */
final class ByteEdits {

    private static final int MAX = 4;

    private final byte[] source;
    private final int[] starts = new int[MAX];
    private final int[] ends = new int[MAX];
    private final Buffer[] replacements = new Buffer[MAX];
    private int count;

    ByteEdits(byte[] source) {
        this.source = source;
    }

    /** Replaces {@code source[start, end)} with {@code replacement}. */
    ByteEdits replace(int start, int end, Buffer replacement) {
        int at = count++;
        // Insertion sort by start; equal starts keep the order they were added in.
        while (at > 0 && starts[at - 1] > start) {
            starts[at] = starts[at - 1];
            ends[at] = ends[at - 1];
            replacements[at] = replacements[at - 1];
            at--;
        }
        starts[at] = start;
        ends[at] = end;
        replacements[at] = replacement;
        return this;
    }

    ByteEdits insert(int at, Buffer insertion) {
        return replace(at, at, insertion);
    }

    /** Appends the edited bytes to {@code out}. */
    Buffer writeTo(Buffer out) {
        int from = 0;
        for (int i = 0; i < count; i++) {
            out.appendBytes(source, from, starts[i] - from);
            out.appendBuffer(replacements[i]);
            from = ends[i];
        }
        return out.appendBytes(source, from, source.length - from);
    }
}
