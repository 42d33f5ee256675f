package io.tokenhub.provider;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.buffer.Buffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class SseParserTest {

    private final List<String> events = new ArrayList<>();
    private final SseParser parser = new SseParser((name, data) ->
        events.add(name + "|" + new String(data, java.nio.charset.StandardCharsets.UTF_8)));

    @Test
    void eventsSplitAcrossBuffersAtAnyByteAreReassembled() {
        String stream = "event: message_start\ndata: {\"a\":1}\n\n: comment\ndata: x\ndata: y\n\nid: 7\ndata: [DONE]\n\n";
        byte[] bytes = stream.getBytes();
        for (byte b : bytes) {
            parser.feed(Buffer.buffer(new byte[] {b}));
        }

        assertThat(events).containsExactly("message_start|{\"a\":1}", "null|x\ny", "null|[DONE]");
    }

    @Test
    void crlfAndCrLineEndingsAreAccepted() {
        parser.feed(Buffer.buffer("data: one\r\n\r\ndata: two\r\rdata:three\n\n"));

        assertThat(events).containsExactly("null|one", "null|two", "null|three");
    }

    @Test
    void crlfSplitAnywhereStillEndsOneLine() {
        byte[] bytes = "data: a\r\ndata: b\r\n\r\ndata: c\r\r".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        for (int cut = 0; cut <= bytes.length; cut++) {
            events.clear();
            SseParser split = new SseParser((name, data) ->
                events.add(name + "|" + new String(data, java.nio.charset.StandardCharsets.UTF_8)));
            split.feed(Buffer.buffer(java.util.Arrays.copyOfRange(bytes, 0, cut)));
            split.feed(Buffer.buffer(java.util.Arrays.copyOfRange(bytes, cut, bytes.length)));

            assertThat(events).as("cut at %d", cut).containsExactly("null|a\nb", "null|c");
        }
    }

    @Test
    void multiByteCharactersSplitAcrossBuffersSurvive() {
        byte[] bytes = "data: héllo 你好\n\n".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        parser.feed(Buffer.buffer(java.util.Arrays.copyOfRange(bytes, 0, 9)));
        parser.feed(Buffer.buffer(java.util.Arrays.copyOfRange(bytes, 9, bytes.length)));

        assertThat(events).containsExactly("null|héllo 你好");
    }

    @Test
    void onlyABufferWithSomeOfAFieldLineIsTheUpstreamsProgress() {
        // Comments and blank lines alone, whole or cut anywhere, are not
        assertThat(parser.feed(Buffer.buffer(": keep-alive\n\n"))).isFalse();
        assertThat(parser.feed(Buffer.buffer("\r\n\n"))).isFalse();
        assertThat(parser.feed(Buffer.buffer(": keep"))).isFalse();
        assertThat(parser.feed(Buffer.buffer("-alive\n"))).isFalse();
        // Any part of a field line is, the end of one begun earlier too
        assertThat(parser.feed(Buffer.buffer(": keep-alive\nda"))).isTrue();
        assertThat(parser.feed(Buffer.buffer("ta: x"))).isTrue();
        assertThat(parser.feed(Buffer.buffer("\n"))).isTrue();
        assertThat(parser.feed(Buffer.buffer("\n"))).isFalse();

        assertThat(events).containsExactly("null|x");
    }

    @Test
    void aLastEventWithoutItsBlankLineIsDeliveredAtTheEnd() {
        parser.feed(Buffer.buffer("data: tail"));
        assertThat(events).isEmpty();

        parser.end();

        assertThat(events).containsExactly("null|tail");
    }
}
