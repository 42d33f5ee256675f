package io.tokenhub.limit;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

class SlidingLimitTest {

    /** The start of the current minute: the local counter drops windows older than the last minute. */
    private final long minute = System.currentTimeMillis() / 60_000 * 60_000;
    private long now = minute;
    private final Clock clock = new Clock() {
        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return Instant.ofEpochMilli(now);
        }
    };
    private final SlidingLimit limit = new SlidingLimit(new LocalCounter(), "test", 10, clock);

    @Test
    void aBurstJustBeforeAWindowEndsIsNotLetThroughAgainJustAfterIt() {
        // Given ten events half a second before the minute ends
        now = minute + 59_500;
        assertThat(takes("a", 10)).isEqualTo(10);

        // When more come a second later, in the next window
        now = minute + 60_500;

        // Then none is admitted: the last minute's ten still count
        assertThat(takes("a", 5)).isZero();
    }

    @Test
    void theLastMinutesEventsCountForTheShareOfItTheSlidingMinuteStillCovers() {
        // Given ten events at the end of one minute
        now = minute + 59_900;
        takes("b", 10);

        // When half of the next minute has passed
        now = minute + 90_000;

        // Then half of them still count: five more are admitted, not ten
        assertThat(takes("b", 10)).isEqualTo(5);
    }

    @Test
    void aRefusalCountsNothingAndEachSubjectHasItsOwnLimit() {
        // Given a subject at its limit, refused three times more, and another subject meanwhile
        now = minute + 1_000;
        assertThat(takes("c", 10)).isEqualTo(10);
        assertThat(takes("c", 3)).isZero();
        assertThat(takes("d", 10)).isEqualTo(10);

        // When half of the next minute has passed
        now = minute + 90_000;

        // Then half of the ten admitted still count, none of the refused: five more (three if the
        // refusals had counted)
        assertThat(takes("c", 10)).isEqualTo(5);
    }

    @Test
    void eachSubjectTriedMakesOneWindowAndABoundedCounterKeepsNoMoreThanItsSize() {
        // Given a roomy counter and one of at most 100 windows
        LocalCounter roomy = new LocalCounter(100_000);
        LocalCounter small = new LocalCounter(100);
        now = minute + 1_000;

        // When a thousand subjects are tried once on each
        for (int i = 0; i < 1_000; i++) {
            join(new SlidingLimit(roomy, "test", 10, clock).tryTake("subject-" + i));
            join(new SlidingLimit(small, "test", 10, clock).tryTake("subject-" + i));
        }

        // Then each made one window (reading the last minute's creates none), and the small one
        // dropped the least recently used beyond its size
        assertThat(roomy.size()).isEqualTo(1_000);
        assertThat(small.size()).isLessThanOrEqualTo(100);
    }

    private static boolean join(io.vertx.core.Future<Boolean> admitted) {
        return admitted.toCompletionStage().toCompletableFuture().join();
    }

    private int takes(String subject, int times) {
        int admitted = 0;
        for (int i = 0; i < times; i++) {
            if (join(limit.tryTake(subject))) {
                admitted++;
            }
        }
        return admitted;
    }
}
