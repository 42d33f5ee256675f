package io.tokenhub.api;

import io.tokenhub.accounting.UsageEvent;
import io.tokenhub.accounting.UsageRecorder;
import io.tokenhub.billing.Payment;
import io.tokenhub.billing.PriceCalculator;
import io.tokenhub.billing.Quota;
import io.tokenhub.billing.Reservation;
import io.tokenhub.core.ApiError;
import io.tokenhub.core.Contexts;
import io.tokenhub.limit.RateLimiter;
import io.tokenhub.provider.Abort;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.ext.web.RoutingContext;
import io.tokenhub.config.TokenHubConfig.Model;
import io.tokenhub.core.Usage;
import io.tokenhub.telemetry.Metrics;
import io.tokenhub.routing.Attempt;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;

/**
 * Opens and closes the books on one request: reserves its estimate before the upstream call (or
 * beside it, for an account with money to spare); after it, prices it, settles the reservation,
 * emits its one usage event and updates the request meters. Both response paths (whole and
 * streamed) end here.
 */
final class Outcome {

    /** The model label of a request refused before its model was known (never the client's string). */
    static final String UNKNOWN_MODEL = "unknown";

    private final UsageRecorder recorder;
    private final Metrics metrics;
    private final Quota quota;
    private final Limits limits;
    /**
     * Requests past their reservation whose usage event is not in the recorder yet: in flight, or
     * ended and settling (a Redis round trip). Every reserved request ends in one {@link #record}.
     */
    private int unrecorded;
    private Promise<Void> allRecorded;
    /** Finished requests whose settlement (and so their usage event) is still on its way. */
    private final InFlight settling = new InFlight();
    /** Set when this node cuts what outlasted its shutdown grace: connections lost from then are its doing. */
    private boolean cutting;
    /** The streams being relayed on this event loop, to be ended properly if this node has to cut them. */
    private final Set<SseRelay> relaying = new HashSet<>();
    /** Requests answered whole that are waiting on an upstream. */
    private final Set<Exchange> waiting = new HashSet<>();

    Outcome(UsageRecorder recorder, Metrics metrics, Quota quota, Limits limits) {
        this.recorder = recorder;
        this.metrics = metrics;
        this.quota = quota;
        this.limits = limits;
    }

    /** Rate limits first: a request over them costs nothing and reserves nothing. */
    Future<RateLimiter.Admission> admit(Exchange ex) {
        return limits.admit(ex);
    }

    /**
     * The estimate reserved for the call: prompt plus the output limit, at the requested model's
     * price; at least one micro-USD for a priced model, so that an estimate rounding to nothing still
     * needs a wallet (or plan) that is not empty.
     */
    Future<Reservation> reserve(Exchange ex, long microUsd) {
        ModelRequest request = ex.request;
        Model model = request.target().model();
        return quota.reserve(ex.requestId, ex.key.accountId(), ex.key.keyId(), ex.key.monthlyCapMicroUsd(),
                model.id(), planTokens(model, request.prompt().reserved() + request.outputBound()), held(model, microUsd))
            .map(reservation -> {
                ex.reservation = reservation;
                unrecorded++;
                return reservation;
            });
    }

    /**
     * Reserves the request's estimate and hands the reservation to {@code dispatch}: once it is made
     * or, for an account with money to spare ({@link Quota#ample}), at once, so that the upstream
     * call starts while the reservation is on its way. Then the dispatch stops its call by
     * {@link #callAbort} and answers nothing before {@link #afterReservation}: a request the
     * reservation refuses gets that refusal, its call cancelled and its answer dropped, with no
     * record, as if it had waited.
     */
    Future<Void> reserveThen(Exchange ex, long microUsd, Function<Future<Reservation>, Future<Void>> dispatch) {
        Future<Reservation> reserved = reserve(ex, microUsd);
        // Made at once (the node's share of the account held it), there is nothing to start beside.
        boolean beside = !reserved.isComplete() && quota.ample(ex.key.keyId(), ex.key.monthlyCapMicroUsd(),
            held(ex.request.target().model(), microUsd));
        if (!beside) {
            return reserved.compose(reservation -> dispatch.apply(reserved));
        }
        reserved.onComplete(made -> metrics.reservationBesideCall(made.succeeded()));
        return dispatch.apply(reserved);
    }

    /** What stops a request's upstream call: the client leaving, and a reservation on its way refusing. */
    static Abort callAbort(Exchange ex, Future<Reservation> reserved) {
        if (reserved.isComplete()) {
            return ex.abort;
        }
        Abort call = new Abort();
        ex.abort.onAbort(call::abort);
        reserved.onFailure(refused -> call.abort());
        return call;
    }

    /**
     * What the upstream call came to, once the reservation is answered too: the reservation's failure
     * when it refused the request, whatever the call did.
     */
    static <T> Future<T> afterReservation(Future<Reservation> reserved, Future<T> upstream) {
        if (reserved.succeeded()) {
            return upstream;
        }
        return upstream.transform(called -> reserved.transform(reservation -> reservation.succeeded() ? upstream
            : Future.failedFuture(reservation.cause())));
    }

