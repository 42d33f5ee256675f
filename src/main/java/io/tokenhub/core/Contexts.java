package io.tokenhub.core;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;

/** Keeps a request on its own event loop when it waits on a future shared with other loops. */
public final class Contexts {

    private Contexts() {
    }

    /**
     * The same outcome as {@code shared}, delivered on the caller's context. A future created on
     * another event loop would otherwise run the caller's continuation on that loop.
     */
    public static <T> Future<T> onCaller(Future<T> shared) {
        Context caller = Vertx.currentContext();
        if (caller == null) {
            return shared;
        }
        Promise<T> local = Promise.promise();
        shared.onComplete(ar -> {
            if (Vertx.currentContext() == caller) {
                local.handle(ar);
            } else {
                caller.runOnContext(v -> local.handle(ar));
            }
        });
        return local.future();
    }
}
