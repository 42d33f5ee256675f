package io.tokenhub.routing;

import io.tokenhub.config.TokenHubConfig.Model;
import io.tokenhub.core.ApiError;
import io.tokenhub.core.ApiError.NoHealthyUpstream;
import io.tokenhub.core.ApiError.ProviderFailed;
import io.tokenhub.core.ApiError.UpstreamRejected;
import io.tokenhub.core.ApiError.UpstreamTimeout;
import io.tokenhub.core.ApiException;
import io.tokenhub.telemetry.Metrics;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.Completion;
import io.tokenhub.provider.ProviderAdapter;
import io.tokenhub.provider.UpstreamCall;
import io.tokenhub.provider.UpstreamClock;
import io.tokenhub.provider.UpstreamException;
import io.tokenhub.provider.UpstreamException.Kind;
import io.vertx.circuitbreaker.OpenCircuitException;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.BiFunction;

/**
 * Tries a request's candidates in order until one answers. An upstream whose circuit is open, or
 * that asked us to wait ({@code Retry-After}), is skipped without a network call. A provider's
 * failure (connection, timeout, 5xx) is retried on the same deployment up to the provider's
 * {@code retries}, after a short backoff (or the provider's {@code Retry-After}, when it asks for
 * no more than {@link #MAX_RETRY_WAIT_MS}; one that asks for longer is left for that long), then
 * moves on to the next candidate, leaving the deployment alone for what its {@code Retry-After}
 * asked, if anything; a 429 moves on at once; a caller's failure (another 4xx) ends the
 * attempt at once, as no other provider would accept that request either. When every candidate
 * fails, the last failure decides the answer: 504 for a timeout, else 502 naming the provider;
 * 503 when no upstream could even be tried. One per verticle instance, since the adapters hold
 * that event loop's HTTP client; the health of upstreams is shared by the node.
 */
public final class Dispatcher {

    /** The longest a retry of the same deployment waits; a provider asking for longer is moved on from. */
    static final long MAX_RETRY_WAIT_MS = 2_000;
    /** The wait before the first retry; it doubles for each next one (with jitter), up to a second. */
    static final long FIRST_BACKOFF_MS = 50;

    /**
     * What to send, apart from the candidate: the request id, the body and the output limit; the
     * request's clock of time on upstreams, which every attempt's adapter marks; who is told of each
     * upstream call as it is made; and what makes the request's reservation one for a fallback's
     * model before that model is called, within the account's limits on it (it fails when the
     * request does not fit that model, or the account cannot pay for it or is over those limits,
     * and then that model is passed over).
     */
    public record Call(String requestId, JsonObject body, Buffer raw, int maxTokens, UpstreamClock clock,
                       Tracker tracker, Function<Model, Future<?>> rebook) {
    }

    /**
     * Told of each upstream call just before it is made (a candidate skipped without a call is not
     * one), so that however the request ends, also while the call is in flight, it can name the
     * upstream it reached last.
     */
    public interface Tracker {
        /** @param fallback true when the attempt is not the request's first candidate */
        void calling(Attempt attempt, boolean fallback);
    }

    /** The state of one request's walk through its candidates. */
    private static final class Walk<T> {
        final List<Attempt> attempts;
        final Call call;
        final Abort abort;
        final BiFunction<ProviderAdapter, UpstreamCall, Future<T>> send;
        /** For a stream, its end once it has started: the call's outcome; null when the result is the outcome. */
        final Function<T, Future<?>> ended;
        UpstreamException last;
        /** The first candidate that could not offer what the request uses, if any; the answer when none could. */
        UpstreamException unsupported;
        /** Fallback models passed over (the request does not fit them, or the account): their other deployments too. */
        Set<Model> refused;
        /** Why a fallback model was not tried, for the final error's message; null if none was refused. */
        String passedOver;
        long soonestRetryMs = Long.MAX_VALUE;

        Walk(List<Attempt> attempts, Call call, Abort abort, BiFunction<ProviderAdapter, UpstreamCall, Future<T>> send,
             Function<T, Future<?>> ended) {
            this.attempts = attempts;
            this.call = call;
            this.abort = abort;
            this.send = send;
            this.ended = ended;
        }
    }

