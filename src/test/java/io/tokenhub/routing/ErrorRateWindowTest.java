package io.tokenhub.routing;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The error-rate trip: half the calls failing over at least 20, never before max_failures failures. */
class ErrorRateWindowTest {

    @Test
    void halfOfTwentyCallsFailingTrips() {
        ErrorRateWindow window = new ErrorRateWindow(30_000, 20, 5, 0.5);
        // four failures, then a success, over and over: never five in a row
        boolean tripped = false;
        int calls = 0;
        while (!tripped && calls < 100) {
            calls++;
            tripped = window.record(calls % 5 == 0);
        }
        assertThat(tripped).isTrue();
        // 20 calls, 16 failed, but the 20th was a success: a success never trips, the failure after it does
        assertThat(calls).isEqualTo(21);
    }

    @Test
    void aFewFailuresAmongManySuccessesDoNotTrip() {
        ErrorRateWindow window = new ErrorRateWindow(30_000, 20, 5, 0.5);
        for (int i = 0; i < 100; i++) {
            assertThat(window.record(i % 3 != 0)).as("call %d", i).isFalse();
        }
        assertThat(window.errorRate()).isBetween(0.3, 0.4);
    }

    @Test
    void neverTripsBeforeTheConsecutiveRuleWouldWhenEveryCallFails() {
        // max_failures 25: the upstream must see 25 failing calls, not the 20 the rate alone would allow
        ErrorRateWindow window = new ErrorRateWindow(30_000, 20, 25, 0.5);
        for (int i = 1; i < 25; i++) {
            assertThat(window.record(false)).as("failure %d", i).isFalse();
        }
        assertThat(window.record(false)).isTrue();
    }
}
