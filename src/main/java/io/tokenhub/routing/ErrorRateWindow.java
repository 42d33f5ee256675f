package io.tokenhub.routing;

/**
 * Calls and failures over a rolling window of one-second buckets. {@link #record} answers whether
 * the error rate has reached the threshold with enough calls in the window to mean it, and at
 * least as many failures as the consecutive rule needs: when every call fails, that rule opens the
 * circuit first, so the upstream sees exactly {@code max_failures} failing calls whatever it is.
 */
final class ErrorRateWindow {

    static final long DEFAULT_WINDOW_MS = 30_000;
    static final int DEFAULT_MIN_CALLS = 20;
    static final double DEFAULT_THRESHOLD = 0.5;
    private static final long BUCKET_MS = 1_000;

    private final int buckets;
    private final int minCalls;
    private final int minFailures;
    private final double threshold;
    private final long[] bucketStart;
    private final int[] calls;
    private final int[] failures;

    ErrorRateWindow(long windowMs, int minCalls, int minFailures, double threshold) {
        this.buckets = (int) Math.max(1, windowMs / BUCKET_MS);
        this.minCalls = minCalls;
        this.minFailures = minFailures;
        this.threshold = threshold;
        this.bucketStart = new long[buckets];
        this.calls = new int[buckets];
        this.failures = new int[buckets];
    }

    synchronized boolean record(boolean success) {
        long now = System.currentTimeMillis();
        long start = now - now % BUCKET_MS;
        int i = (int) ((now / BUCKET_MS) % buckets);
        if (bucketStart[i] != start) {
            bucketStart[i] = start;
            calls[i] = 0;
            failures[i] = 0;
        }
        calls[i]++;
        if (success) {
            return false;
        }
        failures[i]++;
        int total = 0;
        int failed = 0;
        for (int b = 0; b < buckets; b++) {
            if (now - bucketStart[b] < (long) buckets * BUCKET_MS) {
                total += calls[b];
                failed += failures[b];
            }
        }
        return total >= minCalls && failed >= minFailures && failed >= threshold * total;
    }

    synchronized double errorRate() {
        long now = System.currentTimeMillis();
        int total = 0;
        int failed = 0;
        for (int b = 0; b < buckets; b++) {
            if (now - bucketStart[b] < (long) buckets * BUCKET_MS) {
                total += calls[b];
                failed += failures[b];
            }
        }
        return total == 0 ? 0 : (double) failed / total;
    }

    synchronized void clear() {
        java.util.Arrays.fill(calls, 0);
        java.util.Arrays.fill(failures, 0);
    }
}
