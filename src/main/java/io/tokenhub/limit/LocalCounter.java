package io.tokenhub.limit;

import io.vertx.core.Future;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/** A single node's shared counter: in memory, with old windows dropped as new minutes begin. */
public final class LocalCounter implements SharedCounter {

    private final ConcurrentHashMap<String, AtomicLong> windows = new ConcurrentHashMap<>();
    private volatile long lastPurgeMinute;

    @Override
    public Future<Grant> take(String window, long want, long limit) {
        purge();
        AtomicLong used = windows.computeIfAbsent(window, w -> new AtomicLong());
        while (true) {
            long current = used.get();
            long granted = Math.max(0, Math.min(want, limit - current));
            if (used.compareAndSet(current, current + granted)) {
                return Future.succeededFuture(new Grant(granted, current + granted));
            }
        }
    }

    private void purge() {
        long minute = System.currentTimeMillis() / 60_000;
        if (minute != lastPurgeMinute) {
            lastPurgeMinute = minute;
            // Window names end with their minute; anything two minutes old is over.
            windows.keySet().removeIf(w -> Long.parseLong(w.substring(w.lastIndexOf('|') + 1)) < minute - 1);
        }
    }
}
