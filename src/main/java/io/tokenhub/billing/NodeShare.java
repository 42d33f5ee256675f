package io.tokenhub.billing;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.util.ArrayList;
import java.util.List;

/**
 * A node's share of an account's money, held for one key: an amount reserved in Redis like a
 * request's reservation (so every other node counts it as money in flight), against which this
 * node reserves the key's requests in its own process, without a round trip. What they cost is
 * charged in Redis by the share's next renewal, a few milliseconds later, which also sizes the
 * share again; their settlements (and so their usage records) wait for it.
 *
 * <p>The node's requests never hold more than the share: a request's estimate fits beside what
 * the others hold and what they spent since the last renewal, or it reserves in Redis as any
 * request does. While a renewal is on its way no request is reserved against the share, so that
 * what the renewal keeps (what the requests in flight hold) covers all of them when it is answered.
 * The share is used only while its last renewal that Redis answered was sent less than
 * {@link #FRESH_MS} ago: a Redis gone silent leaves it unused, and releases it once it is stale.
 * Thread-safe: the key's requests come from every event loop of the node.
 */
final class NodeShare {

    /** How long a share is used after its last renewal that Redis answered was sent. */
    static final long FRESH_MS = 1_000;
    /** Charges wait at most this long for their renewal. */
    static final long CHARGE_MS = 20;
    /** A share is renewed at least this often, to stay fresh. */
    static final long KEEP_MS = 400;
    /** A share no request used for this long is given back. */
    static final long IDLE_MS = 400;

    /** A request's charge, carried by the next renewal; its settlement completes when Redis took it. */
    record Charge(long microUsd, Promise<Payment> settled) {
    }

    /**
     * What one renewal sends: its number (1, 2, … in the share's order, so that Redis takes each one
     * once: see {@code share-late.lua}), the charges it carries, what the requests in flight hold (the
     * least the share keeps), whether it may grow, and whether it gives the share back.
     */
    record Renewal(long sequence, List<Charge> charges, long heldMicroUsd, boolean grow, boolean last, long sentAtMs) {

        /** What the charges it carries add up to. */
        long chargeMicroUsd() {
            return charges.stream().mapToLong(Charge::microUsd).sum();
        }
    }

    /** Completed once the share is given back, or dropped as broken. */
    final Promise<Void> gone = Promise.promise();
    /**
     * Once broken, its late charges in Redis, one after the other (the failed renewal's first), while
     * each is taken (after one given up on, the rest are left to the sweeps, in order): used on the
     * renewals' context only.
     */
    Future<Boolean> late = Future.succeededFuture(true);
    final String id;
    final String accountId;
    final String keyId;
    /** The key's monthly cap the share is sized under: a request under another cap reserves in Redis. */
    final long cap;
    private long size;
    private long held;
    /** Requests reserved against it and not settled yet (a free model's hold nothing). */
    private int holding;
    private long spent;
    private List<Charge> charges = new ArrayList<>();
    private long firstChargeAtMs;
    private long renewedAtMs = Long.MIN_VALUE;
    private long sentAtMs;
    private long renewals;
    private long usedAtMs;
    private boolean renewing;
    /** A request did not fit since the last renewal was sent: the next one is due now. */
    private boolean shortOf = true;
    /** No more requests against it: it is given back once those in flight are settled. */
    private boolean winding;
    /** A renewal failed: what Redis holds for it is unknown, so it takes no more requests or charges. */
    private boolean broken;
    /** The number of the renewal that failed, once broken. */
    private long brokenRenewal;

    NodeShare(String id, String accountId, String keyId, long cap, long nowMs) {
        this.id = id;
        this.accountId = accountId;
        this.keyId = keyId;
        this.cap = cap;
        this.usedAtMs = nowMs;
    }

    /** Reserves a request's estimate against the share, if it fits now. */
    synchronized boolean take(long microUsd, long cap, long nowMs) {
        if (!usable(cap, nowMs)) {
            return false;
        }
        usedAtMs = nowMs;
        if (held + spent + microUsd > size) {
            shortOf = true;
            return false;
        }
        held += microUsd;
        holding++;
        return true;
    }

