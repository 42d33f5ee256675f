package io.tokenhub.provider;

import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;

/**
 * A limit on an upstream's silence: {@code first_byte_ms} from the request sent to the response
 * head, {@code idle_ms} between data once the body has started (Vert.x's own request timeout stops
 * at the head, so an upstream that goes quiet mid-body would otherwise hold the client's stream
 * open). Runs only while started: a body paused by our own back-pressure is not the provider's
 * silence. Data only records the time; the timeout checks it when it falls due. Started on an event
 * loop, it is a link in that loop's {@link TimeoutLine} for its length; anywhere else, a Vert.x
 * timer of its own. Confined to the thread of the call.
 */
public final class IdleTimeout {

    private final Vertx vertx;
    private final long idleMs;
    private final Runnable onIdle;
    private boolean stopped;
    private ContextInternal context;

    // The line's links, and when this timeout's quiet period began as far as the line knows.
    TimeoutLine line;
    IdleTimeout prev;
    IdleTimeout next;
    long sinceNanos;
    long lastDataNanos;

    // Off an event loop: the Vert.x timer.
    private long timerId = -1;

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

    /** The quiet period starts now (again, after {@link #suspend()}). */
    public void start() {
        if (stopped || line != null || timerId >= 0) {
            return;
        }
        lastDataNanos = System.nanoTime();
        sinceNanos = lastDataNanos;
        context = ContextInternal.current();
        TimeoutLine current = TimeoutLine.current(context, idleMs);
        if (current != null) {
            current.append(this);
        } else {
            arm(idleMs);
        }
    }

    /** The body is paused on our side: no timeout until {@link #start()}. */
    public void suspend() {
        if (line != null) {
            line.unlink(this);
        }
        if (timerId >= 0) {
            vertx.cancelTimer(timerId);
            timerId = -1;
        }
    }

    /** The call ended, failed or was cancelled: never fires again. */
    public void stop() {
        stopped = true;
        suspend();
    }

    /** Called by the line when the quiet period is over: unlinked already. */
    void expire() {
        if (stopped) {
            return;
        }
        stopped = true;
        context.dispatch(onIdle);
    }

    private void arm(long delayMs) {
        timerId = vertx.setTimer(Math.max(1, delayMs), id -> {
            timerId = -1;
            long quietMs = (System.nanoTime() - lastDataNanos) / 1_000_000;
            if (quietMs < idleMs) {
                arm(idleMs - quietMs);
            } else if (!stopped) {
                stopped = true;
                onIdle.run();
            }
        });
    }
}
