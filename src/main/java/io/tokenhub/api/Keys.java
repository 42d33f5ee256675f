package io.tokenhub.api;

import io.tokenhub.auth.Authenticator;
import io.tokenhub.auth.KeyContext;
import io.vertx.core.Future;
import io.vertx.ext.web.RoutingContext;

/**
 * A request's API key, authenticated once: before its body is read (see
 * {@link Bodies#credentialFirst}), and handed to its handler from there.
 */
final class Keys {

    private static final String KEY = "tokenhub.key";

    private Keys() {
    }

    static Future<KeyContext> of(RoutingContext ctx, Authenticator auth) {
        KeyContext known = ctx.get(KEY);
        if (known != null) {
            return Future.succeededFuture(known);
        }
        return auth.authenticate(ctx.request().getHeader("Authorization")).onSuccess(key -> ctx.put(KEY, key));
    }
}
