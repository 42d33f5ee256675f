package io.tokenhub.billing;

import io.tokenhub.core.ApiError.InsufficientQuota;
import io.tokenhub.core.ApiError.MonthlyCapExceeded;
import io.tokenhub.core.Contexts;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.time.Clock;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hot counters in this process ({@code storage.redis: none}, one node). Each account's counters
 * are loaded from PostgreSQL on first use, minus what this process has settled but not yet made
 * durable, and then kept here; every change is made under the account's lock.
 */
public final class LocalQuota implements Quota {

    private static final Logger LOG = LoggerFactory.getLogger(LocalQuota.class);

    private static final class PlanState {
        final Plan plan;
        long remaining;
        long reserved;

        PlanState(Plan plan, long remaining) {
            this.plan = plan;
            this.remaining = remaining;
        }
    }

    private static final class KeyState {
        YearMonth month;
        /** The month's bounds in epoch milliseconds, so that most requests compare a number, not a date. */
        long monthStartMillis;
        long monthEndMillis;
        long spend;
        long reserved;
    }

    private static final class AccountState {
        long balance;
        long reserved;
        /** PostgreSQL's clock when the balance was read: credits written before it are in the balance. */
        long loadedAtUs;
        final List<PlanState> plans = new ArrayList<>();
        final Map<String, KeyState> keys = new ConcurrentHashMap<>();
        final Map<String, Future<KeyState>> loadingKeys = new ConcurrentHashMap<>();
    }

    private record Held(Reservation reservation, long atMs) {
    }

    private final QuotaLoader loader;
    private final Clock clock;
    private final Map<String, AccountState> accounts = new ConcurrentHashMap<>();
    private final Map<String, Future<AccountState>> loading = new ConcurrentHashMap<>();
    private final Map<String, Held> held = new ConcurrentHashMap<>();
    private final Pending pending = new Pending();

    public LocalQuota(QuotaLoader loader, Clock clock) {
        this.loader = loader;
        this.clock = clock;
    }

    @Override
    public Future<Reservation> reserve(String requestId, String accountId, String keyId, long monthlyCapMicroUsd,
                                       String modelId, long estimatedTokens, long estimatedMicroUsd) {
        return account(accountId).compose(account -> key(account, keyId).map(key -> {
            synchronized (account) {
                Reservation r = reserveLocked(account, key, requestId, accountId, keyId, monthlyCapMicroUsd,
                    modelId, estimatedTokens, estimatedMicroUsd);
                held.put(requestId, new Held(r, clock.millis()));
                return r;
            }
        }));
    }

    @Override
    public Future<Reservation> rebook(Reservation old, String reservationId, long monthlyCapMicroUsd, String modelId,
                                      long estimatedTokens, long estimatedMicroUsd) {
        return account(old.accountId()).compose(account -> key(account, old.keyId()).map(key -> {
            synchronized (account) {
                Held holding = held.remove(old.requestId());
                if (holding != null) {
                    release(account, key, old);
                }
                try {
                    Reservation r = reserveLocked(account, key, reservationId, old.accountId(), old.keyId(),
                        monthlyCapMicroUsd, modelId, estimatedTokens, estimatedMicroUsd);
                    held.put(reservationId, new Held(r, clock.millis()));
                    return r;
                } catch (RuntimeException refused) {
                    if (holding != null) {
                        hold(account, key, old);
                        held.put(old.requestId(), holding);
                    }
                    throw refused;
                }
            }
        }));
    }

    private Reservation reserveLocked(AccountState account, KeyState key, String requestId, String accountId,
                                      String keyId, long cap, String modelId, long tokens, long microUsd) {
        rollMonth(key);
        if (cap >= 0 && key.spend + key.reserved + microUsd > cap) {
            throw new MonthlyCapExceeded("This API key has reached its monthly spend cap of $"
                + PriceCalculator.toUsd(cap).toPlainString() + " (spent $" + PriceCalculator.toUsd(key.spend)
                .toPlainString() + " this month, $" + PriceCalculator.toUsd(key.reserved).toPlainString()
                + " in flight, this request needs up to $" + PriceCalculator.toUsd(microUsd).toPlainString()
                + "). Raise the cap or wait for next month.").toException();
        }
        Instant now = clock.instant();
        Map<String, Long> draws = new LinkedHashMap<>();
        long left = tokens;
        for (PlanState p : eligible(account, modelId, now)) {
            long take = Math.min(p.remaining - p.reserved, left);
            if (take > 0) {
                draws.put(p.plan.id(), take);
                left -= take;
            }
        }
        long wallet = tokens == 0 ? microUsd : Math.round((double) microUsd * left / tokens);
        if (wallet > 0 && account.balance - account.reserved < wallet) {
            throw new InsufficientQuota("You exceeded your current quota: this request needs up to $"
                + PriceCalculator.toUsd(wallet).toPlainString() + " and the account has $"
                + PriceCalculator.toUsd(Math.max(0, account.balance - account.reserved)).toPlainString()
                + " available and no plan tokens left for this model. Add credit or a token plan.").toException();
        }
        Reservation r = new Reservation(requestId, accountId, keyId, modelId, tokens, microUsd, Map.copyOf(draws),
            wallet);
        hold(account, key, r);
        return r;
    }