    /**
     * Before a fallback to another model: the account's rate limits on that model admit it (429 when
     * over), and the request's reservation becomes one for that model, at its estimate, so that the
     * plans that pay are that model's and its price bounds what may be overdrawn. Fails as
     * {@link #reserve} does when the account cannot cover it (the old one still holds then); at once
     * when the request is already admitted and reserved for that model.
     */
    Future<Void> fallBack(Exchange ex, Model model, long microUsd) {
        return limits.admitFallback(ex, model).compose(v -> rebook(ex, model, microUsd));
    }

    private Future<Void> rebook(Exchange ex, Model model, long microUsd) {
        Reservation old = ex.reservation;
        if (old == null || old.modelId().equals(model.id())) {
            return Future.succeededFuture();
        }
        // An id of its own each time: a replacement Redis makes after its answer timed out is handed
        // back under its own id, never under one a later replacement holds.
        String id = ex.requestId + "/" + ++ex.rebooks;
        return Contexts.onCaller(quota.rebook(old, id, ex.key.monthlyCapMicroUsd(), model.id(),
                planTokens(model, ex.request.prompt().reserved() + ex.request.outputBound()),
                held(model, microUsd)))
            .compose(reservation -> {
                if (ex.abort.aborted()) {
                    // The client left meanwhile: its record settles the reservation it knew (the old one,
                    // released now); this one is handed back, before this node stops.
                    long settlement = settling.begin();
                    quota.settle(reservation, 0, 0).onComplete(ar -> settling.end(settlement));
                    return Future.failedFuture(new ApiError.Internal("the client left").toException());
                }
                ex.reservation = reservation;
                return Future.succeededFuture();
            });
    }

    /**
     * The tokens a model's request holds or draws of a plan: none for a free model, which costs
     * nothing (until 2026-12-07 its requests used prepaid tokens up all the same: an audit's plan
     * lost 1 500 tokens to a request whose cost was $0).
     */
    private static long planTokens(Model model, long tokens) {
        return model.pricing().free() ? 0 : tokens;
    }

    /** At least one micro-USD for a priced model, so that an estimate rounding to nothing still needs money. */
    private static long held(Model model, long microUsd) {
        return microUsd == 0 && !model.pricing().free() ? 1 : microUsd;
    }

    /** What an upstream answer costs at the price of the model that served it. */
    static long cost(Attempt served, Usage usage) {
        return served == null ? 0 : PriceCalculator.chatCost(served.model().pricing(), usage);
    }

    /**
     * @param served    the candidate that answered, or null when none did
     * @param ttftNanos time to first token for streams, -1 otherwise
     */
    void record(Exchange ex, Attempt served, boolean fallback, Usage usage, long costMicroUsd, int status,
                String errorCode, long ttftNanos) {
        record(ex, served, served, fallback, usage, costMicroUsd, status, errorCode, ttftNanos);
    }

    /**
     * No candidate answered, or the client left before one did: the request's one record, at no
     * cost and so with no price version, naming the upstream called last when one was (the one that
     * failed last, as the error body does, or the one the client left waiting on): its provider,
     * deployment and catalog model, as a served record names the one that answered; a fallback when
     * that was not the first candidate.
     *
     * @param failure why, or null when the client left
     */
    void failed(Exchange ex, Throwable failure, Usage usage) {
        boolean clientGone = ex.abort.aborted() || failure == null;
        ApiError error = clientGone ? null : ErrorWriter.toApiError(failure);
        record(ex, null, ex.called, ex.calledFallback, usage, 0,
            clientGone ? goneStatus() : error.status(), clientGone ? goneCode() : error.code(), -1);
    }

    /** An answer was written whole: what of its time was TokenHub's own goes to {@code tokenhub_overhead_seconds}. */
    void answered(Exchange ex) {
        metrics.overhead(ex.overheadNanos());
    }

    /**
     * From now on, a lost connection is this node cutting it at the end of its shutdown grace. A
     * stream still open is ended now, as a stream that failed is, with an error event and
     * {@code [DONE]}: never cut off in the middle without a word.
     */
    void cutting() {
        cutting = true;
        for (SseRelay relay : List.copyOf(relaying)) {
            relay.cut();
        }
        // A request answered whole that is still waiting gets its 503 (with Retry-After, so that the
        // client's SDK retries it, on another node) instead of a connection closed without an answer;
        // its upstream call is abandoned, and its record says it was cut.
        for (Exchange ex : List.copyOf(waiting)) {
            ErrorWriter.write(ex.ctx.response(), new ApiError.ServerShutdown());
            ex.abort.abort();
        }
    }

    /**
     * A request to be answered whole waits on an upstream until the future completes: a node
     * stopping answers it with 503 when its grace is over, see {@link #cutting}.
     */
    <T> Future<T> waitingOn(Exchange ex, Future<T> upstream) {
        waiting.add(ex);
        return upstream.andThen(done -> waiting.remove(ex));
    }

