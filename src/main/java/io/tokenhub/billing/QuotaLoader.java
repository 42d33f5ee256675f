package io.tokenhub.billing;

import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Reads an account's durable balance, active plans and a key's month-to-date spend. */
public final class QuotaLoader {

    /**
     * The durable state of one account.
     *
     * @param readAtUs PostgreSQL's clock once the balance was read: a credit written before this time
     *                 is in it, whichever node's clock runs ahead (see {@link Quota#credited})
     */
    public record Snapshot(long balanceMicroUsd, List<Quota.Plan> plans, long readAtUs) {
    }

    /**
     * PostgreSQL's clock in microseconds since the epoch, for comparing the times of credits and
     * loads on one clock. Evaluated as the statement runs, so after its snapshot was taken.
     */
    public static final String CLOCK_US = "floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint";

    /**
     * The longest a load waits for PostgreSQL: a request waiting for it is answered 503 then, not held
     * for as long as a PostgreSQL that drops packets stays silent (a review found no bound).
     */
    static final long READ_TIMEOUT_MS = 5_000;

    private final Pool pool;

    public QuotaLoader(Pool pool) {
        this.pool = pool;
    }

    public Future<Snapshot> account(String accountId) {
        Future<Row> balance = pool.preparedQuery(
                "SELECT coalesce((SELECT balance_micro_usd FROM accounts WHERE id = $1), 0), " + CLOCK_US)
            .execute(Tuple.of(accountId))
            .map(rows -> rows.iterator().next());
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
        return Future.all(balance, plans)
            .map(v -> new Snapshot(balance.result().getLong(0), plans.result(), balance.result().getLong(1)))
            .timeout(READ_TIMEOUT_MS, TimeUnit.MILLISECONDS);
    }

    /** Spend of a key in the current calendar month (UTC), from its usage records. */
    public Future<Long> monthToDate(String keyId) {
        return pool.preparedQuery("""
                SELECT coalesce(sum(cost_micro_usd), 0) FROM usage_records
                 WHERE key_id = $1 AND created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'""")
            .execute(Tuple.of(keyId))
            .map(rows -> rows.iterator().next().getLong(0))
            .timeout(READ_TIMEOUT_MS, TimeUnit.MILLISECONDS);
    }
}
