package io.tokenhub.api;

import io.tokenhub.core.Ids;
import io.vertx.ext.web.RoutingContext;

/** Gives every request an id, sent back as {@code X-Request-Id} on every response. */
final class RequestIds {

    private static final String KEY = "tokenhub.requestId";

    private RequestIds() {
    }

    static void assign(RoutingContext ctx) {
        String id = Ids.requestId();
        ctx.put(KEY, id);
        ctx.response().putHeader(Headers.REQUEST_ID, id);
        ctx.next();
    }

    static String of(RoutingContext ctx) {
        String id = ctx.get(KEY);
        return id != null ? id : Ids.requestId();
    }
}
