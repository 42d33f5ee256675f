package io.tokenhub.billing;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.config.TokenHubConfig.Pricing;
import io.tokenhub.core.Usage;
import io.vertx.core.json.JsonObject;
import java.math.BigDecimal;
import java.math.RoundingMode;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.BigRange;
import net.jqwik.api.constraints.LongRange;
import net.jqwik.api.constraints.Scale;
import org.junit.jupiter.api.Test;

class PriceCalculatorTest {

    private static final Pricing GPT_4O_MINI = new Pricing(0.15, 0.075, 0.15, 0.60, 0);
    /** Claude Sonnet: cache reads at a tenth of the input price, cache writes at 1.25×. */
    private static final Pricing SONNET = new Pricing(3.0, 0.30, 3.75, 15.0, 0);

    @Test
    void aReservationHoldsTheDearestThePromptCanBeCharged() {
        // Sonnet writes to its cache at 3.75 against 3.0 input: 1000 prompt tokens may all be cache writes.
        assertThat(PriceCalculator.reservationCost(SONNET, 1_000, 100)).isEqualTo(3_750 + 1_500);
        // Where a cache write costs no more than input, the prompt is held at the input price.
        assertThat(PriceCalculator.reservationCost(GPT_4O_MINI, 1_000, 100)).isEqualTo(150 + 60);
    }

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
    void halfAMicroUsdRoundsUpAndJustUnderRoundsDown() {
        Pricing onePicoPerToken = new Pricing(0.000001, 0, 0, 0, 0);
        assertThat(PriceCalculator.chatCost(onePicoPerToken, new Usage(500_000, 0, 0, 0, false))).isEqualTo(1);
        assertThat(PriceCalculator.chatCost(onePicoPerToken, new Usage(499_999, 0, 0, 0, false))).isZero();
    }

    @Test
    void sixDecimalPricesAreChargedExactlyWhereDoubleArithmeticWouldMissTheHalf() {
        // 5.616457 × 5 500 000 = 30 890 513.5 exactly → 30 890 514; in doubles it is 30890513.499999996.
        Pricing price = new Pricing(5.616457, 0, 0, 0, 0);
        assertThat(PriceCalculator.chatCost(price, new Usage(5_500_000, 0, 0, 0, false))).isEqualTo(30_890_514);
    }

    @Test
    void cachedTokensAreChargedAtTheCachedPriceInsteadOfTheInputPrice() {
        // 200 uncached × 0.15 + 800 cached × 0.075 = 30 + 60
        assertThat(PriceCalculator.chatCost(GPT_4O_MINI, new Usage(1000, 800, 0, 0, false))).isEqualTo(90);
    }

    @Test
    void cacheWritesAreChargedAtTheCacheWritePriceAndCacheReadsAtTheCachedPrice() {
        // prompt 3400 = 1000 fresh + 2000 cache read + 400 cache write, and 500 output:
        // 1000 × 3.0 + 2000 × 0.30 + 400 × 3.75 + 500 × 15.0 = 3000 + 600 + 1500 + 7500
        Usage usage = new Usage(3400, 2000, 400, 500, 0, false);
        assertThat(PriceCalculator.chatCost(SONNET, usage)).isEqualTo(12_600);
        // The same prompt without the cache write costs 400 × (3.75 − 3.0) = 300 less.
        assertThat(PriceCalculator.chatCost(SONNET, new Usage(3400, 2000, 500, 0, false))).isEqualTo(12_300);
    }

    @Test
    void reasoningTokensAreInsideCompletionTokensAndChargedOnce() {
        Usage withReasoning = new Usage(0, 0, 1000, 900, false);
        assertThat(PriceCalculator.chatCost(GPT_4O_MINI, withReasoning)).isEqualTo(600);
    }

    @Test
    void rerankChargesOneSearchPlusItsTokensRoundedOnce() {
        Pricing rerank = new Pricing(0, 0, 0, 0, 0.002);
        assertThat(PriceCalculator.rerankCost(rerank, new Usage(1234, 0, 0, 0, false))).isEqualTo(2000);
        // 2000 + 5 × 0.15 = 2000.75 → 2001
        Pricing rerankWithTokens = new Pricing(0.15, 0.15, 0.15, 0, 0.002);
        assertThat(PriceCalculator.rerankCost(rerankWithTokens, new Usage(5, 0, 0, 0, false))).isEqualTo(2001);
    }

