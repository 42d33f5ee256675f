package io.tokenhub.api;

import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.tokenhub.core.ApiError;
import io.tokenhub.core.ApiException;
import io.tokenhub.core.Ids;
import io.tokenhub.core.OncePer;
import io.tokenhub.store.Database;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.HttpException;
import io.vertx.sqlclient.DatabaseException;
import java.util.Set;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The one place where failures become HTTP: the OpenAI error shape, plus {@code provider}. */
public final class ErrorWriter {

    private static final Logger LOG = LoggerFactory.getLogger(ErrorWriter.class);
    /**
     * SQLSTATEs that only a value the client sent can cause here: a character PostgreSQL cannot store
     * (22021, 22P05), a text that is no value of its type (22P02), a date out of its range (22007,
     * 22008). Others of class 22, such as an overflowing sum, would be ours.
     */
    private static final Set<String> CLIENT_VALUES = Set.of("22021", "22P05", "22P02", "22007", "22008");
    /** At most one warning per 10 s about PostgreSQL out of reach: an outage is not a log flood. */
    private static final OncePer OUTAGE_WARNINGS = new OncePer(10_000);

    private ErrorWriter() {
    }

    /** Any failure as an {@link ApiError}; what we did not expect is logged and hidden. */
    public static ApiError toApiError(Throwable failure) {
        if (failure instanceof ApiException api) {
            return api.error();
        }
        if (failure instanceof HttpException http && http.getStatusCode() == 400) {
            // Vert.x Web's own 400, such as a query string that is not valid percent-encoding: the
            // client's mistake, not ours.
            Throwable cause = http.getCause() == null ? http : http.getCause();
            return new ApiError.InvalidRequest("The request could not be read: " + cause.getMessage() + ".", null);
        }
        if (failure instanceof DatabaseException db && CLIENT_VALUES.contains(db.getSqlState())) {
            // PostgreSQL's data exceptions about a value from the request: a NUL character in a filter or
            // an email, say. The client's mistake, and not worth a stack trace each time.
            LOG.debug("a request value refused by PostgreSQL: {}", failure.getMessage());
            return new ApiError.InvalidRequest("The request holds a value that cannot be stored or searched for "
                + "(a NUL character, or a number out of range).", null);
        }
        if (Database.unreachable(failure) || failure instanceof TimeoutException) {
            // An outage, not a bug: a 503 to retry, and a line now and then rather than a stack trace
            // a request (an operator audit found the admin API, reports and sign-in answering 500).
            if (OUTAGE_WARNINGS.due(System.currentTimeMillis())) {
                LOG.warn("PostgreSQL could not be reached for a request (answered 503): {}", failure.toString());
            }
            return new ApiError.Unavailable("The gateway's database is briefly unavailable; retry the request.");
        }
        LOG.error("unexpected failure on the request path", failure);
        return new ApiError.Internal("The server had an error while processing your request.");
    }

    public static JsonObject body(ApiError error) {
        JsonObject detail = new JsonObject()
            .put("message", error.message())
            .put("type", error.type())
            .put("param", error.param())
            .put("code", error.code());
        if (error.provider() != null) {
            detail.put("provider", error.provider());
        }
        return new JsonObject().put("error", detail);
    }

    /**
     * A request the HTTP decoder could not read — request line or headers over the server's limits,
     * or not HTTP at all — never reaches the router. Vert.x's default answers such a request with an
     * empty 414, 431 or 400; this gives the same statuses the OpenAI error shape and an
     * {@code X-Request-Id}, then closes the connection, which cannot be trusted any more.
     */
    public static void invalidHttpRequest(HttpServerRequest request) {
        Throwable cause = request.decoderResult().cause();
        int status;
        String code;
        String message;
        if (cause instanceof TooLongHttpLineException) {
            status = 414;
            code = "request_too_large";
            message = "The request line (method, path and query) is too long.";
        } else if (cause instanceof TooLongHttpHeaderException) {
            status = 431;
            code = "request_too_large";
            message = "The request headers are too large.";
        } else {
            status = 400;
            code = "invalid_request_error";
            message = "The request is not valid HTTP.";
        }
        JsonObject body = new JsonObject().put("error", new JsonObject().put("message", message)
            .put("type", "invalid_request_error").put("param", null).put("code", code));
        HttpServerResponse response = request.response();
        response.setStatusCode(status)
            .putHeader(HttpHeaders.CONTENT_TYPE, Headers.JSON)
            .putHeader(Headers.REQUEST_ID, Ids.requestId())
            .putHeader(Headers.PROVIDER, Headers.NO_PROVIDER)
            .putHeader(HttpHeaders.CONNECTION, HttpHeaders.CLOSE)
            .end(body.toBuffer());
        request.connection().close();
    }

    /**
     * The router's 400, for a request Vert.x Web could not read: no Host header, a query that is not
     * percent-encoding, or a body that breaks the chunked encoding. Its BodyHandler fails such a body
     * with 400, or with 200 when the decoder's exception is no DecoderException (a chunk size that is
     * not a number), as it does for a client gone mid-body, who hears nothing. Over HTTP/1.x the
     * connection is closed after the answer: after a body its decoder refused, Vert.x closes it
     * anyway, but from past its own handler (VertxHandler.exceptionCaught), so that an answer written
     * meanwhile would be dropped unflushed; closing it here flushes the answer first.
     */
    public static void unreadableRequest(RoutingContext ctx) {
        LOG.debug("a request that could not be read: {}", String.valueOf(ctx.failure()));
        HttpServerRequest request = ctx.request();
        boolean http1 = request.version() != HttpVersion.HTTP_2;
        if (http1) {
            ctx.response().putHeader(HttpHeaders.CONNECTION, HttpHeaders.CLOSE);
        }
        write(ctx.response(), new ApiError.InvalidRequest("The request could not be read.", null));
        if (http1) {
            request.connection().close();
        }
    }

    /** JSON for the router's own 404 and 405, in place of Vert.x Web's HTML page. */
    public static void unknownPaths(Router router) {
        router.errorHandler(404, ctx -> write(ctx.response(),
            new ApiError.NotFound("Unknown path " + ctx.request().method() + " " + ctx.request().path() + ".")));
        router.errorHandler(405, ctx -> write(ctx.response(),
            new ApiError.MethodNotAllowed(ctx.request().method().name())));
    }

    public static void write(HttpServerResponse response, Throwable failure) {
        write(response, toApiError(failure));
    }

    public static void write(HttpServerResponse response, ApiError error) {
        if (response.ended() || response.closed()) {
            return;
        }
        if (response.headWritten()) {
            // Too late for a status: the stream writer reports errors in-band.
            response.end();
            return;
        }
        response.setStatusCode(error.status()).putHeader("Content-Type", "application/json");
        if (!response.headers().contains(Headers.REQUEST_ID)) {
            // Refused by Vert.x Web before the first route, RequestIds.assign: a request without Host, say.
            response.putHeader(Headers.REQUEST_ID, Ids.requestId()).putHeader(Headers.PROVIDER, Headers.NO_PROVIDER);
        }
        if (error.retryAfterSeconds() > 0) {
            response.putHeader("Retry-After", Long.toString(error.retryAfterSeconds()));
        }
        if (!error.retryable()) {
            response.putHeader("x-should-retry", "false");
        }
        if (error.provider() != null) {
            response.putHeader(Headers.PROVIDER, error.provider());
        }
        response.end(body(error).toBuffer());
    }
}