    private final Function<String, ProviderAdapter> adapters;
    private final Upstreams upstreams;
    private final Metrics metrics;
    private final Vertx vertx;

    /** @param adapters the adapter of a provider id, for the catalog in force (it changes on reload) */
    public Dispatcher(Function<String, ProviderAdapter> adapters, Upstreams upstreams, Metrics metrics, Vertx vertx) {
        this.adapters = adapters;
        this.upstreams = upstreams;
        this.metrics = metrics;
        this.vertx = vertx;
    }

    public Future<Served<Completion>> complete(List<Attempt> attempts, Call call, Abort abort) {
        return attempt(new Walk<>(attempts, call, abort, (adapter, c) -> adapter.complete(c, abort), null), 0, 0);
    }

    /**
     * Completes once a candidate's stream has produced its first output; see {@link StreamStart}.
     * The upstream's breaker and {@code tokenhub_upstream_requests_total} have the call's outcome
     * when the stream ends.
     */
    public Future<Served<StreamStart>> stream(List<Attempt> attempts, Call call, Abort abort) {
        return attempt(new Walk<>(attempts, call, abort,
            (adapter, c) -> adapter.stream(c, abort).compose(stream -> StreamStart.await(stream, abort)),
            StreamStart::ended), 0, 0);
    }

    /** Any one-shot operation (embeddings, rerank) through the same candidates, breakers and fallback. */
    public Future<Served<Completion>> call(List<Attempt> attempts, Call call, Abort abort,
                                           BiFunction<ProviderAdapter, UpstreamCall, Future<Completion>> send) {
        return attempt(new Walk<>(attempts, call, abort, send, null), 0, 0);
    }

    private <T> Future<Served<T>> attempt(Walk<T> walk, int index, int retry) {
        if (index >= walk.attempts.size() || walk.abort.aborted()) {
            return Future.failedFuture(finalError(walk));
        }
        Attempt attempt = walk.attempts.get(index);
        UpstreamHealth health = upstreams.of(attempt);
        long now = System.currentTimeMillis();
        if (!health.admits(now)) {
            return skip(walk, index, health, now);
        }
        if (index == 0 || walk.call.rebook() == null) {
            return call(walk, index, retry, attempt, health);
        }
        if (walk.refused != null && walk.refused.contains(attempt.model())) {
            metrics.upstream(attempt.provider(), attempt.deployment().model(), "skipped");
            return attempt(walk, index + 1, 0);
        }
        // A fallback: whether the request fits its model, then the account's limits on it, are checked
        // and the reservation made for it first (at once when it is the same model).
        return walk.call.rebook().apply(attempt.model()).transform(booked -> {
            if (booked.succeeded()) {
                return call(walk, index, retry, attempt, health);
            }
            if (walk.abort.aborted()) {
                return Future.failedFuture(finalError(walk));
            }
            metrics.upstream(attempt.provider(), attempt.deployment().model(), "skipped");
            walk.passedOver = "The fallback model '" + attempt.model().id() + "' was not tried: "
                + booked.cause().getMessage();
            if (!passedOver(booked.cause())) {
                // The limiter or billing did not answer: a replacement of the reservation may still
                // happen where it stands, so the walk ends here rather than go on with one that may be gone.
                return Future.failedFuture(finalError(walk));
            }
            if (walk.refused == null) {
                walk.refused = new HashSet<>(2);
            }
            walk.refused.add(attempt.model());
            return attempt(walk, index + 1, 0);
        });
    }

    /**
     * The fallback's model cannot take the request (its type, a capability the request uses, its
     * output limit or context window), or the account's money, its key's monthly cap or its rate
     * limits on the model do not allow it: not a passing failure of billing.
     */
    private static boolean passedOver(Throwable refusal) {
        return refusal instanceof ApiException e && (e.error() instanceof ApiError.InsufficientQuota
            || e.error() instanceof ApiError.MonthlyCapExceeded || e.error() instanceof ApiError.RateLimited
            || e.error() instanceof ApiError.UnsupportedParameter || e.error() instanceof ApiError.ContextLengthExceeded
            || e.error() instanceof ApiError.InvalidRequest);
    }

