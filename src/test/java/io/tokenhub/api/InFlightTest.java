package io.tokenhub.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Future;
import org.junit.jupiter.api.Test;

class InFlightTest {

    private final InFlight inFlight = new InFlight();

    @Test
    void withNothingInFlightTheBarrierIsAlreadyPassed() {
        assertThat(inFlight.drained().isComplete()).isTrue();

        inFlight.end(inFlight.begin());

        assertThat(inFlight.drained().isComplete()).isTrue();
    }

    @Test
    void aBarrierWaitsForWhatBeganBeforeItAndNotForWhatBeganAfter() {
        long first = inFlight.begin();
        Future<Void> barrier = inFlight.drained();
        long second = inFlight.begin();

        assertThat(barrier.isComplete()).isFalse();
        inFlight.end(first);
        assertThat(barrier.isComplete()).isTrue();

        Future<Void> later = inFlight.drained();
        assertThat(later.isComplete()).isFalse();
        inFlight.end(second);
        assertThat(later.isComplete()).isTrue();
    }

    @Test
    void aLaterBarrierAlsoWaitsForWhatAnEarlierOneWaitsFor() {
        long first = inFlight.begin();
        Future<Void> earlier = inFlight.drained();
        long second = inFlight.begin();
        Future<Void> later = inFlight.drained();

        inFlight.end(second);
        assertThat(later.isComplete()).as("the first operation is still open").isFalse();
        assertThat(earlier.isComplete()).isFalse();

        inFlight.end(first);
        assertThat(earlier.isComplete()).isTrue();
        assertThat(later.isComplete()).isTrue();
    }

    @Test
    void twoBarriersWithNothingBegunBetweenShareTheirWait() {
        long only = inFlight.begin();
        Future<Void> one = inFlight.drained();
        Future<Void> two = inFlight.drained();

        inFlight.end(only);

        assertThat(one.isComplete()).isTrue();
        assertThat(two.isComplete()).isTrue();
    }
}
