package io.tokenhub.accounting;

import io.vertx.core.Future;
import io.vertx.pgclient.PgException;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Tuple;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Writes usage records, and settles what they cost, in one statement per batch
 * ({@code INSERT … SELECT FROM UNNEST}), ignoring request ids already present, so a batch written
 * twice (after a timeout, from the spool) is still one record per request.
 *
 * <p>A batch is first written as if all its records were new: a plain insert, which the primary
 * key refuses whole (nothing written, nothing charged) if one of them was not. Only then is it
 * written again with {@code ON CONFLICT DO NOTHING}, which looks every record's id up in the
 * primary key before inserting it, a case only a retried batch meets. That look-up was a quarter
 * of PostgreSQL's CPU samples under the load benchmark; without it (and with ids in time order,
 * see {@link io.tokenhub.core.Ids}) PostgreSQL spends 25–36 % less CPU per request.
 */
public final class UsageWriter {

    /*
     * One statement: insert the records, and for those that were not there before (and only those)
     * take their wallet money from the account, their tokens from the plans, and write one ledger
     * row per account charged: the batch's sum, with the balance after it. Each record keeps what its
     * request paid (wallet_micro_usd, plan_draws); the ledger follows the balance's changes, one per
     * update. A ledger row per record instead (an insert, three index entries and a foreign-key check
     * each) made the statement take about 80 % longer, measured with pgbench on batches of 500.
     */
    private static final String INSERT = """
        WITH ins AS (
            INSERT INTO usage_records (request_id, created_at, account_id, key_id, requested_model, served_model,
                provider, deployment, prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens,
                cost_micro_usd, price_version, latency_ms, ttft_ms, status, error_code, stream, fallback, estimated,
                wallet_micro_usd, plan_draws, cache_write_tokens)
            SELECT r, c, a, k, rm, sm, p, d, pt, ct, cpt, rt, cost, pv, lat, tt, st, ec, s, f, e, w, pd::jsonb, cwt
              FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::text[], $8::text[], $9::int[], $10::int[], $11::int[], $12::int[], $13::bigint[], $14::text[],
                $15::int[], $16::int[], $17::int[], $18::text[], $19::bool[], $20::bool[], $21::bool[],
                $22::bigint[], $23::text[], $24::int[])
                AS u(r, c, a, k, rm, sm, p, d, pt, ct, cpt, rt, cost, pv, lat, tt, st, ec, s, f, e, w, pd, cwt)
            %s
            RETURNING request_id, account_id, wallet_micro_usd, plan_draws
        ), wallet AS (
            UPDATE accounts a SET balance_micro_usd = a.balance_micro_usd - t.total
              FROM (SELECT account_id, sum(wallet_micro_usd) AS total, count(*) AS records FROM ins
                     WHERE wallet_micro_usd <> 0 GROUP BY account_id) t
             WHERE a.id = t.account_id AND t.total <> 0
            RETURNING a.id, a.balance_micro_usd, t.total, t.records
        ), plans AS (
            UPDATE token_plans p SET tokens_remaining = p.tokens_remaining - t.tokens
              FROM (SELECT d.key AS plan_id, sum(d.value::bigint) AS tokens
                      FROM ins, jsonb_each_text(ins.plan_draws) d GROUP BY d.key) t
             WHERE p.id = t.plan_id
            RETURNING p.id
        ), ledger AS (
            INSERT INTO ledger (account_id, amount_micro_usd, balance_after_micro_usd, kind, reason)
            SELECT id, -total, balance_micro_usd, 'usage',
                   records || CASE WHEN records = 1 THEN ' request' ELSE ' requests' END FROM wallet
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM ins) AS inserted, (SELECT count(*) FROM plans) AS plans,
               (SELECT count(*) FROM ledger) AS ledger""";
    private static final String INSERT_NEW = INSERT.formatted("");
    private static final String INSERT_IGNORING_KNOWN = INSERT.formatted("ON CONFLICT (request_id) DO NOTHING");
    /** SQLSTATE unique_violation. */
    private static final String UNIQUE_VIOLATION = "23505";
    /** PostgreSQL's name for V1's {@code request_id text PRIMARY KEY}. */
    private static final String PRIMARY_KEY = "usage_records_pkey";

