package io.tokenhub.provider;

import io.vertx.core.Vertx;

/**
 * A provider's {@code idle_ms} once its response has started. Vert.x's request idle timeout stops
 * at the response head, so without this an upstream that goes quiet mid-body would hold the
 * client's stream open until someone else's timeout. Runs only while the body is flowing: a
 * stream paused by our own back-pressure is not the provider's silence. Re-armed lazily, like
 * Vert.x's own: data only records the time, the timer checks it when it fires. Confined to the
 * event loop of the call.
 */
public final class IdleTimeout {

    private final Vertx vertx;
    private final long idleMs;
    private final Runnable onIdle;
    private long timerId = -1;
    private long lastDataNanos;
    private boolean stopped;

    IdleTimeout(Vertx vertx, long idleMs, Runnable onIdle) {
        this.vertx = vertx;
        this.idleMs = idleMs;
        this.onIdle = onIdle;
    }

    public long idleMs() {
        return idleMs;
    }

    /** Data arrived. */
    public void touch() {
        lastDataNanos = System.nanoTime();
    }

    /** The body flows (again): the quiet period starts now. */
    public void start() {
        if (stopped || timerId >= 0) {
            return;
        }
        lastDataNanos = System.nanoTime();
        arm(idleMs);
    }

    /** The body is paused on our side: no timeout until {@link #start()}. */
    public void suspend() {
        cancelTimer();
    }

    /** The body ended, failed or was cancelled: never fires again. */
    public void stop() {
        stopped = true;
        cancelTimer();
    }

    private void arm(long delayMs) {
        timerId = vertx.setTimer(Math.max(1, delayMs), id -> fire());
    }

    private void fire() {
        timerId = -1;
        if (stopped) {
            return;
        }
        long quietMs = (System.nanoTime() - lastDataNanos) / 1_000_000;
        if (quietMs < idleMs) {
            arm(idleMs - quietMs);
            return;
        }
        stopped = true;
        onIdle.run();
    }

    private void cancelTimer() {
        if (timerId >= 0) {
            vertx.cancelTimer(timerId);
            timerId = -1;
        }
    }
}
