package io.tokenhub.billing;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Charges settled in the hot counters that PostgreSQL does not hold yet (their usage records are
 * still on the way). Loading counters from PostgreSQL subtracts them, so a rebuild neither forgets
 * nor doubles a charge.
 */
final class Pending {

    private final Map<String, Long> wallet = new ConcurrentHashMap<>();
    private final Map<String, Long> plans = new ConcurrentHashMap<>();

    void add(String accountId, Payment payment) {
        if (payment.walletMicroUsd() != 0) {
            wallet.merge(accountId, payment.walletMicroUsd(), Long::sum);
        }
        payment.planDraws().forEach((id, take) -> plans.merge(id, take, Long::sum));
    }

    void durable(List<String> accountIds, List<Payment> payments) {
        for (int i = 0; i < payments.size(); i++) {
            Payment p = payments.get(i);
            if (p.walletMicroUsd() != 0) {
                subtract(wallet, accountIds.get(i), p.walletMicroUsd());
            }
            p.planDraws().forEach((id, take) -> subtract(plans, id, take));
        }
    }

    long wallet(String accountId) {
        return wallet.getOrDefault(accountId, 0L);
    }

    long plan(String planId) {
        return plans.getOrDefault(planId, 0L);
    }

    // Records replayed from an earlier process's spool were never pending here: never below zero.
    private static void subtract(Map<String, Long> pending, String id, long amount) {
        pending.compute(id, (k, v) -> {
            long left = (v == null ? 0 : v) - amount;
            return left > 0 ? left : null;
        });
    }
}