    private void hold(AccountState account, KeyState key, Reservation r) {
        r.planTokens().forEach((id, take) -> plan(account, id).reserved += take);
        account.reserved += r.walletMicroUsd();
        key.reserved += r.microUsd();
    }

    @Override
    public Future<Payment> settle(Reservation r, long tokens, long microUsd) {
        return account(r.accountId()).compose(account -> key(account, r.keyId()).map(key -> {
            synchronized (account) {
                if (held.remove(r.requestId()) != null) {
                    release(account, key, r);
                }
                return charge(account, key, r, tokens, microUsd);
            }
        })).recover(failure -> {
            LOG.warn("settling {} in the counters failed ({}); charging the wallet", r.requestId(), failure.toString());
            return Future.succeededFuture(pending.walletOnly(r.accountId(), r.keyId(), microUsd));
        });
    }

    private void release(AccountState account, KeyState key, Reservation r) {
        r.planTokens().forEach((id, take) -> {
            PlanState p = plan(account, id);
            if (p != null) {
                p.reserved -= take;
            }
        });
        account.reserved -= r.walletMicroUsd();
        key.reserved -= r.microUsd();
    }

    private Payment charge(AccountState account, KeyState key, Reservation r, long tokens, long microUsd) {
        Map<String, Long> draws = new LinkedHashMap<>();
        long left = tokens;
        // A plan the reservation drew from pays though it expired while the request ran: the wallet,
        // which nothing reserved, would go below zero for it (an audit of 2026-12-07: -450 micro-USD).
        List<PlanState> plans = eligible(account, r.modelId(), clock.instant(), r.planTokens());
        // What other requests hold of a plan is theirs to draw: free tokens first (this request's own,
        // just released, among them), and only usage past the estimate from the rest.
        for (int pass = 0; pass < 2 && left > 0; pass++) {
            for (PlanState p : plans) {
                long take = Math.min(pass == 0 ? Math.max(0, p.remaining - p.reserved) : p.remaining, left);
                if (take > 0) {
                    p.remaining -= take;
                    left -= take;
                    draws.merge(p.plan.id(), take, Long::sum);
                }
            }
        }
        long wallet = tokens == 0 ? microUsd : Math.round((double) microUsd * left / tokens);
        account.balance -= wallet;
        rollMonth(key);
        key.spend += microUsd;
        Payment payment = new Payment(Map.copyOf(draws), wallet);
        pending.add(new Settled(r.accountId(), r.keyId(), microUsd, payment));
        return payment;
    }

    // An account not loaded yet will read these changes from PostgreSQL when it is, and one loaded
    // since the credit began may have read it (the credit is then missed rather than counted twice).
    // Each node has its own counters and hears of each change once.
    @Override
    public Future<Void> credited(String accountId, long microUsd, String creditId, long writtenAfterUs) {
        return whenLoaded(accountId, account -> {
            if (account.loadedAtUs < writtenAfterUs) {
                account.balance += microUsd;
            }
        });
    }

    /**
     * Applies a change to the account's counters, under their lock: now if they are loaded, once
     * loaded if their load is on its way (it may have read PostgreSQL before the change was written:
     * until 2026-12-08 such a credit or plan was lost until the next start, a review found), else
     * not at all (a load still to come reads the change from PostgreSQL). The load is looked for
     * first: one that ends in between has put the counters in by the time they are looked for.
     */
    private Future<Void> whenLoaded(String accountId, Consumer<AccountState> change) {
        Future<AccountState> underWay = loading.get(accountId);
        if (underWay != null) {
            return underWay.map(account -> {
                synchronized (account) {
                    change.accept(account);
                }
                return (Void) null;
            }).otherwiseEmpty();
        }
        AccountState account = accounts.get(accountId);
        if (account != null) {
            synchronized (account) {
                change.accept(account);
            }
        }
        return Future.succeededFuture();
    }

