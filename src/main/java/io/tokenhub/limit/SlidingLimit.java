package io.tokenhub.limit;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.time.Clock;
import java.util.concurrent.TimeUnit;

/**
 * About {@code limit} events per subject a minute, as a sliding estimate over the cluster's shared
 * one-minute windows: this minute's count plus the share of the last minute's that a minute back
 * from now still covers, rounded up, so that a burst just before a window's end is not let through
 * again just after it. Never more than {@code 2 × limit - 1} in any sixty seconds (a full last
 * window is still carried whole for its first seconds, then less and less). Two shared-counter
 * calls an event, so it is for rare events (sign-ins), not for requests, which
 * {@link RateLimiter} admits from local leases.
 */
public final class SlidingLimit {

    private static final long WINDOW_MS = 60_000;

    private final SharedCounter counter;
    private final String scope;
    private final long limit;
    private final Clock clock;

    public SlidingLimit(SharedCounter counter, String scope, long limit, Clock clock) {
        this.counter = counter;
        this.scope = scope;
        this.limit = limit;
        this.clock = clock;
    }

    /**
     * Counts one event of the subject; false, and nothing counted, when the limit is reached. Fails
     * when the cluster's count does not answer within {@link RateLimiter#COUNTER_WAIT_MS} (a member
     * frozen), or throws: a caller holding a place for the event gets it back either way.
     */
    public Future<Boolean> tryTake(String subject) {
        long now = clock.millis();
        long minute = now / WINDOW_MS;
        double stillCovered = 1 - (double) (now % WINDOW_MS) / WINDOW_MS;
        String window = scope + "|" + subject + "|";
        Future<Boolean> taken = Future.<Void>succeededFuture().compose(v -> counter.used(window + (minute - 1)))
            .compose(last -> {
                long carried = (long) Math.ceil(last * stillCovered);
                if (carried >= limit) {
                    return Future.succeededFuture(false);
                }
                return counter.take(window + minute, 1, limit - carried).map(grant -> grant.granted() == 1);
            });
        return Vertx.currentContext() == null ? taken
            : taken.timeout(RateLimiter.COUNTER_WAIT_MS, TimeUnit.MILLISECONDS);
    }
}