    private <T> Future<Served<T>> call(Walk<T> walk, int index, int retry, Attempt attempt, UpstreamHealth health) {
        int maxTokens = Math.min(walk.call.maxTokens(), attempt.model().maxOutputTokens());
        UpstreamCall upstreamCall = new UpstreamCall(walk.call.requestId(), walk.call.body(), walk.call.raw(),
            attempt.deployment(), maxTokens, walk.call.clock());
        ProviderAdapter adapter = adapters.apply(attempt.provider());
        if (adapter == null) {
            // Its provider was taken away by a reload before this event loop ever called it.
            metrics.upstream(attempt.provider(), attempt.deployment().model(), "skipped");
            return attempt(walk, index + 1, 0);
        }
        return health.guard(walk.abort, () -> send(walk, index, attempt, adapter, upstreamCall), walk.ended)
            .map(result -> {
                if (walk.ended == null) {
                    count(walk, attempt, null);
                } else {
                    // A stream that started well may still break off: it is counted when it ends.
                    walk.ended.apply(result).onComplete(end -> count(walk, attempt, end.cause()));
                }
                if (index > 0) {
                    metrics.fallback(walk.attempts.get(0).model().id(), attempt.model().id());
                }
                return new Served<>(result, attempt, index > 0);
            })
            .recover(failure -> {
                if (failure instanceof OpenCircuitException) {
                    return skip(walk, index, health, System.currentTimeMillis());
                }
                UpstreamException upstream = upstreamFailure(attempt, failure);
                count(walk, attempt, upstream);
                if (walk.abort.aborted()) {
                    // The client left: the call was abandoned, not failed, and nobody waits for another.
                    return Future.failedFuture(upstream);
                }
                if (upstream.kind() == Kind.UNSUPPORTED) {
                    // Found before any call: another provider of the model may offer it.
                    if (walk.unsupported == null) {
                        walk.unsupported = upstream;
                    }
                    return attempt(walk, index + 1, 0);
                }
                if (!upstream.isProviderFault()) {
                    return Future.failedFuture(finalError(upstream, ""));
                }
                walk.last = upstream;
                if (upstream.kind() == Kind.RATE_LIMITED) {
                    health.blockFor(upstream.retryAfterMs());
                    return attempt(walk, index + 1, 0);
                }
                if (retry >= retriesOf(attempt)) {
                    // A provider that asked to be left alone (a 503's Retry-After) is, retries or not.
                    health.blockFor(upstream.retryAfterMs());
                    return attempt(walk, index + 1, 0);
                }
                long asked = upstream.retryAfterMs();
                if (asked > MAX_RETRY_WAIT_MS) {
                    health.blockFor(asked);
                    return attempt(walk, index + 1, 0);
                }
                // An overloaded provider called again at once fails again: wait a little first.
                long wait = Math.max(asked, backoffMs(retry));
                return vertx.timer(wait, TimeUnit.MILLISECONDS).compose(v -> attempt(walk, index, retry + 1));
            });
    }

    /** The call itself, the tracker told of it first; not reached when the guard refuses (circuit open). */
    private static <T> Future<T> send(Walk<T> walk, int index, Attempt attempt, ProviderAdapter adapter,
                                      UpstreamCall call) {
        walk.call.tracker().calling(attempt, index > 0);
        return walk.send.apply(adapter, call);
    }

    /**
     * Counts an upstream call in {@code tokenhub_upstream_requests_total}, once its outcome is known:
     * a success (no failure), cancelled when the client left (abandoned, not failed), else the failure.
     */
    private void count(Walk<?> walk, Attempt attempt, Throwable failure) {
        String outcome = failure == null ? "success"
            : walk.abort.aborted() ? "cancelled" : outcome(upstreamFailure(attempt, failure).kind());
        metrics.upstream(attempt.provider(), attempt.deployment().model(), outcome);
    }

    private static UpstreamException upstreamFailure(Attempt attempt, Throwable failure) {
        return failure instanceof UpstreamException u ? u
            : UpstreamException.of(attempt.provider(), Kind.CONNECTION, String.valueOf(failure.getMessage()));
    }

