package io.tokenhub.api;

import io.tokenhub.core.ApiError.RequestTooLarge;
import io.tokenhub.core.ApiError.UnsupportedContentEncoding;
import io.tokenhub.core.Contexts;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.PlatformHandler;
import java.util.function.BiConsumer;
import java.util.function.Function;

/** Request bodies: the size limit and a credential before reading, and JSON objects after. */
final class Bodies {

    private Bodies() {
    }

    /**
     * Refuses a compressed body (415) and a declared body over the limit (413) before reading any
     * of it, so that a client that sent {@code Expect: 100-continue} gets the refusal instead (and,
     * over HTTP/1.1, the connection is closed). The body handler that must follow sends
     * {@code 100 Continue} when the body may come, and cuts off bodies without a length at its own
     * limit.
     *
     * @param refuse answers (and counts) the refusal
     */
    static Handler<RoutingContext> limit(long maxBytes, BiConsumer<RoutingContext, Throwable> refuse) {
        // A platform handler, so Vert.x Web lets it run before the body handler.
        return (PlatformHandler) ctx -> {
            // A compressed body would be read as JSON and refused as unreadable: said as what it is,
            // with the one coding taken (RFC 9110 §15.5.16).
            String coding = compression(ctx.request());
            if (coding != null) {
                ctx.response().putHeader(HttpHeaders.ACCEPT_ENCODING, "identity");
                refuseUnread(ctx, new UnsupportedContentEncoding(coding).toException(), refuse);
                return;
            }
            String length = ctx.request().getHeader(HttpHeaders.CONTENT_LENGTH);
            if (length != null) {
                long declared;
                try {
                    declared = Long.parseLong(length.trim());
                } catch (NumberFormatException e) {
                    declared = -1;
                }
                if (declared > maxBytes) {
                    refuseUnread(ctx, new RequestTooLarge(maxBytes).toException(), refuse);
                    return;
                }
            }
            // No writeContinue here: the body handler that follows answers Expect: 100-continue itself
            // (once the length is within its limit); writing it here too sent two interim responses.
            ctx.next();
        };
    }

    /** The first content coding other than identity the request declares (cut to 40 characters), or null. */
    private static String compression(HttpServerRequest request) {
        if (request.getHeader(HttpHeaders.CONTENT_ENCODING) == null) {
            return null;
        }
        for (String value : request.headers().getAll(HttpHeaders.CONTENT_ENCODING)) {
            for (String coding : value.split(",")) {
                String name = coding.trim();
                if (!name.isEmpty() && !name.equalsIgnoreCase("identity")) {
                    return name.length() <= 40 ? name : name.substring(0, 40) + "…";
                }
            }
        }
        return null;
    }

    /** Refuses a request whose body will not be read: over HTTP/1.1 its connection then closes. */
    private static void refuseUnread(RoutingContext ctx, Throwable refusal,
                                     BiConsumer<RoutingContext, Throwable> refuse) {
        // HTTP/2 has no Connection header: a client must take a response with one for malformed
        // (curl resets the stream and shows no status). Nor is the stream reset once answered, as
        // a refused key's is (see proceed): curl 7.88 drops the answer if it is still sending then.
        if (ctx.request().version() != HttpVersion.HTTP_2) {
            ctx.response().putHeader(HttpHeaders.CONNECTION, HttpHeaders.CLOSE);
        }
        refuse.accept(ctx, refusal);
    }

