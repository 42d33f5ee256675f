package io.tokenhub.billing;

import io.tokenhub.config.TokenHubConfig.Pricing;
import io.tokenhub.core.Usage;
import java.math.BigDecimal;
import java.math.RoundingMode;

/**
 * Costs in integer micro-USD. A price of P USD per 1M tokens is exactly P micro-USD per token, so
 * the cost is the exact decimal sum over token kinds, rounded half-up once per request:
 * {@code (prompt - cached) × input + cached × cached_input + completion × output}. Reasoning
 * tokens are inside completion tokens and are charged once, as output.
 */
public final class PriceCalculator {

    private PriceCalculator() {
    }

    public static long chatCost(Pricing pricing, Usage usage) {
        long uncached = Math.max(0, usage.promptTokens() - usage.cachedTokens());
        BigDecimal total = BigDecimal.valueOf(pricing.input()).multiply(BigDecimal.valueOf(uncached))
            .add(BigDecimal.valueOf(pricing.cachedInput()).multiply(BigDecimal.valueOf(usage.cachedTokens())))
            .add(BigDecimal.valueOf(pricing.output()).multiply(BigDecimal.valueOf(usage.completionTokens())));
        return total.setScale(0, RoundingMode.HALF_UP).longValueExact();
    }

    /** A rerank request is one search at {@code per_search}, plus any per-token price on its tokens. */
    public static long rerankCost(Pricing pricing, Usage usage) {
        return BigDecimal.valueOf(pricing.perSearch()).movePointRight(6).setScale(0, RoundingMode.HALF_UP)
            .longValueExact() + chatCost(pricing, usage);
    }

    /** Exact USD for JSON ({@code usage.cost}), without binary floating-point noise. */
    public static BigDecimal toUsd(long microUsd) {
        return BigDecimal.valueOf(microUsd).movePointLeft(6).stripTrailingZeros();
    }
}