    /** A stream started on this event loop; {@link #relayed} when it is over, however it ends. */
    void relaying(SseRelay relay) {
        relaying.add(relay);
    }

    void relayed(SseRelay relay) {
        relaying.remove(relay);
    }

    /** The status recorded for a request whose connection went away: 499, or 503 when this node cut it. */
    int goneStatus() {
        return cutting ? 503 : 499;
    }

    /** The error code recorded with {@link #goneStatus()}. */
    String goneCode() {
        return cutting ? "server_shutdown" : "client_disconnected";
    }

    /**
     * Answers a failed request with its OpenAI error, unless the client has already left. A request
     * refused before it reserved anything (bad body, key, limits, quota) has no usage record but is
     * a request all the same in {@code tokenhub_requests_total}; failures after the reservation are
     * counted by their record.
     */
    void error(Exchange ex, Throwable failure) {
        if (ex.reservation == null) {
            // Admitted, then refused (no balance, the monthly cap): it used no tokens of the TPM limits,
            // and its headers say so.
            limits.correct(ex, 0, null);
            limits.refreshHeaders(ex);
        } else if (!ex.recorded) {
            // Failed past its reservation with no record made (an unexpected failure on the way, not an
            // upstream's): it gets its record, which hands the reservation back, instead of holding the
            // account's money and cap until the reservation expires.
            failed(ex, failure, Usage.NONE);
        }
        if (ex.abort.aborted()) {
            return;
        }
        ApiError error = ErrorWriter.toApiError(failure);
        if (ex.reservation == null) {
            // The catalog model once the request named one that exists; never the client's own string.
            String model = ex.model == null ? UNKNOWN_MODEL : ex.model.id();
            metrics.request(model, "none", error.status(), System.nanoTime() - ex.startNanos);
        }
        ErrorWriter.write(ex.ctx.response(), error);
    }

    /** A model request refused for its key before its body was read: answered, and counted with no model. */
    void refused(RoutingContext ctx, Throwable failure) {
        ApiError error = ErrorWriter.toApiError(failure);
        metrics.request(UNKNOWN_MODEL, "none", error.status(), System.nanoTime() - RequestIds.of(ctx).nanos());
        ErrorWriter.write(ctx.response(), error);
    }

    /**
     * @param served the candidate that answered and is charged for, or null
     * @param named  the candidate the record names: the one that answered, else the one called last, or null
     */
    private void record(Exchange ex, Attempt served, Attempt named, boolean fallback, Usage usage, long costMicroUsd,
                        int status, String errorCode, long ttftNanos) {
        ex.recorded = true;
        ModelRequest request = ex.request;
        String provider = named == null ? null : named.provider();
        Model requested = request.target().model();
        long latencyMs = ex.elapsedMs();
        limits.correct(ex, usage.promptTokens() + usage.completionTokens(),
            served == null ? null : served.model().id());
        Instant at = Instant.now();
        long settlement = settling.begin();
        // Nothing served, nothing charged: neither money nor a plan's tokens (the record keeps the counts).
        long billedTokens = served == null ? 0 : planTokens(served.model(), usage.promptTokens() + usage.completionTokens());
        Future<Payment> paid = ex.reservation == null ? Future.succeededFuture(Payment.NONE)
            : Contexts.onCaller(quota.settle(ex.reservation, billedTokens, costMicroUsd));
        paid.onSuccess(payment -> recorder.record(new UsageEvent(ex.requestId, at, ex.key.accountId(),
            ex.key.keyId(), requested.id(), named == null ? null : named.model().id(), provider,
            named == null ? null : named.deployment().model(), usage, costMicroUsd,
            served == null ? null : served.model().pricing().version(), latencyMs,
            ttftNanos < 0 ? -1 : ttftNanos / 1_000_000, status, errorCode, request.stream(), fallback, payment)))
            .onComplete(ar -> {
                settling.end(settlement);
                recordedOne();
            });
        String modelLabel = served == null ? requested.id() : served.model().id();
        metrics.request(modelLabel, provider == null ? "none" : provider, status, System.nanoTime() - ex.startNanos);
        if (served != null) {
            metrics.tokens(modelLabel, provider, usage);
            metrics.cost(modelLabel, costMicroUsd);
        }
    }

    /**
     * Completes once every reserved request has its usage event in the recorder. A stopping
     * verticle waits for this before its last flush: settlement outlasts the response, and a stream
     * cut when the grace period ends is recorded only once its connection's close is seen.
     */
    Future<Void> recorded() {
        if (unrecorded == 0) {
            return Future.succeededFuture();
        }
        if (allRecorded == null) {
            allRecorded = Promise.promise();
        }
        return allRecorded.future();
    }

    /** Completes once every request finished so far has its usage event in the recorder. */
    Future<Void> settled() {
        return settling.drained();
    }

    private void recordedOne() {
        if (--unrecorded == 0 && allRecorded != null) {
            allRecorded.complete();
            allRecorded = null;
        }
    }
}
