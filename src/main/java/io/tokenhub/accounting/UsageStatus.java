package io.tokenhub.accounting;

import java.util.concurrent.atomic.AtomicLong;

/**
 * What the accounting pipeline reports to health checks and metrics; written by the accounting
 * verticle, read from any thread.
 */
public final class UsageStatus {

    private final AtomicLong backlog = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong spoolRejected = new AtomicLong();
    private volatile boolean databaseUp = true;
    private volatile String lastError = "";

    /** Records accepted but not yet in PostgreSQL (in memory or spooled on disk). */
    public long backlog() {
        return backlog.get();
    }

    public long droppedTotal() {
        return dropped.get();
    }

    /** Spooled lines that could not be read back as records; they are kept aside, not replayed. */
    public long spoolRejectedTotal() {
        return spoolRejected.get();
    }

    public boolean isDatabaseUp() {
        return databaseUp;
    }

    public String lastError() {
        return lastError;
    }

    void backlog(long records) {
        backlog.set(records);
    }

    void dropped() {
        dropped.incrementAndGet();
    }

    void spoolRejected(long lines) {
        spoolRejected.addAndGet(lines);
    }

    void databaseUp() {
        databaseUp = true;
    }

    void databaseDown(Throwable cause) {
        databaseUp = false;
        lastError = cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
    }
}
