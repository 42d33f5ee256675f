package io.tokenhub.billing;

import io.tokenhub.config.TokenHubConfig.Pricing;
import io.tokenhub.core.Usage;
import java.math.BigDecimal;

/**
 * Costs in integer micro-USD, computed exactly in {@code long} arithmetic. A price of P USD per 1M
 * tokens is P × 10^6 pico-USD per token, a whole number because prices have at most 6 decimals
 * (the config loader refuses more); a request's cost is the pico-USD sum
 * {@code (prompt − cached − cache_write) × input + cached × cached_input + cache_write × cache_write
 * + completion × output}, rounded half-up to micro-USD once. Reasoning tokens are inside completion
 * tokens and are charged once, as output. An overflow (beyond about 9 million USD in one request)
 * throws instead of wrapping.
 */
public final class PriceCalculator {

    private static final long PICO_PER_MICRO = 1_000_000;

    private PriceCalculator() {
    }

    public static long chatCost(Pricing pricing, Usage usage) {
        return roundToMicro(tokenPico(pricing, usage));
    }

    /**
     * The most a chat request can cost, what its reservation holds: every prompt token at the dearer
     * of input and cache write (a provider may write the whole prompt to its cache), plus the output
     * limit.
     */
    public static long reservationCost(Pricing pricing, long promptTokens, long maxTokens) {
        long cacheWrite = pricing.cacheWrite() > pricing.input() ? promptTokens : 0;
        return chatCost(pricing, new Usage(promptTokens, 0, cacheWrite, maxTokens, 0, true));
    }

    /** A rerank request is one search at {@code per_search} (USD), plus any per-token price on its tokens. */
    public static long rerankCost(Pricing pricing, Usage usage) {
        long searchPico = Math.multiplyExact(Math.round(pricing.perSearch() * 1_000_000), PICO_PER_MICRO);
        long pico = searchPico + tokenPico(pricing, usage);
        return roundToMicro(pico < 0 ? Long.MAX_VALUE : pico);
    }

    /**
     * Exact USD for JSON ({@code usage.cost}): always a plain decimal without trailing zeros, so
     * $10 is written {@code 10}, not the {@code 1E+1} that {@link BigDecimal#stripTrailingZeros()}
     * alone would give.
     */
    public static BigDecimal toUsd(long microUsd) {
        BigDecimal usd = BigDecimal.valueOf(microUsd, 6).stripTrailingZeros();
        return usd.scale() < 0 ? usd.setScale(0) : usd;
    }

    /**
     * Counts are at most {@link Usage#MAX_TOKENS} and prices at most 10,000 USD per 1M tokens, so a
     * sum can still pass {@code Long.MAX_VALUE} (about 9.2 million USD) only for absurd figures: it
     * stops there rather than fail, and the request is answered and recorded all the same.
     */
    private static long tokenPico(Pricing pricing, Usage usage) {
        try {
            return exactTokenPico(pricing, usage);
        } catch (ArithmeticException overflow) {
            return Long.MAX_VALUE;
        }
    }

    private static long exactTokenPico(Pricing pricing, Usage usage) {
        long cached = Math.max(0, usage.cachedTokens());
        long cacheWrite = Math.max(0, usage.cacheWriteTokens());
        long uncached = Math.max(0, usage.promptTokens() - cached - cacheWrite);
        long sum = Math.multiplyExact(uncached, picoPerToken(pricing.input()));
        sum = Math.addExact(sum, Math.multiplyExact(cached, picoPerToken(pricing.cachedInput())));
        sum = Math.addExact(sum, Math.multiplyExact(cacheWrite, picoPerToken(pricing.cacheWrite())));
        return Math.addExact(sum, Math.multiplyExact(Math.max(0, usage.completionTokens()),
            picoPerToken(pricing.output())));
    }

    /**
     * USD per 1M tokens → pico-USD per token. Exact for the prices the config loader accepts (at most
     * 6 decimals, at most 10,000): the double nearest such a price, times 10^6, is within far less
     * than ½ of the whole number it stands for.
     */
    private static long picoPerToken(double usdPerMillionTokens) {
        return Math.round(usdPerMillionTokens * 1_000_000);
    }

    private static long roundToMicro(long pico) {
        // Half up, without the addition that could pass Long.MAX_VALUE.
        return pico / PICO_PER_MICRO + (pico % PICO_PER_MICRO >= PICO_PER_MICRO / 2 ? 1 : 0);
    }
}
