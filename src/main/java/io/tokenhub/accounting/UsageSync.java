package io.tokenhub.accounting;

import io.tokenhub.core.Bus;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Makes this node's finished requests visible in PostgreSQL before a read of balances, usage or
 * logs: every API event loop hands over the usage it holds (after the settlements in flight), then
 * the accounting verticle writes what it was given. Without it such a read, straight after a
 * request, would miss it for up to {@code accounting.flush_ms} plus the buffers' linger.
 * Best effort and bounded: a read is never refused because of it, and requests served by other
 * nodes of a cluster show within their own flush interval.
 */
public final class UsageSync {

    /** The longest a read waits for the usage to be written. */
    static final long TIMEOUT_MS = 2_000;
    private static final DeliveryOptions LOCAL = new DeliveryOptions().setLocalOnly(true).setSendTimeout(TIMEOUT_MS);

    private record Source(Context context, Supplier<Future<Void>> handOver) {
    }

    private final Vertx vertx;
    private final List<Source> sources = new CopyOnWriteArrayList<>();

    public UsageSync(Vertx vertx) {
        this.vertx = vertx;
    }

    /**
     * @param handOver run on {@code context}: completes once the usage of every request finished there
     *                 so far has been sent to the accounting verticle
     * @return what takes it off again (when its verticle stops)
     */
    public Runnable register(Context context, Supplier<Future<Void>> handOver) {
        Source source = new Source(context, handOver);
        sources.add(source);
        return () -> sources.remove(source);
    }

    /** Completes (never fails) once the usage of the requests finished on this node is written, or after the timeout. */
    public Future<Void> sync() {
        List<Future<Void>> handedOver = sources.stream().map(source -> {
            Promise<Void> done = Promise.promise();
            source.context().runOnContext(v -> source.handOver().get().onComplete(done));
            return done.future().timeout(TIMEOUT_MS, TimeUnit.MILLISECONDS);
        }).toList();
        return Future.join(handedOver)
            .compose(v -> vertx.eventBus().request(Bus.USAGE_SYNC, null, LOCAL))
            .<Void>mapEmpty()
            .recover(failure -> Future.succeededFuture());
    }
}
