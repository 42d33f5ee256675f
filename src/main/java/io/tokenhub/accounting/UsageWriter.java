package io.tokenhub.accounting;

import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Tuple;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;

/**
 * Writes usage records in one statement per batch ({@code INSERT … SELECT FROM UNNEST}), ignoring
 * request ids already present, so a batch written twice (after a timeout, from the spool) is
 * still one record per request.
 */
public final class UsageWriter {

    private static final String INSERT = """
        INSERT INTO usage_records (request_id, created_at, account_id, key_id, requested_model, served_model,
            provider, deployment, prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens,
            cost_micro_usd, price_version, latency_ms, ttft_ms, status, error_code, stream, fallback, estimated)
        SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::text[], $9::int[], $10::int[], $11::int[], $12::int[], $13::bigint[], $14::text[],
            $15::int[], $16::int[], $17::int[], $18::text[], $19::bool[], $20::bool[], $21::bool[])
        ON CONFLICT (request_id) DO NOTHING""";

    private final Pool pool;

    public UsageWriter(Pool pool) {
        this.pool = pool;
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
        }
        Tuple params = Tuple.tuple(List.of(requestIds, createdAt, accounts, keys, requested, served, providers,
            deployments, prompt, cached, completion, reasoning, cost, priceVersions, latency, ttft, status, errors,
            stream, fallback, estimated));
        return pool.preparedQuery(INSERT).execute(params).map(rows -> rows.rowCount());
    }

    private static Integer clamp(long value) {
        return (int) Math.max(0, Math.min(Integer.MAX_VALUE, value));
    }
}
