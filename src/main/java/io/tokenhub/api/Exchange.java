package io.tokenhub.api;

import io.tokenhub.auth.KeyContext;
import io.tokenhub.billing.Reservation;
import io.tokenhub.config.TokenHubConfig.Model;
import io.tokenhub.limit.RateLimiter;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.UpstreamClock;
import io.tokenhub.routing.Attempt;
import io.tokenhub.routing.Dispatcher;
import io.vertx.ext.web.RoutingContext;
import java.util.Map;

/**
 * One API request on its way through the gateway: who sent it, what was asked, the upstream it
 * reached last, and the clock readings the usage record and the overhead metric need. Confined to
 * the request's event loop.
 */
final class Exchange implements Dispatcher.Tracker {

    final RoutingContext ctx;
    final String requestId;
    /** When the request arrived (see {@link RequestIds}). */
    final long startNanos;
    final Abort abort = new Abort();
    /** Time spent waiting on upstreams: the part of the request's time that is not TokenHub's. */
    final UpstreamClock upstreamClock = new UpstreamClock();
    KeyContext key;
    ModelRequest request;
    /** What the rate limiter admitted; corrected with the real token count at the end. */
    RateLimiter.Admission admission;
    /** What it admitted on fallback models, by model id (null until a fallback to another model). */
    Map<String, RateLimiter.Admission> fallbackAdmissions;
    /** The estimate held for this request; settled exactly once by {@link Outcome#record}. */
    Reservation reservation;
    /** How many times a fallback replaced the reservation: each replacement has an id of its own. */
    int rebooks;
    /**
     * The candidate called last (in flight, or the last that answered or failed); null until an
     * upstream is called. A record of a request that nothing served names it.
     */
    Attempt called;
    /** Whether {@link #called} is a candidate after the first: a fallback was called. */
    boolean calledFallback;
    /** The catalog model asked for, once resolved (before {@link #request}): what labels a refusal's metrics. */
    Model model;
    /** Whether its one usage record is made: set by {@link Outcome#record}. */
    boolean recorded;

    Exchange(RoutingContext ctx) {
        RequestIds.Arrival arrival = RequestIds.of(ctx);
        this.ctx = ctx;
        this.requestId = arrival.id();
        this.startNanos = arrival.nanos();
    }

    @Override
    public void calling(Attempt attempt, boolean fallback) {
        called = attempt;
        calledFallback = fallback;
    }

    long elapsedMs() {
        return (System.nanoTime() - startNanos) / 1_000_000;
    }

    /** TokenHub's own share of the request so far: all of its time but what it waited on upstreams. */
    long overheadNanos() {
        return System.nanoTime() - startNanos - upstreamClock.upstreamNanos();
    }
}
