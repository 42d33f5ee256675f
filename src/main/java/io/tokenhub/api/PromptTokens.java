package io.tokenhub.api;

import io.tokenhub.core.TokenCounter;
import io.vertx.core.Future;
import java.util.function.IntSupplier;

/**
 * A request's prompt in tokens, three ways: the {@link #estimate} that rate limits hold (cheap, on
 * the generous side; the provider's real count corrects it), the {@link #reserved} tokens the money
 * is held for (the estimate and what a provider may bill beyond what can be counted: images' detail,
 * files; see {@link TokenCounter.PromptSize#reservedOnly()}), and the tokenizer's {@link #counted}
 * figure, computed only when a usage record needs it because the provider sent no counts. Confined to
 * the request's event loop, but for a long prompt's count on a worker
 * ({@link #counted(ChatRequestParser.PromptCounter)}).
 */
final class PromptTokens {

    private final int estimate;
    private final int reservedOnly;
    private IntSupplier counter;
    private int counted = -1;

    private PromptTokens(int estimate, int reservedOnly, IntSupplier counter) {
        this.estimate = estimate;
        this.reservedOnly = reservedOnly;
        this.counter = counter;
    }

    /** Counted already: the estimate and the count are this one. */
    static PromptTokens counted(int tokens) {
        return counted(tokens, 0);
    }

    /** Counted already, with {@code reservedOnly} more tokens held for the money. */
    static PromptTokens counted(int tokens, int reservedOnly) {
        PromptTokens prompt = new PromptTokens(tokens, reservedOnly, null);
        prompt.counted = tokens;
        return prompt;
    }

    /** Estimated now, counted by {@code counter} (for example {@link TokenCounter#chatPrompt}) if ever needed. */
    static PromptTokens estimated(int estimate, IntSupplier counter) {
        return estimated(estimate, 0, counter);
    }

    /** The same, with {@code reservedOnly} more tokens held for the money. */
    static PromptTokens estimated(int estimate, int reservedOnly, IntSupplier counter) {
        return new PromptTokens(estimate, reservedOnly, counter);
    }

    /** For the rate limits, and a usage record's estimate. */
    int estimate() {
        return estimate;
    }

    /** For the money reserved (a wallet, a plan, a key's cap): the estimate and what only the money counts. */
    int reserved() {
        return (int) Math.min(Integer.MAX_VALUE, (long) estimate + reservedOnly);
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