    private final Pool pool;

    public UsageWriter(Pool pool) {
        this.pool = pool;
    }

    /** Which of these request ids PostgreSQL holds a record of already. */
    Future<Set<String>> existing(List<String> requestIds) {
        return pool.preparedQuery("SELECT request_id FROM usage_records WHERE request_id = ANY($1)")
            .execute(Tuple.of(requestIds.toArray(new String[0])))
            .map(rows -> {
                Set<String> held = new HashSet<>();
                rows.forEach(row -> held.add(row.getString(0)));
                return held;
            });
    }

    /** Completes with the number of records newly written. */
    public Future<Integer> write(List<UsageEvent> events) {
        int n = events.size();
        String[] requestIds = new String[n];
        OffsetDateTime[] createdAt = new OffsetDateTime[n];
        String[] accounts = new String[n];
        String[] keys = new String[n];
        String[] requested = new String[n];
        String[] served = new String[n];
        String[] providers = new String[n];
        String[] deployments = new String[n];
        Integer[] prompt = new Integer[n];
        Integer[] cached = new Integer[n];
        Integer[] cacheWrite = new Integer[n];
        Integer[] completion = new Integer[n];
        Integer[] reasoning = new Integer[n];
        Long[] cost = new Long[n];
        String[] priceVersions = new String[n];
        Integer[] latency = new Integer[n];
        Integer[] ttft = new Integer[n];
        Integer[] status = new Integer[n];
        String[] errors = new String[n];
        Boolean[] stream = new Boolean[n];
        Boolean[] fallback = new Boolean[n];
        Boolean[] estimated = new Boolean[n];
        Long[] wallet = new Long[n];
        String[] planDraws = new String[n];
        for (int i = 0; i < n; i++) {
            UsageEvent e = events.get(i);
            requestIds[i] = e.requestId();
            createdAt[i] = e.createdAt().atOffset(ZoneOffset.UTC);
            accounts[i] = e.accountId();
            keys[i] = e.keyId();
            requested[i] = e.requestedModel();
            served[i] = e.servedModel();
            providers[i] = e.provider();
            deployments[i] = e.deployment();
            prompt[i] = clamp(e.usage().promptTokens());
            cached[i] = clamp(e.usage().cachedTokens());
            cacheWrite[i] = clamp(e.usage().cacheWriteTokens());
            completion[i] = clamp(e.usage().completionTokens());
            reasoning[i] = clamp(e.usage().reasoningTokens());
            cost[i] = e.costMicroUsd();
            priceVersions[i] = e.priceVersion();
            latency[i] = clamp(e.latencyMs());
            ttft[i] = e.ttftMs() < 0 ? null : clamp(e.ttftMs());
            status[i] = e.status();
            errors[i] = e.errorCode();
            stream[i] = e.stream();
            fallback[i] = e.fallback();
            estimated[i] = e.usage().estimated();
            wallet[i] = e.payment().walletMicroUsd();
            planDraws[i] = e.payment().planDraws().isEmpty() ? null
                : new io.vertx.core.json.JsonObject(new java.util.HashMap<>(e.payment().planDraws())).encode();
        }
        Tuple params = Tuple.tuple(List.of(requestIds, createdAt, accounts, keys, requested, served, providers,
            deployments, prompt, cached, completion, reasoning, cost, priceVersions, latency, ttft, status, errors,
            stream, fallback, estimated, wallet, planDraws, cacheWrite));
        return insert(INSERT_NEW, params).recover(failure -> isKnownRecord(failure)
            ? insert(INSERT_IGNORING_KNOWN, params) : Future.failedFuture(failure));
    }

    private Future<Integer> insert(String sql, Tuple params) {
        return pool.preparedQuery(sql).execute(params).map(rows -> rows.iterator().next().getLong(0).intValue());
    }

    /** A record of the batch is there already (or twice in it): its request id met the primary key. */
    private static boolean isKnownRecord(Throwable failure) {
        return failure instanceof PgException pg && UNIQUE_VIOLATION.equals(pg.getSqlState())
            && PRIMARY_KEY.equals(pg.getConstraint());
    }

    private static Integer clamp(long value) {
        return (int) Math.max(0, Math.min(Integer.MAX_VALUE, value));
    }
}
