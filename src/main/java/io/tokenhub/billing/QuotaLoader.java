package io.tokenhub.billing;

import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;
import java.util.ArrayList;
import java.util.List;

/** Reads an account's durable balance, active plans and a key's month-to-date spend. */
public final class QuotaLoader {

    /** The durable state of one account. */
    public record Snapshot(long balanceMicroUsd, List<Quota.Plan> plans) {
    }

    private final Pool pool;

    public QuotaLoader(Pool pool) {
        this.pool = pool;
    }

    public Future<Snapshot> account(String accountId) {
        Future<Long> balance = pool.preparedQuery("SELECT balance_micro_usd FROM accounts WHERE id = $1")
            .execute(Tuple.of(accountId))
            .map(rows -> rows.size() == 0 ? 0L : rows.iterator().next().getLong(0));
        Future<List<Quota.Plan>> plans = pool.preparedQuery("""
                SELECT id, tokens_remaining, valid_from, valid_until, models FROM token_plans
                 WHERE account_id = $1 AND valid_until > now() AND tokens_remaining > 0
                 ORDER BY valid_until, id""")
            .execute(Tuple.of(accountId))
            .map(rows -> {
                List<Quota.Plan> out = new ArrayList<>();
                for (Row r : rows) {
                    String[] models = r.getArrayOfStrings("models");
                    out.add(new Quota.Plan(r.getString("id"), r.getLong("tokens_remaining"),
                        r.getOffsetDateTime("valid_from").toInstant(), r.getOffsetDateTime("valid_until").toInstant(),
                        models == null ? List.of() : List.of(models)));
                }
                return out;
            });
        return Future.all(balance, plans).map(v -> new Snapshot(balance.result(), plans.result()));
    }

    /** Spend of a key in the current calendar month (UTC), from its usage records. */
    public Future<Long> monthToDate(String keyId) {
        return pool.preparedQuery("""
                SELECT coalesce(sum(cost_micro_usd), 0) FROM usage_records
                 WHERE key_id = $1 AND created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'""")
            .execute(Tuple.of(keyId))
            .map(rows -> rows.iterator().next().getLong(0));
    }
}
