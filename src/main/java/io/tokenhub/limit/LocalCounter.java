package io.tokenhub.limit;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.vertx.core.Future;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A single node's shared counter, in memory. Windows are one minute long, so each is dropped three
 * minutes after it began; a bounded counter also drops the least recently used beyond its size, for
 * windows whose names come from outside (sign-in emails).
 */
public final class LocalCounter implements SharedCounter {

    private final Cache<String, AtomicLong> windows;

    /** Unbounded: for windows named after API keys and models, which only this gateway creates. */
    public LocalCounter() {
        this(Long.MAX_VALUE);
    }

    public LocalCounter(long maxWindows) {
        Caffeine<Object, Object> builder = Caffeine.newBuilder().expireAfterWrite(Duration.ofMinutes(3));
        this.windows = (maxWindows == Long.MAX_VALUE ? builder : builder.maximumSize(maxWindows)).build();
    }

    @Override
    public Future<Grant> take(String window, long want, long limit) {
        AtomicLong used = windows.get(window, w -> new AtomicLong());
        while (true) {
            long current = used.get();
            long granted = Math.max(0, Math.min(want, limit - current));
            if (used.compareAndSet(current, current + granted)) {
                return Future.succeededFuture(new Grant(granted, current + granted));
            }
        }
    }

    @Override
    public Future<Void> release(String window, long units) {
        AtomicLong used = windows.getIfPresent(window);
        if (used != null) {
            used.updateAndGet(current -> Math.max(0, current - units));
        }
        return Future.succeededFuture();
    }

    /** Windows held now (after pending evictions). */
    long size() {
        windows.cleanUp();
        return windows.estimatedSize();
    }

    @Override
    public Future<Long> used(String window) {
        AtomicLong used = windows.getIfPresent(window);
        return Future.succeededFuture(used == null ? 0 : used.get());
    }
}
