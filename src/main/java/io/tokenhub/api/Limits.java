package io.tokenhub.api;

import io.tokenhub.config.TokenHubConfig.Model;
import io.tokenhub.core.ApiError.RateLimited;
import io.tokenhub.core.ApiException;
import io.tokenhub.limit.RateLimiter;
import io.tokenhub.limit.RateLimiter.Admission;
import io.tokenhub.limit.RateLimiter.Check;
import io.tokenhub.limit.RateLimiter.Taken;
import io.tokenhub.limit.RateLimiter.Unit;
import io.tokenhub.telemetry.Metrics;
import io.vertx.core.Future;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.function.ToLongFunction;

/**
 * The rate limits of one request — RPM and TPM of its key and of its account on its model, and on
 * each model it falls back to — and the OpenAI {@code x-ratelimit-*} headers describing, for
 * requests and for tokens, the limit with the least remaining of those it was admitted on.
 */
final class Limits {

    /** The six header names by {@link Unit}, made once: no concatenation or name check per response. */
    private static final CharSequence[] LIMIT = names("x-ratelimit-limit-");
    private static final CharSequence[] REMAINING = names("x-ratelimit-remaining-");
    private static final CharSequence[] RESET = names("x-ratelimit-reset-");

    private final RateLimiter limiter;
    private final Metrics metrics;

    Limits(RateLimiter limiter, Metrics metrics) {
        this.limiter = limiter;
        this.metrics = metrics;
    }

    /** Admits the request or fails with 429 {@code rate_limit_exceeded}; sets the headers either way. */
    Future<Admission> admit(Exchange ex) {
        List<Check> checks = new ArrayList<>(4);
        add(checks, "key_rpm", ex.key.keyId(), Unit.REQUESTS, ex.key.rpm(), 1);
        add(checks, "key_tpm", ex.key.keyId(), Unit.TOKENS, ex.key.tpm(), tokens(ex));
        addModel(checks, ex, ex.request.target().model());
        return limiter.admit(checks)
            .onSuccess(admission -> {
                ex.admission = admission;
                headers(ex.ctx.response(), admission);
            })
            .onFailure(failure -> {
                if (failure instanceof ApiException api && api.error() instanceof RateLimited limited) {
                    metrics.rateLimited(limited.scope());
                    refusedHeaders(ex.ctx.response(), checks, limited);
                }
            });
    }

    /**
     * Before a fallback to another model: the account's RPM and TPM on that model, once per model
     * (its deployments share the admission); fails with 429 {@code rate_limit_exceeded} when over.
     * The response's {@code x-ratelimit-*} headers then describe the tightest of every limit the
     * request was admitted on, the fallback's among them (until 2026-12-07 they went on describing
     * the first admission alone, and a client trusting them was refused by the fallback model's).
     */
    Future<Void> admitFallback(Exchange ex, Model model) {
        if (model.id().equals(ex.request.target().model().id())
            || ex.fallbackAdmissions != null && ex.fallbackAdmissions.containsKey(model.id())) {
            return Future.succeededFuture();
        }
        List<Check> checks = new ArrayList<>(2);
        addModel(checks, ex, model);
        return limiter.admit(checks)
            .onSuccess(admission -> {
                if (ex.abort.aborted()) {
                    // The client left while the shared counter answered: the request may be recorded (and
                    // corrected) already, and this model will not be called.
                    limiter.correct(admission, 0);
                    return;
                }
                if (ex.fallbackAdmissions == null) {
                    ex.fallbackAdmissions = new HashMap<>(2);
                }
                ex.fallbackAdmissions.put(model.id(), admission);
                refreshHeaders(ex);
            })
            .onFailure(failure -> {
                // Counted apart from refused requests: the request goes on to its next candidate.
                if (failure instanceof ApiException api && api.error() instanceof RateLimited limited) {
                    metrics.rateLimited("fallback_" + limited.scope());
                }
            })
            .mapEmpty();
    }

    /**
     * Tells the limiter the real token count, once known: the key's limits and the limits of the
     * model that served (or of the model asked for, when none did) get it; other models tried get none.
     */
    void correct(Exchange ex, long actualTokens, String servedModel) {
        boolean servedAsked = servedModel == null || ex.request == null
            || servedModel.equals(ex.request.target().model().id());
        if (ex.admission != null) {
            // The key's checks are the key's whatever served; the model's are the model asked for's.
            String keyId = ex.key.keyId();
            limiter.correct(ex.admission,
                check -> servedAsked || check.subject().equals(keyId) ? actualTokens : 0);
        }
        if (ex.fallbackAdmissions != null) {
            ex.fallbackAdmissions.forEach((model, admission) ->
                limiter.correct(admission, model.equals(servedModel) ? actualTokens : 0));
        }
    }

