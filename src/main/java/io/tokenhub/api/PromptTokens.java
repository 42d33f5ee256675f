package io.tokenhub.api;

import io.tokenhub.core.TokenCounter;
import java.util.function.IntSupplier;

/**
 * A request's prompt in tokens, two ways: the {@link #estimate} that rate limits and reservations
 * hold (cheap, on the generous side; the provider's real count corrects both), and the tokenizer's
 * {@link #counted} figure, computed only when a usage record needs it because the provider sent no
 * counts. Confined to the request's event loop.
 */
final class PromptTokens {

    private final int estimate;
    private IntSupplier counter;
    private int counted = -1;

    private PromptTokens(int estimate, IntSupplier counter) {
        this.estimate = estimate;
        this.counter = counter;
    }

    /** Counted already: both figures are this one. */
    static PromptTokens counted(int tokens) {
        PromptTokens prompt = new PromptTokens(tokens, null);
        prompt.counted = tokens;
        return prompt;
    }

    /** Estimated now, counted by {@code counter} (for example {@link TokenCounter#chatPrompt}) if ever needed. */
    static PromptTokens estimated(int estimate, IntSupplier counter) {
        return new PromptTokens(estimate, counter);
    }

    int estimate() {
        return estimate;
    }

    int counted() {
        if (counted < 0) {
            counted = counter.getAsInt();
            counter = null;
        }
        return counted;
    }
}