    /** A fallback's estimate in place of the request's own, if it fits. */
    synchronized boolean swap(long oldMicroUsd, long newMicroUsd, long cap, long nowMs) {
        if (!usable(cap, nowMs) || held - oldMicroUsd + newMicroUsd + spent > size) {
            return false;
        }
        held += newMicroUsd - oldMicroUsd;
        usedAtMs = nowMs;
        return true;
    }

    private boolean usable(long cap, long nowMs) {
        return !winding && !renewing && cap == this.cap && nowMs - renewedAtMs < FRESH_MS;
    }

    /** A request's estimate no longer held here: it moved to a reservation in Redis. */
    synchronized void release(long microUsd) {
        held -= microUsd;
        holding--;
    }

    /**
     * A request settled: its estimate is no longer held, and its cost (a {@code charge}, or null when
     * it cost nothing) waits for the next renewal. False when the share is broken: the caller charges
     * it as it does what the counters could not take.
     */
    synchronized boolean charge(long estimateMicroUsd, Charge charge, long nowMs) {
        held -= estimateMicroUsd;
        holding--;
        if (broken) {
            return false;
        }
        if (charge != null) {
            if (charges.isEmpty()) {
                firstChargeAtMs = nowMs;
            }
            spent += charge.microUsd();
            charges.add(charge);
        }
        return true;
    }

    /** Requests reserved against it and not settled yet. */
    synchronized int holding() {
        return holding;
    }

    /** The number of the renewal that broke it (0 while it is not broken). */
    synchronized long brokenRenewal() {
        return brokenRenewal;
    }

    /** A request wanted more than the share had: it is grown at its next renewal, sent soon. */
    synchronized void want(long nowMs) {
        usedAtMs = nowMs;
        shortOf = true;
    }

    /** No more requests against the share; it is given back once those in flight are settled. */
    synchronized void windDown() {
        winding = true;
    }

    synchronized boolean winding() {
        return winding;
    }

    /**
     * Whether requests may be reserved against it now (room aside), with no charge waiting for a
     * renewal: the next one is not due before {@link #KEEP_MS}, unless a request does not fit.
     */
    synchronized boolean quiet(long nowMs) {
        return usable(cap, nowMs) && charges.isEmpty();
    }

    /**
     * The renewal to send now, or null when none is due (one is on its way, the share is broken or
     * given back, or nothing needs it yet). A share wound down is renewed at once down to what its
     * requests in flight hold. It gives the share back ({@code last}, with the charges waiting) when
     * no request is in flight against it and none used it for {@link #IDLE_MS}; after that the share
     * takes nothing.
     */
    synchronized Renewal renewal(long nowMs) {
        if (renewing || broken) {
            return null;
        }
        boolean idle = winding || nowMs - usedAtMs >= IDLE_MS;
        boolean due = shortOf || idle && holding == 0 || nowMs - sentAtMs >= KEEP_MS
            || !charges.isEmpty() && nowMs - firstChargeAtMs >= CHARGE_MS
            || winding && size > held + spent;
        if (!due) {
            return null;
        }
        boolean last = idle && holding == 0;
        renewing = true;
        winding |= last;
        sentAtMs = nowMs;
        shortOf = false;
        Renewal r = new Renewal(++renewals, charges, held, !idle, last, nowMs);
        charges = new ArrayList<>();
        spent = 0;
        return r;
    }

    /** Redis took the renewal: the share is now {@code size}. */
    synchronized void renewed(Renewal r, long size) {
        renewing = false;
        this.size = size;
        renewedAtMs = r.sentAtMs();
    }

    /**
     * A renewal failed or was not answered in time: the share is not used again. Answers the charges
     * that came after that renewal was sent, which the caller charges as it does the renewal's own.
     */
    synchronized List<Charge> broke() {
        brokenRenewal = renewals;
        renewing = false;
        broken = true;
        winding = true;
        size = 0;
        spent = 0;
        List<Charge> left = charges;
        charges = new ArrayList<>();
        return left;
    }
}