    /**
     * Checks a credential before a body is read, so that nobody without it can make this node
     * receive and hold up to {@code max_body_bytes}. A check that cannot answer at once (a look-up)
     * pauses the request until it does. Requests without a body go straight on (what they ask
     * checks the credential itself).
     */
    static Handler<RoutingContext> credentialFirst(Function<RoutingContext, Future<?>> check,
                                                   BiConsumer<RoutingContext, Throwable> refuse) {
        return (PlatformHandler) ctx -> {
            if (!mayHaveBody(ctx.request())) {
                ctx.next();
                return;
            }
            Future<?> checked = check.apply(ctx);
            if (checked.isComplete()) {
                proceed(ctx, checked, refuse);
                return;
            }
            ctx.request().pause();
            // Bytes that break the connection meanwhile (a chunk size that is not a number) are answered
            // now: Vert.x closes the connection right after telling the request, whatever the look-up.
            ctx.request().exceptionHandler(failure -> ctx.fail(400, failure));
            Contexts.onCaller(checked).onComplete(done -> proceed(ctx, checked, refuse));
        };
    }

    /**
     * The body handler for the methods that carry a body; a GET or HEAD goes on without one read.
     * Vert.x Web's handler throws on a GET sent as a form ({@code curl -X GET -d ''}), a 500.
     */
    static Handler<RoutingContext> ofMethodsWithOne(Handler<RoutingContext> bodyHandler) {
        return ctx -> {
            HttpMethod method = ctx.request().method();
            if (method == HttpMethod.POST || method == HttpMethod.PUT || method == HttpMethod.PATCH
                || method == HttpMethod.DELETE) {
                bodyHandler.handle(ctx);
            } else {
                ctx.next();
            }
        };
    }

    /** A body is announced (HTTP/1.1), or may come (an HTTP/2 POST, PUT or PATCH need not announce it). */
    private static boolean mayHaveBody(HttpServerRequest request) {
        String length = request.getHeader(HttpHeaders.CONTENT_LENGTH);
        if (length != null) {
            return !"0".equals(length.trim());
        }
        if (request.version() != HttpVersion.HTTP_2) {
            return request.headers().contains(HttpHeaders.TRANSFER_ENCODING);
        }
        HttpMethod method = request.method();
        return method == HttpMethod.POST || method == HttpMethod.PUT || method == HttpMethod.PATCH;
    }

    /**
     * On to the body handler (which resumes a paused request once it reads it), or the refusal. The
     * rest of a refused body is not wanted: a client waiting for {@code 100 Continue} is told so by
     * the connection closing after the answer (its next bytes would be a body nobody reads), an
     * HTTP/2 stream is reset once answered, and a body already on its way over HTTP/1.1 is read
     * and dropped, so that the client hears the answer (closing under it could reset the connection
     * before it reads it). Nothing is done for a client that left, or was answered, while its key
     * was looked up.
     */
    private static void proceed(RoutingContext ctx, Future<?> checked, BiConsumer<RoutingContext, Throwable> refuse) {
        HttpServerRequest request = ctx.request();
        HttpServerResponse response = ctx.response();
        if (response.closed() || response.ended()) {
            return;
        }
        if (checked.succeeded()) {
            ctx.next();
            return;
        }
        if (!request.isEnded()) {
            if (request.version() == HttpVersion.HTTP_2) {
                response.endHandler(v -> response.reset(0));
            } else if ("100-continue".equalsIgnoreCase(request.getHeader(HttpHeaders.EXPECT))) {
                response.putHeader(HttpHeaders.CONNECTION, HttpHeaders.CLOSE)
                    .endHandler(v -> request.connection().close());
            } else {
                request.resume();
            }
        }
        refuse.accept(ctx, checked.cause());
    }

    /** The body as a JSON object; anything else is a 400 with no {@code param}. */
    static JsonObject jsonObject(RoutingContext ctx) {
        Buffer body = ctx.body() == null ? null : ctx.body().buffer();
        if (body == null || body.length() == 0) {
            throw ChatRequestParser.invalid("The request body is empty; send a JSON object.", null);
        }
        try {
            Object parsed = io.vertx.core.json.Json.decodeValue(body);
            if (parsed instanceof JsonObject object) {
                return object;
            }
        } catch (DecodeException | IllegalStateException e) {
            throw ChatRequestParser.malformedJson().toException();
        }
        throw ChatRequestParser.invalid("The request body must be a JSON object.", null);
    }
}
