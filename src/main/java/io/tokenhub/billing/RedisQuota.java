package io.tokenhub.billing;

import io.tokenhub.core.ApiError.InsufficientQuota;
import io.tokenhub.core.ApiError.MonthlyCapExceeded;
import io.tokenhub.core.ApiError.Unavailable;
import io.tokenhub.core.OncePer;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import io.vertx.redis.client.RedisAPI;
import io.vertx.redis.client.Response;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.DoubleSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hot counters in Redis, shared by every node: each reserve and settle is one Lua script run
 * atomically on the account's keys (one hash tag per account). Counters Redis has lost (flushed,
 * restarted) are rebuilt from PostgreSQL on the next use: the durable balance and plans, minus what
 * this node settled that PostgreSQL does not hold yet.
 *
 * <p>A key busy on this node, whose account pays from its wallet alone and has money to spare, gets
 * a {@link NodeShare}: a part of what the account (and the key's monthly cap) has left, reserved in
 * Redis for this node, against which the key's requests reserve in the process and whose renewals,
 * every few milliseconds, charge what they cost.
 */
public final class RedisQuota implements Quota {

    private static final DateTimeFormatter MONTH = DateTimeFormatter.ofPattern("yyyyMM");
    private static final Logger LOG = LoggerFactory.getLogger(RedisQuota.class);
    /**
     * Longest a script may take. The Vert.x Redis client has no command timeout of its own, and a
     * Redis that stops answering with its connections open would hold every request (and every
     * finished request's usage record) for as long as it stays silent.
     */
    static final long COMMAND_TIMEOUT_MS = 2_000;
    /**
     * How long this node trusts what a reservation's answer said of its account's money and its key's
     * month ({@link #ample}); it is as old as the reservation's start. A second: long enough to cover
     * an account's next requests, short enough that word from a Redis gone silent is soon not believed.
     */
    static final long HEADROOM_FRESH_MS = 1_000;
    /** How many times over that word must cover a request's estimate for {@link #ample}. */
    static final long HEADROOM_RUNWAY = 100;
    /**
     * A key's reservations on this node this close together make it busy enough for a share: below
     * that, a share's renewals would cost Redis more than the reservations they save.
     */
    static final long SHARE_BUSY_MS = 100;
    /**
     * How long after its last renewal a share's hold in Redis is stale, released by the sweep or by a
     * reservation it would refuse (its node died). Renewals come every {@link NodeShare#KEEP_MS} at most.
     */
    static final long SHARE_TTL_MS = 10_000;
    /**
     * How long a mark stays in the account's marks hash after it was made (the sweep forgets it then),
     * a day, long past the last retry of a node that could not tell Redis (about half an hour): a
     * credit's (it makes a credit told twice count once), a broken share's (its late charges need it
     * to charge once, run by its node for about 35 minutes, then by any node's sweep once Redis
     * answers; a share given back takes its mark with it), a late charge's and a released
     * reservation's. Until 2026-12-07 credits' marks stayed for good; until 2026-12-08 a share's stayed
     * an hour, and a broken share's charges run after a longer outage were lost (a review: 2 000
     * micro-USD).
     */
    static final long MARK_MS = 24 * 3_600_000L;
    /** At most one warning per 10 s about Redis failing requests: an outage is not a log flood. */
    private final OncePer warnings = new OncePer(10_000);

    private final RedisAPI redis;
    /** For settlements, which can wait for the loop's next command (see {@code EventLoopRedis.later}). */
    private final RedisAPI settlements;
    private final QuotaLoader loader;
    private final Clock clock;
    private final Pending pending = new Pending();
    private final PendingElsewhere elsewhere;
    private final Set<String> seenAccounts = ConcurrentHashMap.newKeySet();
    /** Key id → what the key's latest reservation on this node said was left; see {@link #ample}. */
    private final Map<String, Headroom> headroom = new ConcurrentHashMap<>();
    private static final long FIRST_RETRY_MS = 1_000;
    private static final long LAST_RETRY_MS = 60_000;
    private static final int LATE_CHARGE_ATTEMPTS = 40;
    /** At most this many charges owed are repaired by a sweep: a minute's work after a long outage. */
    private static final int REPAIRS_PER_SWEEP = 1_000;
    /** The scripts of the charges kept in {@link #repairs}, by name. */
    private static final String LATE_CHARGE = "late-charge";
    private static final String SHARE_LATE = "share-late";
    private final Script reserve = new Script("reserve.lua", true);
    private final Script settle = new Script("settle.lua", true);
    private final Script sweep = new Script("sweep.lua", true);
    private final Script load = new Script("load.lua", true);
    private final Script loadKey = new Script("load-key.lua", false);
    private final Script credit = new Script("credit.lua", false);
    private final Script plan = new Script("plan.lua", false);
    private final Script renewal = new Script("share.lua", true);
    private final Script lateCharge = new Script("late-charge.lua", true);
    private final Script shareLate = new Script("share-late.lua", true);
    /**
     * Runs the shares' renewals: an event-loop context of its own, whose timers no verticle's
     * undeployment cancels (a node stopping gives its shares back after its verticles stopped);
     * null when this node holds no shares.
     */
    private final ContextInternal renewals;
    /** The fraction of what an account (and a key's cap) has left that a share may hold, as the catalog in use has it. */
    private final DoubleSupplier shareFraction;
    /** Told of each reservation made against a share (a metric). */
    private final Runnable reservedAgainstShare;
    private final String node = Long.toString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE, 36);
    private final AtomicLong shareSequence = new AtomicLong();
    /** Key id → this node's share for it. */
    private final Map<String, NodeShare> shares = new ConcurrentHashMap<>();
    /** Reservation id → the share it is held by, until it settles. */
    private final Map<String, NodeShare> heldByShare = new ConcurrentHashMap<>();
    /** Charges Redis owes until it takes them, kept in PostgreSQL in case this node never sees it do so. */
    private final CounterRepairs repairs;
    /** Id of each charge Redis owes this node's tries, to the keeping of it in {@link #repairs}. */
    private final Map<String, Future<Void>> owedHere = new ConcurrentHashMap<>();
    private final AtomicLong oweSequence = new AtomicLong();
    /** Whether a run of owed charges ({@link #runOwed}) is on its way. */
    private final AtomicBoolean runningOwed = new AtomicBoolean();

    public RedisQuota(RedisAPI redis, QuotaLoader loader, Clock clock) {
        this(redis, redis, loader, clock);
    }

    /** @param settlements the client that sends settlements: one whose commands may wait a little */
    public RedisQuota(RedisAPI redis, RedisAPI settlements, QuotaLoader loader, Clock clock) {
        this(redis, settlements, loader, clock, null, 0, () -> { });
    }

    /**
     * @param vertx                runs the renewals of this node's shares
     * @param shareFraction        the fraction of what an account (and a key's monthly cap) has left
     *                             that a share may hold; 0 for none: every request reserves in Redis
     * @param reservedAgainstShare told of each reservation made against a share
     */
    public RedisQuota(RedisAPI redis, RedisAPI settlements, QuotaLoader loader, Clock clock, Vertx vertx,
                      double shareFraction, Runnable reservedAgainstShare) {
        this(redis, settlements, loader, clock, vertx, () -> shareFraction, reservedAgainstShare,
            PendingElsewhere.NONE, CounterRepairs.NONE);
    }

    /**
     * @param shareFraction read at each reservation and renewal: a reload's {@code billing.node_share} applies
     * @param elsewhere     what the other nodes of a cluster have pending, for counters rebuilt here
     * @param repairs       where the charges Redis owes are kept until it takes them
     */
    public RedisQuota(RedisAPI redis, RedisAPI settlements, QuotaLoader loader, Clock clock, Vertx vertx,
                      DoubleSupplier shareFraction, Runnable reservedAgainstShare, PendingElsewhere elsewhere,
                      CounterRepairs repairs) {
        this.elsewhere = elsewhere;
        this.repairs = repairs;
        this.redis = redis;
        this.settlements = settlements;
        this.loader = loader;
        this.clock = clock;
        this.renewals = vertx == null ? null : ((VertxInternal) vertx).createEventLoopContext();
        this.shareFraction = vertx == null ? () -> 0 : shareFraction;
        this.reservedAgainstShare = reservedAgainstShare;
    }

    @Override
    public Future<Reservation> reserve(String requestId, String accountId, String keyId, long cap, String modelId,
                                       long tokens, long microUsd) {
        NodeShare held = shares.get(keyId);
        if (held != null && held.take(microUsd, cap, clock.millis())) {
            heldByShare.put(requestId, held);
            reservedAgainstShare.run();
            return Future.succeededFuture(new Reservation(requestId, accountId, keyId, modelId, tokens, microUsd,
                Map.of(), microUsd));
        }
        return reserve(requestId, accountId, keyId, cap, modelId, tokens, microUsd, null);
    }

    @Override
    public boolean ample(String keyId, long cap, long microUsd) {
        Headroom last = headroom.get(keyId);
        if (last == null || clock.millis() - last.atMs() >= HEADROOM_FRESH_MS) {
            return false;
        }
        long runway = HEADROOM_RUNWAY * Math.max(1, microUsd);
        return last.walletMicroUsd() >= runway && (cap < 0 || cap - last.monthMicroUsd() >= runway);
    }

    @Override
    public Future<Reservation> rebook(Reservation old, String reservationId, long cap, String modelId, long tokens,
                                      long microUsd) {
        NodeShare held = heldByShare.get(old.requestId());
        if (held == null) {
            return reserve(reservationId, old.accountId(), old.keyId(), cap, modelId, tokens, microUsd,
                old.requestId());
        }
        if (held.swap(old.microUsd(), microUsd, cap, clock.millis())) {
            heldByShare.remove(old.requestId());
            heldByShare.put(reservationId, held);
            return Future.succeededFuture(new Reservation(reservationId, old.accountId(), old.keyId(), modelId, tokens,
                microUsd, Map.of(), microUsd));
        }
        // Redis does not know what the share holds for it: the new one is reserved there in full, and
        // the old one let go of once it is made.
        return reserve(reservationId, old.accountId(), old.keyId(), cap, modelId, tokens, microUsd, null)
            .onSuccess(made -> {
                if (heldByShare.remove(old.requestId(), held)) {
                    held.release(old.microUsd());
                }
            });
    }

    private Future<Reservation> reserve(String requestId, String accountId, String keyId, long cap, String modelId,
                                        long tokens, long microUsd, String replacing) {
        seenAccounts.add(accountId);
        long now = clock.millis();
        // Stale reservations (their nodes died before settling) are released by a reservation they
        // would refuse, too, so that they never refuse a request until the next sweep.
        List<String> args = List.of(requestId, modelId, Long.toString(tokens), Long.toString(microUsd),
            Long.toString(cap), Long.toString(now), month(), replacing == null ? "" : replacing,
            Long.toString(now - RESERVATION_TTL_MS));
        // A reservation Redis makes after its request was refused for the timeout is handed back at once.
        Future<Response> answer = run(reserve, accountId, keyId, args, late -> {
            if ("OK".equals(late.get(0).toString())) {
                run(settle, accountId, keyId, List.of(requestId, modelId, "0", "0", Long.toString(clock.millis()),
                    month(), Long.toString(microUsd), late.get(1).toString(), late.get(2).toString()), null);
            }
        }).recover(this::unavailable);
        return answer.map(reply -> {
            String status = reply.get(0).toString();
            Headroom before = heard(accountId, keyId, status, reply, now);
            if (before != null && now - before.atMs() < SHARE_BUSY_MS) {
                offerShare(accountId, keyId, cap, microUsd, reply);
            }
            return switch (status) {
                case "OK" -> new Reservation(requestId, accountId, keyId, modelId, tokens, microUsd,
                    draws(reply.get(2).toString()), reply.get(1).toLong());
                case "CAP" -> throw new MonthlyCapExceeded("This API key has reached its monthly spend cap of $"
                    + PriceCalculator.toUsd(cap).toPlainString() + " (spent $"
                    + PriceCalculator.toUsd(reply.get(1).toLong()).toPlainString() + " this month, $"
                    + PriceCalculator.toUsd(reply.get(2).toLong()).toPlainString() + " in flight, this request needs up to $"
                    + PriceCalculator.toUsd(microUsd).toPlainString() + "). Raise the cap or wait for next month.")
                    .toException();
                default -> throw new InsufficientQuota("You exceeded your current quota: this request needs up to $"
                    + PriceCalculator.toUsd(reply.get(2).toLong()).toPlainString() + " and the account has $"
                    + PriceCalculator.toUsd(Math.max(0, reply.get(1).toLong())).toPlainString()
                    + " available and no plan tokens left for this model. Add credit or a token plan.").toException();
            };
        });
    }

    /**
     * What a reservation's answer says is left: kept when it was made, forgotten when it was refused.
     * Answers what the key's reservation before it said, if anything.
     */
    private Headroom heard(String accountId, String keyId, String status, Response reply, long atMs) {
        if ("OK".equals(status)) {
            return headroom.put(keyId, new Headroom(accountId, reply.get(3).toLong(), reply.get(4).toLong(), atMs));
        }
        headroom.remove(keyId);
        return null;
    }

    /**
     * A busy key's reservation was made: if its account pays from its wallet alone and has money to
     * spare within the key's cap (as for {@link #ample}), the key gets a share on this node, or the
     * one it has is grown at its next renewal.
     */
    private void offerShare(String accountId, String keyId, long cap, long microUsd, Response reply) {
        long runway = HEADROOM_RUNWAY * Math.max(1, microUsd);
        if (shareFraction.getAsDouble() <= 0 || !"0".equals(reply.get(5).toString()) || reply.get(3).toLong() < runway
            || cap >= 0 && cap - reply.get(4).toLong() < runway) {
            return;
        }
        long now = clock.millis();
        NodeShare known = shares.get(keyId);
        if (known != null && known.cap == cap && !known.winding()) {
            known.want(now);
            return;
        }
        NodeShare fresh = new NodeShare("share:" + node + ":" + shareSequence.incrementAndGet(), accountId, keyId,
            cap, now);
        if (known == null ? shares.putIfAbsent(keyId, fresh) == null : shares.replace(keyId, known, fresh)) {
            if (known != null) {
                known.windDown();
            }
            renewals.runOnContext(v -> renew(fresh));
        }
    }

    /**
     * Sends the share's renewal if one is due, and looks again {@link NodeShare#CHARGE_MS} later, until
     * the share is given back or broken.
     */
    private void renew(NodeShare s) {
        NodeShare.Renewal r = s.renewal(clock.millis());
        if (r == null) {
            renewals.setTimer(NodeShare.CHARGE_MS, id -> renew(s));
            return;
        }
        List<String> args = List.of(s.id, Long.toString(r.chargeMicroUsd()), Long.toString(r.heldMicroUsd()),
            r.grow() ? Double.toString(shareFraction.getAsDouble()) : "0", Long.toString(s.cap), month(),
            Long.toString(r.sentAtMs() - RESERVATION_TTL_MS + SHARE_TTL_MS), Long.toString(r.sequence()),
            Long.toString(r.sentAtMs()), r.last() ? "1" : "0");
        run(renewal, s.accountId, s.keyId, args, null).map(reply -> {
            if (!"OK".equals(reply.get(0).toString())) {
                // GONE: its late charge ran first, which only a renewal given up on has.
                throw new IllegalStateException("the counters answered " + reply.get(0) + " to a renewal");
            }
            return reply;
        }).onComplete(renewed -> {
            if (renewed.succeeded()) {
                s.renewed(r, renewed.result().get(1).toLong());
                r.charges().forEach(c -> c.settled().complete(charged(s, c.microUsd())));
                if (r.last()) {
                    shares.remove(s.keyId, s);
                    s.gone.complete();
                } else {
                    renewals.setTimer(NodeShare.CHARGE_MS, id -> renew(s));
                }
                return;
            }
            LOG.warn("renewing this node's share of an account in the hot counters failed ({}); charging the wallet",
                renewed.cause().toString());
            shares.remove(s.keyId, s);
            // Numbered before the share breaks: a request settling against it on another event loop
            // from then on is charged after this, in the sweeps' order too (a review: it could take
            // the first number, and a sweep then skip what this one carries).
            long first = oweSequence.incrementAndGet();
            List<NodeShare.Charge> later = s.broke();
            long laterMicroUsd = later.stream().mapToLong(NodeShare.Charge::microUsd).sum();
            List<NodeShare.Charge> untaken = new ArrayList<>(r.charges());
            untaken.addAll(later);
            // First in the share's chain of late charges: on this context, before any settlement's, and
            // kept before the requests hear they are settled.
            chargeShareLate(s, first, r.sequence(), r.chargeMicroUsd(), laterMicroUsd, s.holding() == 0);
            untaken.forEach(c -> c.settled().complete(pending.walletOnly(s.accountId, s.keyId, c.microUsd())));
            s.gone.complete();
        });
    }

    /**
     * A request reserved against a share that broke has settled (charged to the wallet in
     * PostgreSQL): its cost joins the share's late charges, and the last of them gives the share's
     * hold back. Until 2026-12-07 such a request's cost never reached Redis (a review: 2 000
     * micro-USD high for five requests), and the hold went while they still ran.
     */
    private void settleAfterBreak(NodeShare s, long microUsd) {
        boolean last = s.holding() == 0;
        if (microUsd > 0 || last) {
            CounterRepairs.Owed owed = oweShareLate(s, oweSequence.incrementAndGet(), s.brokenRenewal(), 0, microUsd,
                last);
            renewals.runOnContext(v -> chain(s, owed));
        }
    }

    /**
     * Charges in Redis, once, what a share's failed renewal carried (unless it ran after all) and
     * what the requests settled after it cost, all charged to the wallet in PostgreSQL meanwhile, and
     * releases the share's hold once its requests are settled: tried as {@link #chargeLate} is, one
     * after the other on the renewals' context. Until 2026-12-07 Redis kept that money, and the
     * share's hold until it was stale, and the money could be spent again until the counters were
     * rebuilt. Completes when Redis took it, or once the tries are over.
     */
    private void chargeShareLate(NodeShare s, long seq, long renewal, long carriedMicroUsd, long laterMicroUsd,
                                 boolean release) {
        chain(s, oweShareLate(s, seq, renewal, carriedMicroUsd, laterMicroUsd, release));
    }

    /** Tries the share's charge after its earlier ones, on the renewals' context, unless one was given up on. */
    private void chain(NodeShare s, CounterRepairs.Owed owed) {
        s.late = s.late.compose(taken -> taken ? untilTaken(owed, renewals) : leftToSweeps(owed));
    }

    /**
     * A share's charge after one its node gave up on: not tried here (it must not run before that
     * one), left to the sweeps, this node's among them (a review found this node's sweep skipping it
     * for good as one its own tries were at).
     */
    private Future<Boolean> leftToSweeps(CounterRepairs.Owed owed) {
        owedHere.remove(owed.id());
        return Future.succeededFuture(false);
    }

    /** Keeps one of a broken share's late charges, before anyone hears of the settlements in it. */
    private CounterRepairs.Owed oweShareLate(NodeShare s, long seq, long renewal, long carriedMicroUsd,
                                             long laterMicroUsd, boolean release) {
        String id = s.id + "/" + seq;
        return owe(new CounterRepairs.Owed(id, s.id, s.accountId, s.keyId, SHARE_LATE,
            List.of(s.id, Long.toString(renewal), Long.toString(carriedMicroUsd), Long.toString(laterMicroUsd),
                month(), Long.toString(clock.millis()), release ? "1" : "0", id), seq), carriedMicroUsd + laterMicroUsd);
    }

    /** A request's cost charged to its account's wallet in Redis by its share's renewal. */
    private Payment charged(NodeShare s, long microUsd) {
        Payment payment = new Payment(Map.of(), microUsd);
        pending.add(new Settled(s.accountId, s.keyId, microUsd, payment));
        return payment;
    }

    @Override
    public Future<Payment> settle(Reservation r, long tokens, long microUsd) {
        NodeShare held = heldByShare.remove(r.requestId());
        if (held != null) {
            NodeShare.Charge charge = microUsd == 0 ? null : new NodeShare.Charge(microUsd, Promise.promise());
            if (!held.charge(r.microUsd(), charge, clock.millis())) {
                Payment paid = pending.walletOnly(r.accountId(), r.keyId(), microUsd);
                settleAfterBreak(held, microUsd);
                return Future.succeededFuture(paid);
            }
            return charge == null ? Future.succeededFuture(Payment.NONE) : charge.settled().future();
        }
        List<String> args = List.of(r.requestId(), r.modelId(), Long.toString(tokens), Long.toString(microUsd),
            Long.toString(clock.millis()), month(), Long.toString(r.microUsd()), Long.toString(r.walletMicroUsd()),
            draws(r.planTokens()));
        return run(settle, r.accountId(), r.keyId(), args, null).map(reply -> {
            Payment payment = new Payment(draws(reply.get(2).toString()), reply.get(1).toLong());
            pending.add(new Settled(r.accountId(), r.keyId(), microUsd, payment));
            return payment;
        }).recover(failure -> {
            LOG.warn("settling {} in the hot counters failed ({}); charging the wallet", r.requestId(), failure.toString());
            chargeLate(r, microUsd);
            return Future.succeededFuture(pending.walletOnly(r.accountId(), r.keyId(), microUsd));
        });
    }

    /**
     * Charges to the wallet in Redis a settlement charged to the wallet in PostgreSQL because the
     * counters did not take it in time, once, unless its settle ran after all: tried again (1 s,
     * doubling up to a minute, about half an hour) from the settling event loop, so that it follows
     * that settle on the loop's connection (its timers outlive the API verticle: a context's own
     * timers are not cancelled by its undeployment, only by Vert.x's close).
     * Without it the counters kept the money, and it could be spent again, until they were rebuilt.
     */
    private void chargeLate(Reservation r, long microUsd) {
        ContextInternal settling = (ContextInternal) Vertx.currentContext();
        if (settling == null || !settling.isEventLoopContext()) {
            return;
        }
        CounterRepairs.Owed owed = owe(new CounterRepairs.Owed(r.requestId(), r.requestId(), r.accountId(), r.keyId(),
            LATE_CHARGE, List.of(r.requestId(), Long.toString(microUsd), month(), Long.toString(r.microUsd()),
                Long.toString(r.walletMicroUsd()), draws(r.planTokens()), Long.toString(clock.millis())),
            oweSequence.incrementAndGet()), microUsd);
        untilTaken(owed, settling);
    }

    /**
     * Keeps in {@link #repairs} that Redis owes the account a charge of {@code microUsd}, until {@link
     * #untilTaken} sees it taken. One still kept when it is due (this node stopped or crashed first,
     * or the tries ran out) is run by any node's {@link #sweep}.
     */
    private CounterRepairs.Owed owe(CounterRepairs.Owed owed, long microUsd) {
        owedHere.put(owed.id(), repairs.owe(owed).recover(failure -> {
            LOG.error("keeping a charge the hot counters owe account {} failed ({}): unless they take it, they hold "
                + "{} micro-USD more than PostgreSQL until they are next rebuilt", owed.accountId(), failure.toString(),
                microUsd);
            return Future.succeededFuture();
        }));
        return owed;
    }

    /**
     * Runs the owed charge's script on {@code context} after a second, and again after each failure,
     * the wait doubling up to a minute, {@link #LATE_CHARGE_ATTEMPTS} times (about half an hour),
     * until one succeeds: Redis took the charge (or had it already), which is forgotten. Completes,
     * never failing, once it was taken ({@code true}) or the tries are over ({@code false}).
     */
    private Future<Boolean> untilTaken(CounterRepairs.Owed owed, ContextInternal context) {
        return tries(context, () -> charge(owed), 1).compose(taken -> {
            Future<Void> kept = owedHere.remove(owed.id());
            if (!taken) {
                LOG.error("the hot counters never took a charge to account {}: any node's sweep tries again once it "
                    + "is due", owed.accountId());
                return Future.succeededFuture(false);
            }
            return (kept == null ? Future.<Void>succeededFuture() : kept).compose(v -> repairs.taken(owed.id()))
                .map(true)
                .otherwise(failure -> {
                    LOG.warn("forgetting a charge the hot counters took failed ({}): a sweep will run it again, "
                        + "which charges nothing more", failure.toString());
                    return true;
                });
        });
    }

    /** Runs an owed charge's script: it charges once, whoever runs it and however often. */
    private Future<Response> charge(CounterRepairs.Owed owed) {
        Script script = switch (owed.script()) {
            case LATE_CHARGE -> lateCharge;
            case SHARE_LATE -> shareLate;
            default -> throw new IllegalArgumentException("no script " + owed.script());
        };
        return call(script, keys(owed.accountId(), owed.keyId()), owed.args());
    }

    /** Runs {@code attempt} until it succeeds ({@code true}) or {@link #LATE_CHARGE_ATTEMPTS} failed ({@code false}). */
    private static Future<Boolean> tries(ContextInternal context, Supplier<Future<Response>> attempt, int tried) {
        Promise<Boolean> done = Promise.promise();
        long wait = Math.min(LAST_RETRY_MS, FIRST_RETRY_MS << Math.min(tried - 1, 10));
        context.setTimer(wait, id -> attempt.get().onSuccess(taken -> done.complete(true)).onFailure(again -> {
            if (tried < LATE_CHARGE_ATTEMPTS) {
                tries(context, attempt, tried + 1).onComplete(done);
            } else {
                done.complete(false);
            }
        }));
        return done.future();
    }

    @Override
    public Future<Void> credited(String accountId, long microUsd, String creditId, long writtenAfterUs) {
        // Money taken away is not to be spent on the word of an earlier answer, nor by a share sized before.
        headroom.values().removeIf(last -> last.accountId().equals(accountId));
        windDown(accountId);
        return call(credit, keys(accountId, "-"), List.of(Long.toString(microUsd), creditId,
            Long.toString(writtenAfterUs))).mapEmpty();
    }

    @Override
    public Future<Void> planGranted(String accountId, Plan p) {
        // Plans pay before the wallet, and a share charges the wallet: the account's requests reserve in Redis.
        windDown(accountId);
        return call(plan, keys(accountId, "-"), List.of(p.id(), Long.toString(p.tokensRemaining()),
            Long.toString(p.validFrom().toEpochMilli()), Long.toString(p.validUntil().toEpochMilli()),
            String.join(",", p.models()), Long.toString(clock.millis()))).mapEmpty();
    }

    @Override
    public Future<Void> close() {
        List<Future<Void>> given = new ArrayList<>();
        shares.values().forEach(s -> {
            s.windDown();
            given.add(s.gone.future());
        });
        // What Redis still owes once the shares are given back (or broke) is due at once: this node's
        // tries stop with it, and any node's sweep runs them.
        return Future.join(given).transform(v -> {
            List<String> due = List.copyOf(owedHere.keySet());
            if (!due.isEmpty()) {
                LOG.warn("stopping while the hot counters owe {} charges: the other nodes' sweeps run them",
                    due.size());
            }
            return Future.join(new ArrayList<>(owedHere.values())).transform(kept -> repairs.dueNow(due));
        });
    }

    /** Whether this node holds a share for the key, and where it stands: for tests. */
    ShareState share(String keyId) {
        NodeShare held = shares.get(keyId);
        if (held == null || held.winding()) {
            return ShareState.NONE;
        }
        return held.quiet(clock.millis()) ? ShareState.QUIET : ShareState.BUSY;
    }

    /** A key's share on this node: none, one renewing or with charges waiting, or one ready and quiet. */
    enum ShareState { NONE, BUSY, QUIET }

    /** The account's shares on this node take no more requests, and are given back once theirs are settled. */
    private void windDown(String accountId) {
        shares.values().forEach(s -> {
            if (s.accountId.equals(accountId)) {
                s.windDown();
            }
        });
    }

    @Override
    public void durable(List<Settled> batch) {
        pending.durable(batch);
    }

    @Override
    public void foundOnDisk(List<Settled> batch) {
        batch.forEach(pending::add);
    }

    @Override
    public int sweep() {
        long now = clock.millis();
        headroom.values().removeIf(last -> now - last.atMs() >= HEADROOM_FRESH_MS);
        String cutoff = Long.toString(now - RESERVATION_TTL_MS);
        String marks = Long.toString(now - MARK_MS);
        seenAccounts.forEach(account -> call(sweep, keys(account, "-"), List.of(cutoff, marks)));
        repairs.claimDue(REPAIRS_PER_SWEEP).onSuccess(this::runOwed).onFailure(failure ->
            LOG.warn("reading the charges the hot counters owe failed: {}", failure.toString()));
        return seenAccounts.size();
    }

    /**
     * Runs charges another node (or this one, in an earlier run or before its tries ran out) kept,
     * one after the other in their order (claimed a share's together), each forgotten once Redis took
     * it. The first that fails ends the run: the rest wait for a later sweep (a Redis that does not
     * answer is not asked a thousand times a minute). One run at a time.
     */
    private void runOwed(List<CounterRepairs.Owed> due) {
        if (due.isEmpty() || !runningOwed.compareAndSet(false, true)) {
            return;
        }
        Future<Boolean> chain = Future.succeededFuture(true);
        for (CounterRepairs.Owed owed : due) {
            chain = chain.compose(going -> {
                if (!going || owedHere.containsKey(owed.id())) {
                    return Future.succeededFuture(going); // this node's own tries are still at it
                }
                return charge(owed).compose(reply -> {
                    LOG.warn("ran a charge account {}'s hot counters owed since a node could not ({}): {}",
                        owed.accountId(), owed.id(), reply.toInteger() == 1 ? "charged" : "taken already");
                    return repairs.taken(owed.id()).map(true);
                }, failure -> {
                    LOG.warn("running a charge account {}'s hot counters owe failed ({}); a later sweep tries again",
                        owed.accountId(), failure.toString());
                    return Future.succeededFuture(false);
                });
            });
        }
        chain.onComplete(done -> runningOwed.set(false));
    }

    /** Redis failed or did not answer: the request is refused as a passing outage (503), not as our bug. */
    private <T> Future<T> unavailable(Throwable failure) {
        if (warnings.due(clock.millis())) {
            LOG.warn("the hot counters in Redis failed a request's reservation: {}", failure.toString());
        }
        return Future.failedFuture(new Unavailable("Billing is briefly unavailable; retry the request.").toException());
    }

    /** Runs a counter script; if Redis lost the counters, rebuilds them from PostgreSQL and runs it again. */
    private Future<Response> run(Script script, String accountId, String keyId, List<String> args,
                                 Consumer<Response> lateReply) {
        List<String> keys = keys(accountId, keyId);
        return call(script, keys, args, lateReply).compose(reply -> switch (reply.get(0).toString()) {
            case "LOAD" -> loadAccount(accountId, keys).compose(v -> run(script, accountId, keyId, args, lateReply));
            case "LOADKEY" -> loadKey(accountId, keyId, keys).compose(v -> run(script, accountId, keyId, args, lateReply));
            default -> Future.succeededFuture(reply);
        });
    }

    /**
     * What this node has pending for an account (and a key, when given): the other nodes' question
     * when they rebuild its counters ({@link ClusterPending}).
     */
    public PendingElsewhere.Counts pendingHere(String accountId, String keyId) {
        return new PendingElsewhere.Counts(pending.wallet(accountId), pending.plans(accountId),
            keyId == null ? 0 : pending.keySpend(keyId));
    }

    /**
     * Fills the account's counters from PostgreSQL, less what is pending here and on the other nodes.
     * The pending counts are taken before the read: a record written in between is then counted
     * twice, leaving the counters that much low until they are next rebuilt, and never missed,
     * which would leave money to be spent twice.
     */
    private Future<Void> loadAccount(String accountId, List<String> keys) {
        PendingElsewhere.Counts here = pendingHere(accountId, null);
        return elsewhere.of(accountId, null).compose(others -> loader.account(accountId).compose(snapshot -> {
            PendingElsewhere.Counts all = here.plus(others);
            List<String> args = new ArrayList<>();
            args.add(Long.toString(snapshot.balanceMicroUsd() - all.walletMicroUsd()));
            args.add(Long.toString(snapshot.readAtUs()));
            for (Plan p : snapshot.plans()) {
                args.add(p.id());
                args.add(Long.toString(p.tokensRemaining() - all.plan(p.id())));
                args.add(Long.toString(p.validFrom().toEpochMilli()));
                args.add(Long.toString(p.validUntil().toEpochMilli()));
                args.add(String.join(",", p.models()));
            }
            return call(load, keys, args).mapEmpty();
        }));
    }

    /** Fills the key's month-to-date spend from PostgreSQL, plus what is pending, as {@link #loadAccount} does. */
    private Future<Void> loadKey(String accountId, String keyId, List<String> keys) {
        long here = pending.keySpend(keyId);
        return elsewhere.of(accountId, keyId).compose(others -> loader.monthToDate(keyId).compose(spend ->
                call(loadKey, keys, List.of(month(), Long.toString(spend + here + others.keyMicroUsd())))))
            .mapEmpty();
    }

    private Future<Response> call(Script script, List<String> keys, List<String> args) {
        return call(script, keys, args, null);
    }

    /**
     * Runs a script, failing after {@link #COMMAND_TIMEOUT_MS}. The command is still on its way then,
     * and Redis runs it when it answers again: {@code lateReply} (if any) hears what it did. A
     * settlement goes by {@link #settlements}: nobody waits for its answer but the usage record.
     */
    private Future<Response> call(Script script, List<String> keys, List<String> args, Consumer<Response> lateReply) {
        RedisAPI redis = script == settle ? settlements : this.redis;
        List<String> command = new ArrayList<>(2 + keys.size() + args.size());
        command.add(script.sha);
        command.add(Integer.toString(keys.size()));
        command.addAll(keys);
        command.addAll(args);
        Future<Response> reply = redis.evalsha(command).recover(failure -> {
            if (failure.getMessage() == null || !failure.getMessage().startsWith("NOSCRIPT")) {
                return Future.failedFuture(failure);
            }
            List<String> eval = new ArrayList<>(command);
            eval.set(0, script.source);
            return redis.eval(eval);
        });
        Future<Response> bounded = reply.timeout(COMMAND_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        if (lateReply != null) {
            bounded.onFailure(timedOut -> {
                if (!reply.isComplete()) {
                    reply.onSuccess(lateReply::accept);
                }
            });
        }
        return bounded;
    }

    /** The account's hash, the key's hash, the reservations, their timeline and the shares' marks: one hash tag. */
    private static List<String> keys(String accountId, String keyId) {
        String tag = "{" + accountId + "}";
        return List.of("th:q:" + tag, "th:k:" + tag + ":" + keyId, "th:r:" + tag, "th:rz:" + tag, "th:sm:" + tag);
    }

    private String month() {
        return YearMonth.now(clock.withZone(ZoneOffset.UTC)).format(MONTH);
    }

    /** Plan draws as the scripts write them: {@code id,tokens,id,tokens}. */
    private static String draws(Map<String, Long> planTokens) {
        StringBuilder out = new StringBuilder();
        planTokens.forEach((id, tokens) -> out.append(out.isEmpty() ? "" : ",").append(id).append(',').append(tokens));
        return out.toString();
    }

    private static Map<String, Long> draws(String encoded) {
        Map<String, Long> out = new LinkedHashMap<>();
        String[] parts = encoded.isEmpty() ? new String[0] : encoded.split(",");
        for (int i = 0; i + 1 < parts.length; i += 2) {
            out.put(parts[i], Long.parseLong(parts[i + 1]));
        }
        return Map.copyOf(out);
    }

    /**
     * @param walletMicroUsd the account's wallet money not reserved, after the reservation
     * @param monthMicroUsd  the key's spend this month and its reservations, this one included
     * @param atMs           when the reservation was sent
     */
    private record Headroom(String accountId, long walletMicroUsd, long monthMicroUsd, long atMs) {
    }

    /** A Lua script with the shared functions prepended, addressed by its SHA-1 as Redis does. */
    private static final class Script {
        final String source;
        final String sha;

        Script(String name, boolean common) {
            this.source = (common ? resource("common.lua") + "\n" : "") + resource(name);
            try {
                byte[] digest = MessageDigest.getInstance("SHA-1").digest(source.getBytes(StandardCharsets.UTF_8));
                this.sha = HexFormat.of().formatHex(digest);
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }

        private static String resource(String name) {
            try (InputStream in = RedisQuota.class.getResourceAsStream("/lua/" + name)) {
                if (in == null) {
                    throw new IllegalStateException("missing /lua/" + name);
                }
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
