package io.tokenhub.routing;

/**
 * The breaker's trip rule, as the Vert.x circuit breaker counts it: {@code maxFailures} failures
 * within {@code windowMs} with no success in between. Successes are the common case, so clearing
 * after one is a volatile read unless there is something to clear. Thread-safe.
 */
final class ConsecutiveFailures {

    private final long windowMs;
    /** When the latest failures happened, oldest first: a ring of the last {@code maxFailures}. */
    private final long[] at;
    private int count;
    private int next;
    private volatile boolean any;

    ConsecutiveFailures(int maxFailures, long windowMs) {
        this.windowMs = windowMs;
        this.at = new long[Math.max(1, maxFailures)];
    }

    /** Counts a failure; true when it makes {@code maxFailures} within the window. */
    synchronized boolean add(long nowMs) {
        at[next] = nowMs;
        next = (next + 1) % at.length;
        count = Math.min(count + 1, at.length);
        any = true;
        // Once the ring is full, the slot to be overwritten next holds the oldest of the last maxFailures.
        return count == at.length && nowMs - at[next] < windowMs;
    }

    /** A success: the failures before it no longer count. */
    void clear() {
        if (any) {
            synchronized (this) {
                count = 0;
                any = false;
            }
        }
    }
}