    @Test
    void anAbsurdCountIsBoundedAndPricedExactly() {
        Usage absurd = new Usage(Long.MAX_VALUE / 1_000_000, 0, 0, 0, false);

        assertThat(absurd.promptTokens()).isEqualTo(Usage.MAX_TOKENS);
        // 2^31 - 1 tokens at 3 USD per 1M = 3 micro-USD each.
        assertThat(PriceCalculator.chatCost(SONNET, absurd)).isEqualTo(3 * Usage.MAX_TOKENS);
    }

    @Test
    void aSumBeyondALongStopsAtItsMaximumInsteadOfWrappingOrFailing() {
        Pricing dearest = new Pricing(10_000, 10_000, 10_000, 10_000, 0);
        Usage most = new Usage(Usage.MAX_TOKENS, 0, 0, Usage.MAX_TOKENS, 0, false);

        // Long.MAX_VALUE pico-USD, rounded to micro-USD.
        assertThat(PriceCalculator.chatCost(dearest, most)).isEqualTo(9_223_372_036_855L);
        assertThat(PriceCalculator.rerankCost(new Pricing(10_000, 10_000, 10_000, 10_000, 10_000), most))
            .isEqualTo(9_223_372_036_855L);
    }

    /** The integer pico-USD sum agrees with exact decimal arithmetic for every price the config accepts. */
    @Property(tries = 2000)
    void costEqualsTheExactDecimalSumRoundedHalfUp(
        @ForAll @BigRange(min = "0", max = "10000") @Scale(6) BigDecimal input,
        @ForAll @BigRange(min = "0", max = "10000") @Scale(6) BigDecimal cachedInput,
        @ForAll @BigRange(min = "0", max = "10000") @Scale(6) BigDecimal cacheWrite,
        @ForAll @BigRange(min = "0", max = "10000") @Scale(6) BigDecimal output,
        @ForAll @LongRange(max = 30_000_000) long fresh, @ForAll @LongRange(max = 30_000_000) long cached,
        @ForAll @LongRange(max = 30_000_000) long written, @ForAll @LongRange(max = 10_000_000) long completion) {
        Pricing pricing = new Pricing(input.doubleValue(), cachedInput.doubleValue(), cacheWrite.doubleValue(),
            output.doubleValue(), 0);
        Usage usage = new Usage(fresh + cached + written, cached, written, completion, 0, false);

        BigDecimal exact = input.multiply(BigDecimal.valueOf(fresh))
            .add(cachedInput.multiply(BigDecimal.valueOf(cached)))
            .add(cacheWrite.multiply(BigDecimal.valueOf(written)))
            .add(output.multiply(BigDecimal.valueOf(completion)));
        assertThat(PriceCalculator.chatCost(pricing, usage))
            .isEqualTo(exact.setScale(0, RoundingMode.HALF_UP).longValueExact());
    }

    @Test
    void usdForJsonIsAPlainDecimalOnTheWire() {
        assertThat(wire(450)).isEqualTo("{\"cost\":0.00045}");
        assertThat(wire(1_000_000)).isEqualTo("{\"cost\":1}");
        assertThat(wire(10_000_000)).isEqualTo("{\"cost\":10}");
        assertThat(wire(100_000_000)).isEqualTo("{\"cost\":100}");
        assertThat(wire(0)).isEqualTo("{\"cost\":0}");
        assertThat(wire(1)).isEqualTo("{\"cost\":0.000001}");
        assertThat(wire(12_500_000)).isEqualTo("{\"cost\":12.5}");
        assertThat(wire(Long.MAX_VALUE)).isEqualTo("{\"cost\":9223372036854.775807}");
        assertThat(wire(9_000_000_000_000_000L)).isEqualTo("{\"cost\":9000000000}");
    }

    private static String wire(long microUsd) {
        return new JsonObject().put("cost", PriceCalculator.toUsd(microUsd)).encode();
    }
}
