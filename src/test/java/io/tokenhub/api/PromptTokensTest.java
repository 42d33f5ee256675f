package io.tokenhub.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.core.TokenCounter;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A usage record made on the event loop takes the tokenizer's count only where it costs the loop
 * little: a long prompt (or output) is estimated there, as its record says, never tokenized (a 512 KiB
 * prompt held the loop 48–285 ms when its client left or its provider sent no counts).
 */
class PromptTokensTest {

    @Test
    void aShortPromptIsCountedHereAndALongOneEstimatedWithoutTheTokenizer() {
        AtomicInteger tokenized = new AtomicInteger();
        PromptTokens shortPrompt = PromptTokens.estimated(100, () -> {
            tokenized.incrementAndGet();
            return 80;
        });
        assertThat(shortPrompt.countedOrEstimate()).isEqualTo(80);

        int longEstimate = (int) (ChatRequestParser.OFF_LOOP_BYTES / 3) + 1;
        PromptTokens longPrompt = PromptTokens.estimated(longEstimate, () -> {
            tokenized.incrementAndGet();
            return 1;
        });
        assertThat(longPrompt.countedOrEstimate()).isEqualTo(longEstimate);
        assertThat(tokenized).hasValue(1);
        assertThat(PromptTokens.counted(123_456).countedOrEstimate()).as("counted already").isEqualTo(123_456);
    }

    @Test
    void aLongOutputIsEstimatedFromItsSize() {
        assertThat(TokenCounter.countIfUnder("Hello, world", 1_000)).isEqualTo(TokenCounter.count("Hello, world"));
        String longText = "word ".repeat(20_000);
        assertThat(TokenCounter.countIfUnder(longText, 1_000)).isEqualTo((int) TokenCounter.estimate(longText));
    }
}
