package io.tokenhub.api;

import io.tokenhub.core.TokenCounter;
import io.vertx.core.Future;
import java.util.function.IntSupplier;

/**
 * A request's prompt in tokens, two ways: the {@link #estimate} that rate limits and reservations
 * hold (cheap, on the generous side; the provider's real count corrects both), and the tokenizer's
 * {@link #counted} figure, computed only when a usage record needs it because the provider sent no
 * counts. Confined to the request's event loop, but for a long prompt's count on a worker
 * ({@link #counted(ChatRequestParser.PromptCounter)}).
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

    /**
     * {@link #counted} if it costs the event loop little: counted already, or a prompt short enough
     * to tokenize here; else the {@link #estimate} (generous), for a usage record that must be made
     * now and is marked estimated. Until 2026-12-08 a long prompt was tokenized here (a 512 KiB one
     * held the loop 48–285 ms, a review measured) when the client left or the provider sent no counts.
     */
    int countedOrEstimate() {
        return counted >= 0 || (long) estimate * 3 <= ChatRequestParser.OFF_LOOP_BYTES ? counted() : estimate;
    }

    /**
     * {@link #counted}, by {@code offLoop} when the prompt is long enough that tokenizing it would
     * hold the event loop (its estimate at three bytes a token over {@link ChatRequestParser#OFF_LOOP_BYTES}).
     * The count is made on a worker then, and read back on the loop once the future completes.
     */
    Future<Integer> counted(ChatRequestParser.PromptCounter offLoop) {
        return counted >= 0 ? Future.succeededFuture(counted) : offLoop.count((long) estimate * 3, this::counted);
    }
}