    @Override
    public Future<Void> planGranted(String accountId, Plan plan) {
        return whenLoaded(accountId, account -> {
            if (account.plans.stream().noneMatch(p -> p.plan.id().equals(plan.id()))) {
                account.plans.add(new PlanState(plan, plan.tokensRemaining()));
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
        long cutoff = clock.millis() - RESERVATION_TTL_MS;
        int swept = 0;
        for (Held h : held.values()) {
            if (h.atMs() < cutoff && held.remove(h.reservation().requestId()) != null) {
                Reservation r = h.reservation();
                account(r.accountId()).compose(account -> key(account, r.keyId()).map(key -> {
                    synchronized (account) {
                        release(account, key, r);
                    }
                    return null;
                }));
                swept++;
            }
        }
        return swept;
    }

    /** Reserved in flight, for tests and metrics. */
    public long reservedMicroUsd(String accountId) {
        AccountState account = accounts.get(accountId);
        if (account == null) {
            return 0;
        }
        synchronized (account) {
            return account.reserved;
        }
    }

    // Loaded state is handed out in a fresh (context-free) future, so callers continue on their own
    // event loop; only the first request of an account waits for PostgreSQL.
    private Future<AccountState> account(String accountId) {
        AccountState loaded = accounts.get(accountId);
        if (loaded != null) {
            return Future.succeededFuture(loaded);
        }
        // What is pending is taken before PostgreSQL is read, as RedisQuota.loadAccount takes it: a
        // batch written in between is then counted twice (counters too low for a while), never not at
        // all (taken after the read, it could be gone from both, and its money spent again).
        return Contexts.onCaller(once(loading, accountId, id -> {
            long walletPending = pending.wallet(id);
            Map<String, Long> plansPending = pending.plans(id);
            return loader.account(id).map(snapshot -> accounts.computeIfAbsent(id, k -> {
                AccountState a = new AccountState();
                a.balance = snapshot.balanceMicroUsd() - walletPending;
                a.loadedAtUs = snapshot.readAtUs();
                for (Plan p : snapshot.plans()) {
                    a.plans.add(new PlanState(p, p.tokensRemaining() - plansPending.getOrDefault(p.id(), 0L)));
                }
                return a;
            }));
        }));
    }

    /**
     * The load of {@code id} under way, else one started: one at a time per id, forgotten once done.
     * Not in a {@code computeIfAbsent}: a load that completes before its handler is set (on the pool's
     * thread) would run that handler inside it, and its removal threw "Recursive update".
     */
    private static <T> Future<T> once(Map<String, Future<T>> loads, String id, Function<String, Future<T>> load) {
        Future<T> underWay = loads.get(id);
        if (underWay != null) {
            return underWay;
        }
        Promise<T> promise = Promise.promise();
        underWay = loads.putIfAbsent(id, promise.future());
        if (underWay != null) {
            return underWay;
        }
        load.apply(id).onComplete(ar -> {
            loads.remove(id, promise.future());
            promise.handle(ar);
        });
        return promise.future();
    }

    private Future<KeyState> key(AccountState account, String keyId) {
        KeyState loaded = account.keys.get(keyId);
        if (loaded != null) {
            return Future.succeededFuture(loaded);
        }
        return Contexts.onCaller(once(account.loadingKeys, keyId, id -> {
            long spendPending = pending.keySpend(id);
            return loader.monthToDate(id).map(spend -> account.keys.computeIfAbsent(id, k -> {
                KeyState state = new KeyState();
                state.month = YearMonth.now(clock.withZone(ZoneOffset.UTC));
                state.spend = spend + spendPending;
                return state;
            }));
        }));
    }

    private void rollMonth(KeyState key) {
        long millis = clock.millis();
        if (millis >= key.monthStartMillis && millis < key.monthEndMillis) {
            return;
        }
        YearMonth now = YearMonth.now(clock.withZone(ZoneOffset.UTC));
        if (!now.equals(key.month)) {
            key.month = now;
            key.spend = 0;
        }
        key.monthStartMillis = now.atDay(1).atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli();
        key.monthEndMillis = now.plusMonths(1).atDay(1).atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli();
    }

    private static List<PlanState> eligible(AccountState account, String modelId, Instant now) {
        return eligible(account, modelId, now, Map.of());
    }

    /** @param held plans a request's reservation drew from: they pay for it even if they expired meanwhile */
    private static List<PlanState> eligible(AccountState account, String modelId, Instant now, Map<String, Long> held) {
        if (account.plans.isEmpty()) {
            // Most accounts pay from the wallet alone: no stream, sort and list on every request.
            return List.of();
        }
        return account.plans.stream()
            .filter(p -> p.plan.covers(modelId, now) || held.containsKey(p.plan.id()))
            .sorted(Comparator.comparing((PlanState p) -> p.plan.validUntil()).thenComparing(p -> p.plan.id()))
            .toList();
    }

    private static PlanState plan(AccountState account, String id) {
        for (PlanState p : account.plans) {
            if (p.plan.id().equals(id)) {
                return p;
            }
        }
        return null;
    }
}
