package io.tokenhub.api;

import io.tokenhub.core.Ids;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpVersion;
import io.vertx.ext.web.RoutingContext;

/**
 * Gives every request an id, sent back as {@code X-Request-Id} on every response (with
 * {@code X-TokenHub-Provider: none} until a provider serves it), and notes when it arrived: the
 * first handler of every route, so that the overhead metric starts where the request does, before
 * its body is read and parsed. The management port's routes start with it too, so that every
 * response of the node carries the two headers.
 */
public final class RequestIds {

    /** A request's id and its arrival on {@link System#nanoTime()}'s clock. */
    record Arrival(String id, long nanos) {
    }

    private static final String KEY = "tokenhub.arrival";

    private RequestIds() {
    }

    public static void assign(RoutingContext ctx) {
        Arrival arrival = new Arrival(Ids.requestId(), System.nanoTime());
        ctx.put(KEY, arrival);
        ctx.response().putHeader(Headers.REQUEST_ID, arrival.id()).putHeader(Headers.PROVIDER, Headers.NO_PROVIDER);
        if (ctx.request().version() != HttpVersion.HTTP_2
            && ctx.request().headers().contains(HttpHeaders.TRANSFER_ENCODING)) {
            // A chunked body, perhaps sent with a Content-Length too (which Netty drops): the connection
            // closes after the answer (RFC 9112 §6.1), so that a proxy in front that framed the body
            // by its length cannot have the bytes after the last chunk read as another request.
            ctx.response().putHeader(HttpHeaders.CONNECTION, HttpHeaders.CLOSE);
        }
        ctx.next();
    }

    static Arrival of(RoutingContext ctx) {
        Arrival arrival = ctx.get(KEY);
        return arrival != null ? arrival : new Arrival(Ids.requestId(), System.nanoTime());
    }
}