    private <T> Future<Served<T>> skip(Walk<T> walk, int index, UpstreamHealth health, long now) {
        metrics.upstream(health.provider(), health.deployment(), "skipped");
        walk.soonestRetryMs = Math.min(walk.soonestRetryMs, health.retryInMs(now));
        return attempt(walk, index + 1, 0);
    }

    /** The wait before retry {@code retry + 1}: doubling from {@link #FIRST_BACKOFF_MS}, half to all of it. */
    static long backoffMs(int retry) {
        long full = Math.min(1_000, FIRST_BACKOFF_MS << Math.min(retry, 10));
        return full / 2 + ThreadLocalRandom.current().nextLong(full / 2 + 1);
    }

    private int retriesOf(Attempt attempt) {
        ProviderAdapter adapter = adapters.apply(attempt.provider());
        return adapter == null ? 0 : adapter.retries();
    }

    private static String outcome(Kind kind) {
        return switch (kind) {
            case CONNECTION -> "connection_error";
            case TIMEOUT -> "timeout";
            case SERVER_ERROR -> "server_error";
            case RATE_LIMITED -> "rate_limited";
            case REJECTED -> "rejected";
            case UNSUPPORTED -> "unsupported";
        };
    }

    private static ApiException finalError(Walk<?> walk) {
        String note = walk.passedOver == null ? "" : " " + walk.passedOver;
        if (walk.last == null && walk.unsupported != null && walk.soonestRetryMs == Long.MAX_VALUE) {
            // No candidate failed or was out of reach: none offers what the request uses.
            return finalError(walk.unsupported, note);
        }
        if (walk.last == null) {
            long seconds = walk.soonestRetryMs == Long.MAX_VALUE ? 1 : Math.max(1, (walk.soonestRetryMs + 999) / 1000);
            return new NoHealthyUpstream("Every upstream for this model is unavailable (circuit open or rate "
                + "limited by the provider); retry in " + seconds + " s." + note, seconds).toException();
        }
        return finalError(walk.last, note);
    }

    /** A stream's failure after it started, as the error the client is told about. */
    public static Throwable asApiException(Throwable failure) {
        return failure instanceof UpstreamException upstream ? finalError(upstream, "") : failure;
    }

    static ApiException finalError(UpstreamException last, String note) {
        ApiError error = switch (last.kind()) {
            case TIMEOUT -> new UpstreamTimeout(last.provider(), "The provider '" + last.provider()
                + "' did not answer in time: " + last.getMessage() + note);
            case REJECTED, UNSUPPORTED -> rejected(last);
            // A provider that asked to be left alone (a 429's or a 503's Retry-After): the client is told to
            // wait as long.
            default -> new ProviderFailed(last.provider(), "The provider '" + last.provider() + "' failed: "
                + last.getMessage() + note, (last.retryAfterMs() + 999) / 1000);
        };
        return error.toException();
    }

    private static ApiError rejected(UpstreamException last) {
        JsonObject e = last.error() == null ? new JsonObject() : last.error();
        int status = last.status() >= 400 && last.status() < 500 ? last.status() : 400;
        // The provider's code and message as it gave them; its type only if OpenAI has it (DashScope and
        // Ark send their own: "Arrearage", "BadRequest"), and no empty param.
        String type = string(e, "type", "invalid_request_error");
        return new UpstreamRejected(status, OPENAI_TYPES.contains(type) ? type : "invalid_request_error",
            string(e, "code", "invalid_request_error"), string(e, "message", last.getMessage()),
            e.getValue("param") instanceof String p && !p.isEmpty() ? p : null, last.provider());
    }

    /** The error types OpenAI answers a refused request with. */
    private static final Set<String> OPENAI_TYPES = Set.of("invalid_request_error", "authentication_error",
        "permission_error", "not_found_error", "rate_limit_error", "insufficient_quota");

    private static String string(JsonObject json, String field, String fallback) {
        return json.getValue(field) instanceof String s && !s.isEmpty() ? s : fallback;
    }
}
