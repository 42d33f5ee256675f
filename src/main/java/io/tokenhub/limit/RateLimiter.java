package io.tokenhub.limit;

import io.tokenhub.core.ApiError.RateLimited;
import io.tokenhub.core.OncePer;
import io.vertx.core.Future;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.ToLongFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * RPM and TPM over fixed one-minute windows, shared across the cluster without a network round
 * trip per request: each node leases a block of a window's allowance from the {@link SharedCounter}
 * and admits locally from it. The block is a sixteenth of what is left, so far from the limit a
 * node asks once per many requests, and near it the block shrinks to the request itself, so the
 * cluster never admits more than the limit. Thread-safe; shared by the node's event loops.
 */
public final class RateLimiter {

    /** Units: requests or tokens. */
    public enum Unit { REQUESTS, TOKENS }

    /** One limit to check: {@code scope} names it in metrics and errors, {@code subject} is whose it is. */
    public record Check(String scope, String subject, Unit unit, long limit, long cost) {
    }

    /** What was admitted: enough to correct the token counts later and to write the headers. */
    public record Admission(List<Taken> taken, long resetMs) {
        public static final Admission NONE = new Admission(List.of(), 0);
    }

    /** One check's share of an admission, and what a client may still do in that window. */
    public record Taken(Check check, String window, long remaining) {
    }

    private static final class Lease {
        long left;
        long sharedUsed;
        /** When this node last admitted from it. */
        long usedAtMs;
    }

    private static final long WINDOW_MS = 60_000;
    private static final int BLOCK_DIVISOR = 16;
    /**
     * How long a request waits for the shared counter. A member that stops answering without
     * leaving (frozen, cut off) holds the calls to the windows it owns until the cluster drops it,
     * up to a minute: past this the request is admitted on this node's word instead.
     */
    static final long COUNTER_WAIT_MS = 1_000;
    /**
     * A lease this node has not admitted from for this long goes back to the shared window
     * ({@link #releaseIdle}): kept, the other nodes could not use it this minute, and a client whose
     * connection stays on one node was refused with its limit unspent (a cluster audit: 492 of 600).
     */
    static final long IDLE_LEASE_MS = 1_000;
    private static final Logger LOG = LoggerFactory.getLogger(RateLimiter.class);
    private final OncePer warnings = new OncePer(10_000);

    private final SharedCounter counter;
    private final LongSupplier clock;
    private final ConcurrentHashMap<String, Lease> leases = new ConcurrentHashMap<>();
    private volatile long purgedMinute;

    public RateLimiter(SharedCounter counter) {
        this(counter, System::currentTimeMillis);
    }

    /** @param clock the wall clock in milliseconds: the windows are its minutes */
    RateLimiter(SharedCounter counter, LongSupplier clock) {
        this.counter = counter;
        this.clock = clock;
    }

    /**
     * Admits all checks, or none: a refusal hands back what earlier checks took. A check whose cost
     * is more than its whole limit is refused at once, as one no window will ever admit: with the
     * window's reset as its {@code Retry-After} (every 429 {@code rate_limit_exceeded} has one, as
     * PRODUCT §3 says), and marked not to be retried, so that SDKs do not retry it.
     */
    public Future<Admission> admit(List<Check> checks) {
        if (checks.isEmpty()) {
            return Future.succeededFuture(Admission.NONE);
        }
        long now = clock.getAsLong();
        for (Check check : checks) {
            if (check.cost() > check.limit()) {
                return Future.failedFuture(new RateLimited("Request too large for " + describe(check) + ": it needs "
                    + check.cost() + " " + unitName(check) + " and the limit is " + check.limit() + " "
                    + unitName(check) + " per minute. Reduce the prompt or max_tokens.", check.scope(),
                    seconds(resetMs(now)), false).toException());
            }
        }
        long minute = now / WINDOW_MS;
        purge(minute);
        return admitFrom(checks, 0, minute, resetMs(now), new ArrayList<>());
    }

    /** Milliseconds as whole seconds for {@code Retry-After}, rounded up, at least one. */
    private static long seconds(long ms) {
        return Math.max(1, (ms + 999) / 1000);
    }

