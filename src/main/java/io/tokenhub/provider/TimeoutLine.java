package io.tokenhub.provider;

import io.netty.channel.EventLoop;
import io.netty.util.concurrent.FastThreadLocal;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One event loop's {@link IdleTimeout}s of one length, on one timer. A Vert.x timer per timeout
 * costs a task in Netty's scheduled-task queue, an entry in Vert.x's timer map and a few objects
 * to set and again to cancel, and an upstream call set two (first byte, then body) that almost
 * never fired. Here a timeout is a link in a list kept in deadline order: all of a line's timeouts
 * have the same length, so starting one appends it and stopping one unlinks it. The line's timer
 * fires at the head's deadline, expires what is due, and moves what saw data since it was queued
 * to its place further down (data only records the time, as with Vert.x's own idle timeouts).
 * Confined to the event-loop thread it was made on; timeouts started anywhere else use a Vert.x
 * timer of their own.
 */
final class TimeoutLine {

    /**
     * This thread's lines, by Vert.x instance and length: a handful (one per distinct length).
     * Netty's thread local, an array slot on event-loop threads (a ThreadLocal's map look-up was
     * 0.5 % of the gateway's CPU).
     */
    private static final FastThreadLocal<List<TimeoutLine>> LINES = new FastThreadLocal<>() {
        @Override
        protected List<TimeoutLine> initialValue() {
            return new ArrayList<>();
        }
    };

    private final Vertx vertx;
    private final EventLoop loop;
    private final long lengthNanos;
    private IdleTimeout head;
    private IdleTimeout tail;
    private boolean armed;
    private boolean firing;

    private TimeoutLine(Vertx vertx, EventLoop loop, long lengthNanos) {
        this.vertx = vertx;
        this.loop = loop;
        this.lengthNanos = lengthNanos;
    }

    /** The calling event loop's line of this length, or null when the caller is not on an event loop. */
    static TimeoutLine current(ContextInternal context, long lengthMs) {
        if (context == null || !context.isEventLoopContext() || !context.nettyEventLoop().inEventLoop()) {
            return null;
        }
        long lengthNanos = TimeUnit.MILLISECONDS.toNanos(lengthMs);
        List<TimeoutLine> lines = LINES.get();
        for (TimeoutLine line : lines) {
            if (line.lengthNanos == lengthNanos && line.vertx == context.owner()) {
                return line;
            }
        }
        TimeoutLine line = new TimeoutLine(context.owner(), context.nettyEventLoop(), lengthNanos);
        lines.add(line);
        return line;
    }

    /** Starts a timeout whose quiet period began at its {@code sinceNanos}: it goes last. */
    void append(IdleTimeout timeout) {
        assert loop.inEventLoop() : "a timeout line is confined to its event loop";
        timeout.prev = tail;
        timeout.next = null;
        if (tail == null) {
            head = timeout;
        } else {
            tail.next = timeout;
        }
        tail = timeout;
        timeout.line = this;
        if (!armed && !firing) {
            armForHead();
        }
    }

    void unlink(IdleTimeout timeout) {
        if (timeout.line != this) {
            return;
        }
        assert loop.inEventLoop() : "a timeout line is confined to its event loop";
        if (timeout.prev == null) {
            head = timeout.next;
        } else {
            timeout.prev.next = timeout.next;
        }
        if (timeout.next == null) {
            tail = timeout.prev;
        } else {
            timeout.next.prev = timeout.prev;
        }
        timeout.prev = null;
        timeout.next = null;
        timeout.line = null;
    }

    /** A timeout that saw data since it was queued goes back in deadline order, searched from the end. */
    private void requeue(IdleTimeout timeout) {
        IdleTimeout after = tail;
        while (after != null && after.sinceNanos - timeout.sinceNanos > 0) {
            after = after.prev;
        }
        if (after == tail) {
            append(timeout);
            return;
        }
        timeout.line = this;
        timeout.prev = after;
        timeout.next = after == null ? head : after.next;
        timeout.next.prev = timeout;
        if (after == null) {
            head = timeout;
        } else {
            after.next = timeout;
        }
    }

    /** A timer that finds nothing due re-arms for the head: stopping a timeout never cancels it. */
    private void armForHead() {
        armed = true;
        long delayNanos = head.sinceNanos + lengthNanos - System.nanoTime();
        loop.schedule(this::fire, Math.max(0, delayNanos), TimeUnit.NANOSECONDS);
    }

    private void fire() {
        armed = false;
        firing = true;
        try {
            long now = System.nanoTime();
            while (head != null && now - (head.sinceNanos + lengthNanos) >= 0) {
                IdleTimeout due = head;
                unlink(due);
                long quiet = now - due.lastDataNanos;
                if (quiet >= lengthNanos) {
                    due.expire();
                } else {
                    due.sinceNanos = due.lastDataNanos;
                    requeue(due);
                }
            }
        } finally {
            // Even if an expiry threw: what is left keeps its timer.
            firing = false;
            if (head != null && !armed) {
                armForHead();
            }
        }
    }
}
