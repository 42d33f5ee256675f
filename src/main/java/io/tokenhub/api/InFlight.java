package io.tokenhub.api;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.util.ArrayDeque;

/**
 * Operations in flight on one event loop, and a barrier over them: {@link #drained()} completes
 * once every operation begun before it was asked has ended, whatever begins after. Operations are
 * counted by epoch, and an epoch closes when a barrier is asked for, so the bookkeeping per
 * operation is a counter, not a collection. Not thread-safe: one event loop only.
 */
final class InFlight {

    private static final class Epoch {
        final long id;
        int open;
        final Promise<Void> drained = Promise.promise();

        Epoch(long id, int open) {
            this.id = id;
            this.open = open;
        }
    }

    private long epoch;
    /** Operations of the current epoch still open. */
    private int open;
    /** Closed epochs with operations still open, oldest first. */
    private final ArrayDeque<Epoch> closed = new ArrayDeque<>();

    /** An operation begins; hand the answer back to {@link #end}. */
    long begin() {
        open++;
        return epoch;
    }

    void end(long token) {
        if (token == epoch) {
            open--;
            return;
        }
        for (Epoch e : closed) {
            if (e.id == token) {
                e.open--;
                break;
            }
        }
        while (!closed.isEmpty() && closed.peekFirst().open == 0) {
            closed.pollFirst().drained.complete();
        }
    }

    /** Completes once every operation begun so far has ended. */
    Future<Void> drained() {
        if (open > 0) {
            closed.addLast(new Epoch(epoch, open));
            epoch++;
            open = 0;
        }
        return closed.isEmpty() ? Future.succeededFuture() : closed.peekLast().drained.future();
    }
}
