package io.tokenhub.core;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Yes at most once per interval, whichever thread asks: for a warning that an outage would
 * otherwise repeat on every request.
 */
public final class OncePer {

    private final long intervalMs;
    private final AtomicLong last = new AtomicLong();

    public OncePer(long intervalMs) {
        this.intervalMs = intervalMs;
    }

    /** True the first time, then once {@code intervalMs} has passed since the last true. */
    public boolean due(long nowMs) {
        long previous = last.get();
        return nowMs - previous >= intervalMs && last.compareAndSet(previous, nowMs);
    }
}
