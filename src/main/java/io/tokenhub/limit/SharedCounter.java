package io.tokenhub.limit;

import io.vertx.core.Future;

/**
 * The cluster-wide count of one limit window. {@link #take} grants up to {@code want} units (never
 * beyond {@code limit} in total for the window) and answers how many were granted and how many
 * are used in all.
 */
public interface SharedCounter {

    /** The outcome of one take: units granted now, and the window's total use after it. */
    record Grant(long granted, long used) implements java.io.Serializable {
    }

    Future<Grant> take(String window, long want, long limit);

    /** The window's total use so far, creating nothing. */
    Future<Long> used(String window);

    /** Hands back units taken from the window and not used, so that other nodes may take them (never below 0). */
    Future<Void> release(String window, long units);
}