    /** How long until the window of {@code now} is over and every limit is whole again. */
    public static long resetMs(long now) {
        return (now / WINDOW_MS + 1) * WINDOW_MS - now;
    }

    private Future<Admission> admitFrom(List<Check> checks, int index, long minute, long resetMs, List<Taken> taken) {
        if (index == checks.size()) {
            return Future.succeededFuture(new Admission(List.copyOf(taken), resetMs));
        }
        Check check = checks.get(index);
        String window = check.scope() + "|" + check.subject() + "|" + minute;
        return take(window, check).compose(remaining -> {
            if (remaining < 0) {
                taken.forEach(t -> giveBack(t.window(), t.check(), t.check().cost()));
                long seconds = seconds(resetMs);
                return Future.failedFuture(new RateLimited("Rate limit reached for " + describe(check) + ": "
                    + check.limit() + " " + unitName(check) + " per minute. Retry in " + seconds + " s.",
                    check.scope(), seconds).toException());
            }
            taken.add(new Taken(check, window, remaining));
            return admitFrom(checks, index + 1, minute, resetMs, taken);
        });
    }

    /** Takes the check's cost from the local lease, leasing more when needed; -1 when refused. */
    private Future<Long> take(String window, Check check) {
        Lease lease = leases.computeIfAbsent(window, w -> new Lease());
        long want;
        synchronized (lease) {
            if (usable(lease, check) >= check.cost()) {
                lease.left -= check.cost();
                lease.usedAtMs = clock.getAsLong();
                return Future.succeededFuture(remaining(lease, check));
            }
            want = block(check.cost() - usable(lease, check), check.limit(), lease.sharedUsed);
        }
        Future<SharedCounter.Grant> asked = counter.take(window, want, check.limit());
        return asked.timeout(COUNTER_WAIT_MS, TimeUnit.MILLISECONDS).map(grant -> {
            long unused;
            synchronized (lease) {
                lease.left += grant.granted();
                lease.sharedUsed = Math.max(lease.sharedUsed, grant.used());
                if (usable(lease, check) >= check.cost()) {
                    lease.left -= check.cost();
                    lease.usedAtMs = clock.getAsLong();
                    return remaining(lease, check);
                }
                // Refused: what the lease holds goes back to the window at once, for the other nodes.
                // Kept, it was theirs only once the lease was idle, and a client whose requests kept
                // being refused here kept it from them (a rate-limit audit: a key refused 110 tokens
                // on one node with 400 unused, for as long as another node refused its retries).
                unused = Math.max(0, lease.left);
                lease.left -= unused;
                lease.sharedUsed = Math.max(0, lease.sharedUsed - unused);
            }
            if (unused > 0) {
                counter.release(window, unused);
            }
            return -1L;
        }).recover(failure -> {
            // Availability before exactness: a limit the cluster cannot count for a moment lets this
            // request through rather than hold or refuse it. What it took is owed to the window: the
            // lease goes below zero, and the grant that answers late (the counter's member was
            // replaced by its backup) or the next lease pays it back.
            if (warnings.due(System.currentTimeMillis())) {
                LOG.warn("the cluster's rate-limit counter did not answer ({}); admitting on this node's count",
                    failure.toString());
            }
            asked.onSuccess(late -> {
                synchronized (lease) {
                    lease.left += late.granted();
                    lease.sharedUsed = Math.max(lease.sharedUsed, late.used());
                }
            });
            synchronized (lease) {
                lease.left -= check.cost();
                return Future.succeededFuture(remaining(lease, check));
            }
        });
    }

    /**
     * The lease rule: how much a node asks the shared counter for when its lease cannot cover a
     * request — what the request still needs, or a sixteenth of what the node last saw left in the
     * window if that is more. So one lease leaves a node at most {@code block(cost, limit, 0) - cost}
     * unused once the request that asked for it is admitted: what the cluster loses if the node dies.
     */
    static long block(long need, long limit, long sharedUsed) {
        return Math.max(need, Math.max(0, limit - sharedUsed) / BLOCK_DIVISOR);
    }

    /**
     * What the lease may admit under the check's limit now: all of it, unless the limit was lowered
     * (a key's {@code rpm} changed) below what the window has used, when only what the new limit leaves.
     */
    private static long usable(Lease lease, Check check) {
        return Math.min(lease.left, remaining(lease, check));
    }

