package io.tokenhub.api;

import io.tokenhub.auth.KeyContext;
import io.tokenhub.billing.Reservation;
import io.tokenhub.limit.RateLimiter;
import io.tokenhub.provider.Abort;
import io.vertx.ext.web.RoutingContext;

/**
 * One API request on its way through the gateway: who sent it, what was asked, and the clock
 * readings the usage record and the overhead metric need. Confined to the request's event loop.
 */
final class Exchange {

    final RoutingContext ctx;
    final String requestId;
    final long startNanos = System.nanoTime();
    final Abort abort = new Abort();
    KeyContext key;
    ModelRequest request;
    /** What the rate limiter admitted; corrected with the real token count at the end. */
    RateLimiter.Admission admission;
    /** The estimate held for this request; settled exactly once by {@link Outcome#record}. */
    Reservation reservation;
    /** When the dispatcher was handed the request: the end of TokenHub's own work before the upstream. */
    long dispatchNanos;

    Exchange(RoutingContext ctx, String requestId) {
        this.ctx = ctx;
        this.requestId = requestId;
    }

    long elapsedMs() {
        return (System.nanoTime() - startNanos) / 1_000_000;
    }
}
