package io.tokenhub.limit;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.util.concurrent.atomic.AtomicInteger;

/** A cluster's count that never answers (its member frozen): counts the takes asked of it. */
final class SilentCounter implements SharedCounter {

    final AtomicInteger asked = new AtomicInteger();

    @Override
    public Future<Grant> take(String window, long want, long limit) {
        asked.incrementAndGet();
        return Promise.<Grant>promise().future();
    }

    @Override
    public Future<Long> used(String window) {
        return Promise.<Long>promise().future();
    }

    @Override
    public Future<Void> release(String window, long units) {
        return Promise.<Void>promise().future();
    }
}