    /**
     * Writes the {@code x-ratelimit-*} headers again, unless the head is out, from what this node now
     * knows of every limit the request was admitted on: after a fallback's admission, or after a
     * correction (a request refused for its balance or cap gives its tokens back, and its headers
     * said they were taken).
     */
    void refreshHeaders(Exchange ex) {
        HttpServerResponse response = ex.ctx.response();
        if (response.headWritten() || ex.admission == null) {
            return;
        }
        List<Taken> taken = new ArrayList<>(ex.admission.taken());
        if (ex.fallbackAdmissions != null) {
            ex.fallbackAdmissions.values().forEach(admission -> taken.addAll(admission.taken()));
        }
        tightest(response, taken, t -> limiter.remaining(t.check()),
            seconds(RateLimiter.resetMs(System.currentTimeMillis())));
    }

    /** What a request holds of TPM limits until its real count is known: prompt plus output bound. */
    private static long tokens(Exchange ex) {
        return ex.request.prompt().estimate() + ex.request.outputBound();
    }

    /** The account's RPM and TPM on one model. */
    private static void addModel(List<Check> checks, Exchange ex, Model model) {
        String accountModel = ex.key.accountId() + ":" + model.id();
        add(checks, "model_rpm", accountModel, Unit.REQUESTS, model.limits().rpm(), 1);
        add(checks, "model_tpm", accountModel, Unit.TOKENS, model.limits().tpm(), tokens(ex));
    }

    private static void add(List<Check> checks, String scope, String subject, Unit unit, long limit, long cost) {
        if (limit > 0) {
            checks.add(new Check(scope, subject, unit, limit, cost));
        }
    }

    private static void headers(HttpServerResponse response, Admission admission) {
        tightest(response, admission.taken(), Taken::remaining, seconds(admission.resetMs()));
    }

    /** For each unit, the headers of the limit with the least {@code remaining} of those taken. */
    private static void tightest(HttpServerResponse response, List<Taken> taken, ToLongFunction<Taken> remaining,
                                 String reset) {
        Check[] tightest = new Check[Unit.values().length];
        long[] left = new long[tightest.length];
        for (Taken t : taken) {
            int u = t.check().unit().ordinal();
            long r = remaining.applyAsLong(t);
            if (tightest[u] == null || r < left[u]) {
                tightest[u] = t.check();
                left[u] = r;
            }
        }
        for (Unit unit : Unit.values()) {
            if (tightest[unit.ordinal()] != null) {
                set(response, unit, tightest[unit.ordinal()].limit(), left[unit.ordinal()], reset);
            }
        }
    }

    /**
     * A refusal describes both units too: the refused limit with what is left of it (less than the
     * request needed), and for the other unit the tightest of its limits, each as far as this node
     * knows without taking; reset when the window is over.
     */
    private void refusedHeaders(HttpServerResponse response, List<Check> checks, RateLimited limited) {
        Check refused = null;
        Check other = null;
        long otherRemaining = Long.MAX_VALUE;
        for (Check c : checks) {
            if (c.scope().equals(limited.scope())) {
                refused = c;
            }
        }
        if (refused == null) {
            return;
        }
        for (Check c : checks) {
            if (c.unit() != refused.unit()) {
                long remaining = limiter.remaining(c);
                if (remaining < otherRemaining) {
                    other = c;
                    otherRemaining = remaining;
                }
            }
        }
        // The reset the refusal's Retry-After gives, computed once: read again, the clock may have
        // crossed a second and the two headers disagree.
        String reset = limited.retryAfterSeconds() > 0 ? limited.retryAfterSeconds() + "s"
            : seconds(RateLimiter.resetMs(System.currentTimeMillis()));
        set(response, refused.unit(), refused.limit(), limiter.remaining(refused), reset);
        if (other != null) {
            set(response, other.unit(), other.limit(), otherRemaining, reset);
        }
    }

    private static void set(HttpServerResponse response, Unit unit, long limit, long remaining, String reset) {
        if (response.headWritten()) {
            return;
        }
        int u = unit.ordinal();
        response.putHeader(LIMIT[u], Long.toString(limit))
            .putHeader(REMAINING[u], Long.toString(remaining))
            .putHeader(RESET[u], reset);
    }

    private static String seconds(long ms) {
        return Math.max(1, (ms + 999) / 1000) + "s";
    }

    /** In {@link Unit} order: requests, tokens. */
    private static CharSequence[] names(String prefix) {
        return new CharSequence[] {HttpHeaders.createOptimized(prefix + "requests"),
            HttpHeaders.createOptimized(prefix + "tokens")};
    }
}
