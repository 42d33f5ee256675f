package io.tokenhub.billing;

import io.vertx.core.Future;
import java.time.Instant;
import java.util.List;

/**
 * The hot counters of money and plan tokens: reservations before an upstream call, settlement
 * after it. PostgreSQL remains the durable truth (the accounting verticle applies each request's
 * {@link Payment} there exactly once); these counters make admission fast and keep concurrent
 * requests from overdrawing by more than the reservations in flight.
 */
public interface Quota {

    /** A plan as the hot counters know it. */
    record Plan(String id, long tokensRemaining, Instant validFrom, Instant validUntil, List<String> models) {
        public boolean covers(String modelId, Instant now) {
            return !now.isBefore(validFrom) && now.isBefore(validUntil)
                && (models == null || models.isEmpty() || models.contains(modelId));
        }
    }

    /**
     * Sets aside the estimate, from plans first (earliest expiry first), the rest from the wallet;
     * fails with {@code insufficient_quota} or {@code monthly_cap_exceeded}.
     */
    Future<Reservation> reserve(String requestId, String accountId, String keyId, long monthlyCapMicroUsd,
                                String modelId, long estimatedTokens, long estimatedMicroUsd);

    /**
     * Whether this node's latest word from the counters, fresh, says that the key's account could pay
     * for a request of this estimate many times over, within the key's monthly cap: then its upstream
     * call may start while its reservation is on its way, and the answer waits for both. Never a
     * promise: the reservation still decides, and a request it refuses is refused, its call cancelled.
     * False where reserving takes no round trip.
     *
     * @param monthlyCapMicroUsd the key's cap now, {@code KeyContext.NO_CAP} for none
     */
    default boolean ample(String keyId, long monthlyCapMicroUsd, long estimatedMicroUsd) {
        return false;
    }

    /**
     * Replaces a request's reservation with one for another model, when it falls back to it: as
     * {@link #reserve}, under {@code reservationId}, with what {@code old} holds counting as
     * available; {@code old} is released only if the new one is made (else it still holds). When the
     * answer does not come in time (Redis), the replacement may still be made later and is then
     * handed back: the caller must not go on with {@code old} as if it held.
     */
    Future<Reservation> rebook(Reservation old, String reservationId, long monthlyCapMicroUsd, String modelId,
                               long estimatedTokens, long estimatedMicroUsd);

    /**
     * Turns the reservation into the real charge and releases the rest. Real usage may exceed the
     * estimate; the excess is still charged (plans first, then wallet), so the wallet may go below
     * zero by at most what was in flight. Never fails: when the counters cannot take it, all of it is
     * charged to the wallet (in PostgreSQL, with the usage record) and counts as pending all the same.
     */
    Future<Payment> settle(Reservation reservation, long tokens, long microUsd);

    /**
     * Money added (or taken away) by an admin, already in PostgreSQL; fails when the counters could
     * not be told (try again: taken once per {@code creditId}, and not at all by counters that read
     * the balance at or after {@code writtenAfterUs}, which may have it: a credit is missed rather than
     * counted twice). Both times are PostgreSQL's clock ({@link QuotaLoader.Snapshot#readAtUs}), so no
     * node's clock running ahead can make a load look older than the credit it read.
     */
    Future<Void> credited(String accountId, long microUsd, String creditId, long writtenAfterUs);

    /** A plan granted by an admin, already in PostgreSQL; taken once, as {@link #credited}. */
    Future<Void> planGranted(String accountId, Plan plan);

    /** These settlements are now durable in PostgreSQL. */
    void durable(List<Settled> batch);

    /**
     * Settlements of an earlier run of this node whose records it found on disk at start (its
     * journal, its spool), not written yet: pending like this run's own until {@link #durable}, so
     * that counters loaded before they are written do not count that money as still there.
     */
    void foundOnDisk(List<Settled> batch);

    /** Releases reservations of requests that never settled (a crash mid-request); answers how many. */
    int sweep();

    /**
     * The node stops, its requests done: gives back what it holds of accounts' money for requests to
     * come ({@code RedisQuota}'s shares), so that other nodes need not wait for it to go stale.
     */
    default Future<Void> close() {
        return Future.succeededFuture();
    }

    /** Reservations older than this many milliseconds belong to crashed requests and are released. */
    long RESERVATION_TTL_MS = 15 * 60_000;
}
