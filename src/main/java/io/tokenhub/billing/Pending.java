package io.tokenhub.billing;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Charges settled in the hot counters that PostgreSQL does not hold yet (their usage records are
 * still on the way: in memory, or in the spool while PostgreSQL is down). Loading counters from
 * PostgreSQL takes them into account — a wallet and a plan less what is pending, a key's
 * month-to-date spend plus it — so a rebuild neither forgets nor doubles a charge.
 */
final class Pending {

    private final Map<String, Long> wallet = new ConcurrentHashMap<>();
    private final Map<String, Long> plans = new ConcurrentHashMap<>();
    private final Map<String, Long> keySpend = new ConcurrentHashMap<>();
    /** Plan id → its account, for the plans drawn here: what {@link #plans(String)} answers by. */
    private final Map<String, String> planAccounts = new ConcurrentHashMap<>();

    void add(Settled settled) {
        Payment payment = settled.payment();
        if (payment.walletMicroUsd() != 0) {
            wallet.merge(settled.accountId(), payment.walletMicroUsd(), Long::sum);
        }
        payment.planDraws().forEach((id, take) -> {
            plans.merge(id, take, Long::sum);
            planAccounts.put(id, settled.accountId());
        });
        if (settled.costMicroUsd() != 0) {
            keySpend.merge(settled.keyId(), settled.costMicroUsd(), Long::sum);
        }
    }

    /**
     * A settlement the hot counters could not take (unreachable): all of it is charged to the wallet
     * in PostgreSQL, and it is pending like any other until written there.
     */
    Payment walletOnly(String accountId, String keyId, long microUsd) {
        Payment payment = new Payment(Map.of(), microUsd);
        add(new Settled(accountId, keyId, microUsd, payment));
        return payment;
    }

    void durable(List<Settled> batch) {
        for (Settled settled : batch) {
            Payment p = settled.payment();
            if (p.walletMicroUsd() != 0) {
                subtract(wallet, settled.accountId(), p.walletMicroUsd());
            }
            p.planDraws().forEach((id, take) -> subtract(plans, id, take));
            if (settled.costMicroUsd() != 0) {
                subtract(keySpend, settled.keyId(), settled.costMicroUsd());
            }
        }
    }

    /** What a key spent that PostgreSQL's month-to-date does not hold yet. */
    long keySpend(String keyId) {
        return keySpend.getOrDefault(keyId, 0L);
    }

    long wallet(String accountId) {
        return wallet.getOrDefault(accountId, 0L);
    }

    /** What the account's plans have pending here, by plan id. */
    Map<String, Long> plans(String accountId) {
        Map<String, Long> out = new HashMap<>();
        plans.forEach((id, tokens) -> {
            if (accountId.equals(planAccounts.get(id))) {
                out.put(id, tokens);
            }
        });
        return out;
    }

    // An earlier run's records found on disk are added at start (Quota.foundOnDisk), so a replay
    // subtracts only what was added; never below zero all the same.
    private static void subtract(Map<String, Long> pending, String id, long amount) {
        pending.compute(id, (k, v) -> {
            long left = (v == null ? 0 : v) - amount;
            return left > 0 ? left : null;
        });
    }
}
