package io.tokenhub.routing;

import io.tokenhub.core.ApiError;
import io.tokenhub.core.ApiError.ProviderFailed;
import io.tokenhub.core.ApiError.UpstreamRejected;
import io.tokenhub.core.ApiError.UpstreamTimeout;
import io.tokenhub.core.ApiException;
import io.tokenhub.ops.Metrics;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.Completion;
import io.tokenhub.provider.ProviderAdapter;
import io.tokenhub.provider.UpstreamCall;
import io.tokenhub.provider.UpstreamException;
import io.tokenhub.provider.UpstreamException.Kind;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * Tries a request's candidates in order until one answers. A provider's failure (connection,
 * timeout, 5xx, 429) moves on to the next; a caller's failure (another 4xx) ends the attempt at
 * once, as nobody else would accept that request either. When all fail, the last failure decides
 * the answer: 504 for a timeout, else 502 naming the provider. One per verticle instance, since the
 * adapters hold that event loop's HTTP client.
 */
public final class Dispatcher {

    /** What to send, apart from the candidate: the request id, the body and the output limit. */
    public record Call(String requestId, JsonObject body, int maxTokens) {
    }

    private final Map<String, ProviderAdapter> adapters;
    private final Metrics metrics;

    public Dispatcher(Map<String, ProviderAdapter> adapters, Metrics metrics) {
        this.adapters = adapters;
        this.metrics = metrics;
    }

    public Future<Served<Completion>> complete(List<Attempt> attempts, Call call, Abort abort) {
        return attempt(attempts, 0, call, abort, System.nanoTime(), null, (adapter, upstreamCall) ->
            adapter.complete(upstreamCall, abort));
    }

    /** Completes once a candidate's stream has produced its first output; see {@link StreamStart}. */
    public Future<Served<StreamStart>> stream(List<Attempt> attempts, Call call, Abort abort) {
        return attempt(attempts, 0, call, abort, System.nanoTime(), null, (adapter, upstreamCall) ->
            adapter.stream(upstreamCall, abort).compose(StreamStart::await));
    }

    private <T> Future<Served<T>> attempt(List<Attempt> attempts, int index, Call call, Abort abort, long started,
                                          UpstreamException last,
                                          BiFunction<ProviderAdapter, UpstreamCall, Future<T>> send) {
        if (index >= attempts.size() || abort.aborted()) {
            return Future.failedFuture(finalError(last));
        }
        Attempt attempt = attempts.get(index);
        ProviderAdapter adapter = adapters.get(attempt.provider());
        int maxTokens = Math.min(call.maxTokens(), attempt.model().maxOutputTokens());
        UpstreamCall upstreamCall = new UpstreamCall(call.requestId(), call.body(), attempt.deployment(), maxTokens);
        return send.apply(adapter, upstreamCall)
            .map(result -> {
                metrics.upstream(attempt.provider(), attempt.deployment().model(), "success");
                return new Served<>(result, attempt, index > 0, System.nanoTime() - started);
            })
            .recover(failure -> {
                UpstreamException upstream = failure instanceof UpstreamException u ? u
                    : UpstreamException.of(attempt.provider(), Kind.CONNECTION, String.valueOf(failure.getMessage()));
                metrics.upstream(attempt.provider(), attempt.deployment().model(), outcome(upstream.kind()));
                if (!upstream.isProviderFault()) {
                    return Future.failedFuture(finalError(upstream));
                }
                return attempt(attempts, index + 1, call, abort, started, upstream, send);
            });
    }

    private static String outcome(Kind kind) {
        return switch (kind) {
            case CONNECTION -> "connection_error";
            case TIMEOUT -> "timeout";
            case SERVER_ERROR -> "server_error";
            case RATE_LIMITED -> "rate_limited";
            case REJECTED -> "rejected";
        };
    }

    /** A stream's failure after it started, as the error the client is told about. */
    public static Throwable asApiException(Throwable failure) {
        return failure instanceof UpstreamException upstream ? finalError(upstream) : failure;
    }

    static ApiException finalError(UpstreamException last) {
        if (last == null) {
            return new ApiError.NoHealthyUpstream("No upstream is available for this model.", 1).toException();
        }
        ApiError error = switch (last.kind()) {
            case TIMEOUT -> new UpstreamTimeout(last.provider(), "The provider '" + last.provider()
                + "' did not answer in time: " + last.getMessage());
            case REJECTED -> rejected(last);
            default -> new ProviderFailed(last.provider(), "The provider '" + last.provider() + "' failed: "
                + last.getMessage());
        };
        return error.toException();
    }

    private static ApiError rejected(UpstreamException last) {
        JsonObject e = last.error() == null ? new JsonObject() : last.error();
        int status = last.status() >= 400 && last.status() < 500 ? last.status() : 400;
        return new UpstreamRejected(status, string(e, "type", "invalid_request_error"),
            string(e, "code", "invalid_request_error"), string(e, "message", last.getMessage()),
            e.getValue("param") instanceof String p ? p : null, last.provider());
    }

    private static String string(JsonObject json, String field, String fallback) {
        return json.getValue(field) instanceof String s && !s.isEmpty() ? s : fallback;
    }
}
