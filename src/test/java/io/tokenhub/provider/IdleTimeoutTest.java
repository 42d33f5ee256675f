package io.tokenhub.provider;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Idle timeouts on an event loop share one timer per length ({@link TimeoutLine}): each still
 * fires no sooner than its own quiet period allows, once, on the context that started it, and
 * never after it was stopped. Everything runs on one event loop context, as in the gateway; the
 * test thread only waits, with a bound, for what is completed from there.
 */
class IdleTimeoutTest {

    private static final long WAIT_SECONDS = 10;
    private static final long LENGTH_MS = 100;

    private Vertx vertx;
    private Context loop;

    @BeforeEach
    void setUp() {
        vertx = Vertx.vertx();
        loop = vertx.getOrCreateContext();
    }

    @AfterEach
    void tearDown() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(WAIT_SECONDS, TimeUnit.SECONDS);
    }

    @Test
    void expiresAfterItsQuietPeriodOnTheContextThatStartedIt() throws Exception {
        CompletableFuture<Long> fired = new CompletableFuture<>();
        AtomicReference<Context> firedOn = new AtomicReference<>();
        long[] started = new long[1];
        loop.runOnContext(v -> {
            IdleTimeout timeout = new IdleTimeout(vertx, LENGTH_MS, () -> {
                firedOn.set(Vertx.currentContext());
                fired.complete(System.nanoTime() - started[0]);
            });
            started[0] = System.nanoTime();
            timeout.start();
        });

        assertThat(millis(fired)).isGreaterThanOrEqualTo(LENGTH_MS);
        assertThat(firedOn.get()).isSameAs(loop);
    }

    @Test
    void dataPushesTheDeadlineBackAndTheOthersKeepTheirOrder() throws Exception {
        // Given 20 timeouts of one length started on one loop, every other one seeing data twice
        int count = 20;
        CompletableFuture<List<CompletableFuture<Long>>> started = new CompletableFuture<>();
        loop.runOnContext(v -> {
            List<CompletableFuture<Long>> quiet = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                CompletableFuture<Long> fired = new CompletableFuture<>();
                quiet.add(fired);
                long[] lastData = {System.nanoTime()};
                IdleTimeout timeout = new IdleTimeout(vertx, LENGTH_MS,
                    () -> fired.complete(System.nanoTime() - lastData[0]));
                timeout.start();
                if (i % 2 == 1) {
                    long delay = 20 + 7L * i;
                    vertx.setTimer(delay, id -> {
                        lastData[0] = System.nanoTime();
                        timeout.touch();
                        vertx.setTimer(delay, id2 -> {
                            lastData[0] = System.nanoTime();
                            timeout.touch();
                        });
                    });
                }
            }
            started.complete(quiet);
        });

        // Then every one fires, each after a whole quiet period since its last data
        List<CompletableFuture<Long>> quiet = started.get(WAIT_SECONDS, TimeUnit.SECONDS);
        for (int i = 0; i < count; i++) {
            CompletableFuture<Long> fired = quiet.get(i);
            assertThat(millis(fired)).as("timeout %d", i).isGreaterThanOrEqualTo(LENGTH_MS);
        }
    }

    @Test
    void timeoutsFireInTheOrderOfTheirDeadlines() throws Exception {
        // Given 12 timeouts of one length started 10 ms apart, every third one seeing data 35 ms in
        // (its deadline then falls after those of timeouts started later)
        int count = 12;
        long[] lastData = new long[count];
        CompletableFuture<List<Integer>> order = new CompletableFuture<>();
        loop.runOnContext(v -> {
            List<Integer> fired = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                int n = i;
                vertx.setTimer(1 + 10L * n, id -> {
                    IdleTimeout timeout = new IdleTimeout(vertx, LENGTH_MS, () -> {
                        fired.add(n);
                        if (fired.size() == count) {
                            order.complete(List.copyOf(fired));
                        }
                    });
                    lastData[n] = System.nanoTime();
                    timeout.start();
                    if (n % 3 == 0) {
                        vertx.setTimer(35, id2 -> {
                            lastData[n] = System.nanoTime();
                            timeout.touch();
                        });
                    }
                });
            }
        });

        // Then they fire in the order of their last data (a deadline is the last data plus the length)
        List<Integer> fired = order.get(WAIT_SECONDS, TimeUnit.SECONDS);
        List<Integer> byDeadline = IntStream.range(0, count).boxed()
            .sorted(Comparator.comparingLong(n -> lastData[n])).toList();
        assertThat(fired).isEqualTo(byDeadline);
    }

    @Test
    void aStoppedTimeoutNeverFires() throws Exception {
        // Given two timeouts of one length, the first started first and then stopped
        AtomicBoolean firstFired = new AtomicBoolean();
        CompletableFuture<Boolean> secondFired = new CompletableFuture<>();
        loop.runOnContext(v -> {
            IdleTimeout first = new IdleTimeout(vertx, LENGTH_MS, () -> firstFired.set(true));
            IdleTimeout second = new IdleTimeout(vertx, LENGTH_MS, () -> secondFired.complete(firstFired.get()));
            first.start();
            second.start();
            first.stop();
            first.start();
        });

        // Then when the second falls due, the first (due before it) has not fired; nor does it later
        assertThat(secondFired.get(WAIT_SECONDS, TimeUnit.SECONDS)).isFalse();
        CompletableFuture<Boolean> later = new CompletableFuture<>();
        loop.runOnContext(v -> vertx.setTimer(2 * LENGTH_MS, id -> later.complete(firstFired.get())));
        assertThat(later.get(WAIT_SECONDS, TimeUnit.SECONDS)).isFalse();
    }

    @Test
    void aSuspendedTimeoutWaitsUntilStartedAgain() throws Exception {
        // Given a timeout suspended at once, and another of the same length started after it
        AtomicBoolean suspendedFired = new AtomicBoolean();
        CompletableFuture<Long> restartedFired = new CompletableFuture<>();
        CompletableFuture<Boolean> otherFired = new CompletableFuture<>();
        long[] restarted = new long[1];
        loop.runOnContext(v -> {
            IdleTimeout suspended = new IdleTimeout(vertx, LENGTH_MS, () -> {
                suspendedFired.set(true);
                restartedFired.complete(System.nanoTime() - restarted[0]);
            });
            suspended.start();
            suspended.suspend();
            IdleTimeout other = new IdleTimeout(vertx, LENGTH_MS, () -> {
                otherFired.complete(suspendedFired.get());
                // When it is started again
                restarted[0] = System.nanoTime();
                suspended.start();
            });
            other.start();
        });

        // Then it had not fired while suspended, and fires a whole period after the restart
        assertThat(otherFired.get(WAIT_SECONDS, TimeUnit.SECONDS)).isFalse();
        assertThat(millis(restartedFired)).isGreaterThanOrEqualTo(LENGTH_MS);
    }

    @Test
    void lengthsHaveLinesOfTheirOwn() throws Exception {
        // Given a long timeout started before a short one on the same loop
        CompletableFuture<Boolean> shortFired = new CompletableFuture<>();
        AtomicBoolean longFired = new AtomicBoolean();
        CompletableFuture<Void> longDone = new CompletableFuture<>();
        loop.runOnContext(v -> {
            new IdleTimeout(vertx, 3 * LENGTH_MS, () -> {
                longFired.set(true);
                longDone.complete(null);
            }).start();
            new IdleTimeout(vertx, LENGTH_MS, () -> shortFired.complete(longFired.get())).start();
        });

        // Then the short one does not wait for the long one, which fires too
        assertThat(shortFired.get(WAIT_SECONDS, TimeUnit.SECONDS)).isFalse();
        longDone.get(WAIT_SECONDS, TimeUnit.SECONDS);
    }

    @Test
    void startedOffAnEventLoopItStillFires() throws Exception {
        CompletableFuture<Long> fired = new CompletableFuture<>();
        long started = System.nanoTime();
        new IdleTimeout(vertx, LENGTH_MS, () -> fired.complete(System.nanoTime() - started)).start();

        assertThat(millis(fired)).isGreaterThanOrEqualTo(LENGTH_MS);
    }

    /** Waits, with a bound, for a duration in nanoseconds completed on the loop; in milliseconds. */
    private static long millis(CompletableFuture<Long> nanos) throws Exception {
        return TimeUnit.NANOSECONDS.toMillis(nanos.get(WAIT_SECONDS, TimeUnit.SECONDS));
    }
}
