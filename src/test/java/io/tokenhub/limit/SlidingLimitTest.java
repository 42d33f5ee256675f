package io.tokenhub.limit;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
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
    void aCountThatDoesNotAnswerOrThrowsFailsTheEventInsteadOfHoldingIt() throws Exception {
        // Given a cluster's count that never answers, and one that throws
        SharedCounter silent = new SilentCounter();
        LocalCounter local = new LocalCounter();
        SharedCounter throwing = new SharedCounter() {
            @Override
            public Future<Grant> take(String window, long want, long limit) {
                return local.take(window, want, limit);
            }

            @Override
            public Future<Long> used(String window) {
                throw new IllegalStateException("the member is leaving");
            }

            @Override
            public Future<Void> release(String window, long units) {
                return local.release(window, units);
            }
        };
        Vertx vertx = Vertx.vertx();
        try {
            for (SharedCounter counter : new SharedCounter[] {silent, throwing}) {
                SlidingLimit sliding = new SlidingLimit(counter, "test", 10, clock);
                CompletableFuture<Throwable> failed = new CompletableFuture<>();
                // When an event is counted on an event loop
                vertx.runOnContext(v -> sliding.tryTake("a").onComplete(ar -> failed.complete(ar.cause())));

                // Then it fails, within a bounded wait, rather than never completing or throwing at the caller
                assertThat(failed.get(10, TimeUnit.SECONDS)).isNotNull();
            }
        } finally {
            vertx.close();
        }
    }

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