    /**
     * Corrects token checks with the real count once the request is over: an overestimate goes back
     * (to this node's lease, and beyond a lease's worth to the cluster's window), an underestimate is
     * taken from the lease (and from the next one).
     */
    public void correct(Admission admission, long actualTokens) {
        correct(admission, check -> actualTokens);
    }

    /** As {@link #correct(Admission, long)}, with the real count of each check. */
    public void correct(Admission admission, ToLongFunction<Check> actualTokens) {
        for (Taken t : admission.taken()) {
            if (t.check().unit() == Unit.TOKENS) {
                giveBack(t.window(), t.check(), t.check().cost() - actualTokens.applyAsLong(t.check()));
            }
        }
    }

    /**
     * Puts units back in the lease. A lease grown past two of the blocks this node would lease now
     * (a request that reserved its whole {@code max_tokens} and used a few) hands all but one back
     * to the shared window: kept here, the other nodes could not use them this minute.
     */
    private void giveBack(String window, Check check, long units) {
        Lease lease = leases.get(window);
        if (lease == null) {
            return;
        }
        long surplus = 0;
        long owed = 0;
        synchronized (lease) {
            lease.left += units;
            long keep = block(1, check.limit(), lease.sharedUsed);
            if (units > 0 && lease.left > 2 * keep) {
                surplus = lease.left - keep;
                lease.left = keep;
                lease.sharedUsed = Math.max(0, lease.sharedUsed - surplus);
            } else if (units < 0 && lease.left < 0) {
                owed = -lease.left;
            }
        }
        if (surplus > 0) {
            // Not waited for: a window that cannot be told keeps counting the units as used, as before.
            counter.release(window, surplus);
        } else if (owed > 0) {
            // Used beyond what was taken (an estimate short of the provider's count): counted in the
            // window now, whatever its limit, so that every node knows. It was owed until this node's
            // next lease, which the other nodes never saw (a rate-limit audit: 905 of 1 000 tokens
            // used on one node, and another admitted 110 more, saying 777 remained).
            counter.take(window, owed, Long.MAX_VALUE).onSuccess(grant -> {
                synchronized (lease) {
                    lease.left += grant.granted();
                    lease.sharedUsed = Math.max(lease.sharedUsed, grant.used());
                }
            });
        }
    }

    /**
     * Hands the unused part of every lease of the current window that no request took from for
     * {@link #IDLE_LEASE_MS} back to the shared window. The node calls it every half second.
     */
    public void releaseIdle() {
        long now = clock.getAsLong();
        String minute = "|" + now / WINDOW_MS;
        leases.forEach((window, lease) -> {
            if (!window.endsWith(minute)) {
                return;
            }
            long units;
            synchronized (lease) {
                if (lease.left <= 0 || now - lease.usedAtMs < IDLE_LEASE_MS) {
                    return;
                }
                units = lease.left;
                lease.left = 0;
                lease.sharedUsed = Math.max(0, lease.sharedUsed - units);
            }
            // Not waited for: a window that cannot be told keeps counting the units as used, as before.
            counter.release(window, units);
        });
    }

    /**
     * What this node knows is left of a check's current window, without taking anything: the shared
     * count it last saw plus its own unused lease, or the whole limit for a window it has not used.
     */
    public long remaining(Check check) {
        long minute = clock.getAsLong() / WINDOW_MS;
        Lease lease = leases.get(check.scope() + "|" + check.subject() + "|" + minute);
        if (lease == null) {
            return check.limit();
        }
        synchronized (lease) {
            return remaining(lease, check);
        }
    }

    private static long remaining(Lease lease, Check check) {
        return Math.max(0, check.limit() - lease.sharedUsed + lease.left);
    }

    private void purge(long minute) {
        if (minute != purgedMinute) {
            purgedMinute = minute;
            leases.keySet().removeIf(w -> Long.parseLong(w.substring(w.lastIndexOf('|') + 1)) < minute);
        }
    }

    private static String describe(Check check) {
        return check.scope().startsWith("key") ? "this API key" : "this model on your account";
    }

    private static String unitName(Check check) {
        return check.unit() == Unit.REQUESTS ? "requests" : "tokens";
    }
}
