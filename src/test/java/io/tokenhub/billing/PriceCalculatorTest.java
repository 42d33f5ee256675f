package io.tokenhub.billing;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.config.TokenHubConfig.Pricing;
import io.tokenhub.core.Usage;
import org.junit.jupiter.api.Test;

class PriceCalculatorTest {

    private static final Pricing GPT_4O_MINI = new Pricing(0.15, 0.075, 0.15, 0.60, 0);

    @Test
    void costIsExactMicroUsdRoundedHalfUpOncePerRequest() {
        // 1000 × 0.15 + 500 × 0.60 = 150 + 300
        assertThat(PriceCalculator.chatCost(GPT_4O_MINI, new Usage(1000, 0, 500, 0, false))).isEqualTo(450);
        // 3 × 0.15 = 0.45 → 0;  5 × 0.15 = 0.75 → 1;  (0.45 + 0.6) = 1.05 → 1
        assertThat(PriceCalculator.chatCost(GPT_4O_MINI, new Usage(3, 0, 0, 0, false))).isZero();
        assertThat(PriceCalculator.chatCost(GPT_4O_MINI, new Usage(5, 0, 0, 0, false))).isEqualTo(1);
        assertThat(PriceCalculator.chatCost(GPT_4O_MINI, new Usage(3, 0, 1, 0, false))).isEqualTo(1);
    }

    @Test
    void cachedTokensAreChargedAtTheCachedPriceInsteadOfTheInputPrice() {
        // 200 uncached × 0.15 + 800 cached × 0.075 = 30 + 60
        assertThat(PriceCalculator.chatCost(GPT_4O_MINI, new Usage(1000, 800, 0, 0, false))).isEqualTo(90);
    }

    @Test
    void reasoningTokensAreInsideCompletionTokensAndChargedOnce() {
        Usage withReasoning = new Usage(0, 0, 1000, 900, false);
        assertThat(PriceCalculator.chatCost(GPT_4O_MINI, withReasoning)).isEqualTo(600);
    }

    @Test
    void rerankChargesOneSearch() {
        Pricing rerank = new Pricing(0, 0, 0, 0, 0.002);
        assertThat(PriceCalculator.rerankCost(rerank, new Usage(1234, 0, 0, 0, false))).isEqualTo(2000);
    }

    @Test
    void usdForJsonIsExactDecimal() {
        assertThat(PriceCalculator.toUsd(450).toPlainString()).isEqualTo("0.00045");
        assertThat(PriceCalculator.toUsd(1_000_000).toPlainString()).isEqualTo("1");
    }
}
