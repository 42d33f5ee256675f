package io.tokenhub.accounting;

import io.tokenhub.core.Bus;
import io.tokenhub.core.Contexts;
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

    /** The longest one sync takes; a read that finds one running waits for it and the next. */
    static final long TIMEOUT_MS = 2_000;
    private static final DeliveryOptions LOCAL = new DeliveryOptions().setLocalOnly(true);

    private record Source(Context context, Supplier<Future<Void>> handOver) {
    }

    private final Vertx vertx;
    private final List<Source> sources = new CopyOnWriteArrayList<>();
    /** Whether a sync is running, and the one readers arriving meanwhile wait for; guarded by this. */
    private boolean running;
    private Promise<Void> queued;

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

    /**
     * Completes (never fails), on the caller's context, once the usage of the requests finished on
     * this node before the call is written, or after {@link #TIMEOUT_MS}. Reads that arrive while a
     * sync is running share the one that follows it, so polling does not multiply the writes.
     */
    public Future<Void> sync() {
        Promise<Void> mine;
        boolean startNow;
        synchronized (this) {
            startNow = !running;
            if (startNow) {
                running = true;
                mine = Promise.promise();
            } else {
                if (queued == null) {
                    queued = Promise.promise();
                }
                mine = queued;
            }
        }
        if (startNow) {
            run(mine);
        }
        return Contexts.onCaller(mine.future());
    }

    /** Runs one sync for {@code readers}, then the one queued meanwhile, if any. */
    private void run(Promise<Void> readers) {
        runOnce().onComplete(ar -> {
            readers.complete();
            Promise<Void> next;
            synchronized (this) {
                next = queued;
                queued = null;
                running = next != null;
            }
            if (next != null) {
                run(next);
            }
        });
    }

    private Future<Void> runOnce() {
        List<Future<Void>> handedOver = sources.stream().map(source -> {
            Promise<Void> done = Promise.promise();
            source.context().runOnContext(v -> source.handOver().get().onComplete(done));
            return done.future().recover(failure -> Future.succeededFuture());
        }).toList();
        return Future.join(handedOver)
            .compose(v -> vertx.eventBus().request(Bus.USAGE_SYNC, null, LOCAL))
            .<Void>mapEmpty()
            .timeout(TIMEOUT_MS, TimeUnit.MILLISECONDS)
            .recover(failure -> Future.succeededFuture());
    }
}
