package io.tokenhub.admin;

import io.tokenhub.core.ApiError.InvalidRequest;
import io.tokenhub.core.ApiError.ReportTimeout;
import io.tokenhub.core.ApiError.Unavailable;
import io.tokenhub.routing.Catalog;
import io.tokenhub.store.Database;
import io.vertx.core.Future;
import io.vertx.core.http.ConnectionPoolTooBusyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.DatabaseException;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.Tuple;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.DateTimeException;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;

/**
 * Reads {@code usage_records}: aggregates (by day, model or key) and request logs, newest first with
 * an opaque cursor, for the admin API, {@code GET /v1/usage} and the legacy OpenAI billing shapes.
 * Every query is one parameterized statement whose WHERE clause starts with an equality on
 * {@code account_id} or {@code key_id} (when filtered) followed by a {@code created_at} range, so
 * that it runs on the indexes {@code (account_id, created_at DESC, request_id DESC)},
 * {@code (key_id, created_at DESC, request_id DESC)} or {@code (created_at, request_id)} (read
 * backwards); {@code UsageQueryPlanIT} checks the plans on a million records.
 */
public final class UsageQueries {

    static final int DEFAULT_LIMIT = AdminBodies.DEFAULT_LIMIT;
    static final int MAX_LIMIT = AdminBodies.MAX_LIMIT;
    /** PostgreSQL's SQLSTATE for a statement stopped by statement_timeout (or cancelled). */
    private static final String QUERY_CANCELED = "57014";
    /** How the SQL client's pool says a connection was not free in time (a plain VertxException). */
    private static final String POOL_WAIT_TIMEOUT = "Timeout waiting for connection";

    /** Every §4 field of a usage record, in the order a log record shows them. */
    private static final String LOG_COLUMNS = "request_id, created_at, account_id, key_id, requested_model, "
        + "served_model, provider, deployment, prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens, "
        + "reasoning_tokens, cost_micro_usd, price_version, latency_ms, ttft_ms, status, error_code, stream, fallback, "
        + "estimated, wallet_micro_usd, "
        + "(SELECT coalesce(sum(d.value::bigint), 0) FROM jsonb_each_text(plan_draws) d)::bigint AS plan_tokens";

    private static final String SUMS = "count(*) AS requests, "
        + "coalesce(sum(prompt_tokens), 0)::bigint AS prompt_tokens, "
        + "coalesce(sum(cached_tokens), 0)::bigint AS cached_tokens, "
        + "coalesce(sum(cache_write_tokens), 0)::bigint AS cache_write_tokens, "
        + "coalesce(sum(completion_tokens), 0)::bigint AS completion_tokens, "
        + "coalesce(sum(reasoning_tokens), 0)::bigint AS reasoning_tokens, "
        + "coalesce(sum(cost_micro_usd), 0)::bigint AS cost_micro_usd";

    /** A group key of {@code usage}: its name in the query string, its output field and its SQL. */
    public enum GroupBy {
        DAY("day", "day", "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
        /** The model that served (and set the price), else the one asked for when none was called. */
        MODEL("model", "model", "coalesce(served_model, requested_model)"),
        KEY("key", "key_id", "key_id");

        final String param;
        final String field;
        final String sql;

        GroupBy(String param, String field, String sql) {
            this.param = param;
            this.field = field;
            this.sql = sql;
        }

        /**
         * {@code day}, {@code model} or {@code key} (also {@code key_id}); several joined by commas
         * group by each in turn. Absent: by day.
         */
        public static List<GroupBy> parse(String value) {
            if (value == null || value.isBlank()) {
                return List.of(DAY);
            }
            List<GroupBy> keys = new ArrayList<>();
            for (String part : value.split(",")) {
                String name = part.trim().toLowerCase(Locale.ROOT);
                GroupBy key = switch (name) {
                    case "day" -> DAY;
                    case "model" -> MODEL;
                    case "key", "key_id" -> KEY;
                    default -> throw invalid("group_by must be day, model or key (or several joined by commas), "
                        + "not '" + part.trim() + "'.", "group_by");
                };
                if (!keys.contains(key)) {
                    keys.add(key);
                }
            }
            if (keys.isEmpty()) {
                // Commas alone: a 500 until 2026-12-07.
                throw invalid("group_by must name day, model or key (or several joined by commas).", "group_by");
            }
            return List.copyOf(keys);
        }
    }

    /**
     * What records a query covers. {@code from} is inclusive, {@code until} exclusive; a status
     * filter is the range {@code statusMin..statusMax} (null for any).
     */
    public record Filter(String accountId, String keyId, String model, Integer statusMin, Integer statusMax,
                         OffsetDateTime from, OffsetDateTime until) {

        public Filter withAccount(String account) {
            return new Filter(account, keyId, model, statusMin, statusMax, from, until);
        }

        /** A model alias means the catalog id it names: records store ids. */
        public Filter withCatalogIds(Catalog catalog) {
            // Any name the model answers to: id, alias, provider/model, a response's label.
            String id = model == null ? null : catalog.resolve(model).map(t -> t.model().id()).orElse(model);
            return new Filter(accountId, keyId, id, statusMin, statusMax, from, until);
        }

        /** The inclusive end, as the caller may have written it: the last microsecond of the range. */
        public OffsetDateTime to() {
            return until.minus(1, ChronoUnit.MICROS);
        }

        /**
         * From query parameters {@code account_id, key_id, model, status, from, to}; dates in UTC,
         * inclusive; by default the current calendar month (UTC). Each bad value is a 400 naming it.
         */
        public static Filter parse(Function<String, String> params, Clock clock) {
            Range range = Range.parse(params.apply("from"), params.apply("to"), "from", "to", clock);
            Integer min = null;
            Integer max = null;
            String status = blankToNull(params.apply("status"));
            if (status != null) {
                switch (status.toLowerCase(Locale.ROOT)) {
                    case "success", "ok" -> {
                        min = 0;
                        max = 399;
                    }
                    case "error", "failed" -> {
                        min = 400;
                        max = 999;
                    }
                    default -> {
                        min = httpStatus(status);
                        max = min;
                    }
                }
            }
            return new Filter(blankToNull(params.apply("account_id")), blankToNull(params.apply("key_id")),
                blankToNull(params.apply("model")), min, max, range.from(), range.until());
        }
    }

    private static int httpStatus(String value) {
        try {
            int status = Integer.parseInt(value);
            if (status >= 100 && status <= 599) {
                return status;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw invalid("status must be an HTTP status code (such as 200 or 429), success or error.", "status");
    }

    /** A time range, {@code from} inclusive, {@code until} exclusive. */
    public record Range(OffsetDateTime from, OffsetDateTime until) {

        /** The current calendar month in UTC. */
        public static Range currentMonth(Clock clock) {
            return monthOf(LocalDate.now(clock.withZone(ZoneOffset.UTC)));
        }

        private static Range monthOf(LocalDate day) {
            LocalDate first = day.withDayOfMonth(1);
            return new Range(first.atStartOfDay().atOffset(ZoneOffset.UTC),
                first.plusMonths(1).atStartOfDay().atOffset(ZoneOffset.UTC));
        }

        /**
         * An inclusive range from two optional bounds, each RFC 3339 or {@code YYYY-MM-DD} (UTC); a date
         * {@code to} runs through the end of that day. A missing bound is the current month's, unless
         * that would put it on the wrong side of the one given: then it is the given one's month's
         * ({@code to=2026-10-31} alone is October).
         */
        public static Range parse(String fromText, String toText, String fromParam, String toParam, Clock clock) {
            Range range = filled(blankToNull(fromText) == null ? null : start(fromText, fromParam),
                blankToNull(toText) == null ? null : endInclusive(toText, toParam), clock);
            if (!range.until().isAfter(range.from())) {
                throw invalid(fromParam + " must not be after " + toParam + ".", fromParam);
            }
            return range;
        }

        /**
         * From {@code from} to {@code until} (exclusive), a missing one (null) filled in: the current
         * month's bound, unless that would put it on the wrong side of the one given, then the given
         * one's month's.
         */
        public static Range filled(OffsetDateTime from, OffsetDateTime until, Clock clock) {
            Range month = currentMonth(clock);
            if (from == null) {
                from = until == null || until.isAfter(month.from()) ? month.from()
                    : monthOf(until.minusNanos(1).toLocalDate()).from();
            }
            if (until == null) {
                until = from.isBefore(month.until()) ? month.until() : monthOf(from.toLocalDate()).until();
            }
            return new Range(from, until);
        }
    }

    /** One page of logs: where the previous page ended. */
    record Cursor(OffsetDateTime createdAt, String requestId) {

        String encode() {
            String text = createdAt.withOffsetSameInstant(ZoneOffset.UTC) + "|" + requestId;
            return Base64.getUrlEncoder().withoutPadding().encodeToString(text.getBytes(StandardCharsets.UTF_8));
        }

        static Cursor decode(String value) {
            if (value == null || value.isEmpty()) {
                return null;
            }
            try {
                String text = new String(Base64.getUrlDecoder().decode(value.trim()), StandardCharsets.UTF_8);
                int bar = text.indexOf('|');
                if (bar > 0 && bar < text.length() - 1) {
                    return new Cursor(OffsetDateTime.parse(text.substring(0, bar)), text.substring(bar + 1));
                }
            } catch (IllegalArgumentException | DateTimeParseException e) {
                // reported below
            }
            throw invalid("cursor is not valid; pass the next_cursor of a previous page unchanged.", "cursor");
        }
    }

    /** A statement and its parameters, as it is sent (visible to the plan test). */
    record Statement(String sql, List<Object> params) {
    }

    private final Pool pool;
    private final Clock clock;
    private final long timeoutMs;

    /**
     * @param pool      the reports' own pool ({@code Database.reportPool}), whose statements stop after
     *                  {@code timeoutMs}
     * @param timeoutMs the pool's statement timeout, named in the error of a report it stops
     */
    public UsageQueries(Pool pool, Clock clock, long timeoutMs) {
        this.pool = pool;
        this.clock = clock;
        this.timeoutMs = timeoutMs;
    }

    public Clock clock() {
        return clock;
    }

    /**
     * Sums of the records in the filter, one row per group: {@code requests, prompt_tokens,
     * cached_tokens, cache_write_tokens, completion_tokens, reasoning_tokens, cost_micro_usd} and each group key
     * ({@code day} YYYY-MM-DD in UTC, {@code model} the requested model, {@code key_id}), ordered by
     * the keys (code-point order).
     */
    public Future<JsonArray> usage(Filter filter, List<GroupBy> groupBy) {
        Statement statement = usageStatement(filter, groupBy);
        return run(statement).map(rows -> {
            JsonArray data = new JsonArray();
            for (Row r : rows) {
                JsonObject row = new JsonObject();
                for (GroupBy key : groupBy) {
                    row.put(key.field, r.getString(key.field));
                }
                row.put("requests", r.getLong("requests"))
                    .put("prompt_tokens", r.getLong("prompt_tokens"))
                    .put("cached_tokens", r.getLong("cached_tokens"))
                    .put("cache_write_tokens", r.getLong("cache_write_tokens"))
                    .put("completion_tokens", r.getLong("completion_tokens"))
                    .put("reasoning_tokens", r.getLong("reasoning_tokens"))
                    .put("cost_micro_usd", r.getLong("cost_micro_usd"));
                data.add(row);
            }
            return data;
        });
    }

    /**
     * Records in the filter, newest first by {@code (created_at, request_id)}: {@code {data,
     * next_cursor}}, next_cursor null on the last page.
     *
     * @param cursor a previous page's next_cursor, or null for the first page
     */
    public Future<JsonObject> logs(Filter filter, int limit, String cursor) {
        if (limit < 1 || limit > MAX_LIMIT) {
            throw invalid("limit must be an integer from 1 to " + MAX_LIMIT + ".", "limit");
        }
        Statement statement = logsStatement(filter, limit + 1, Cursor.decode(cursor));
        return run(statement).map(rows -> {
            JsonArray data = new JsonArray();
            String next = null;
            Cursor last = null;
            for (Row r : rows) {
                if (data.size() == limit) {
                    next = last.encode();
                    break;
                }
                data.add(logJson(r));
                last = new Cursor(r.getOffsetDateTime("created_at"), r.getString("request_id"));
            }
            return new JsonObject().put("data", data).put("next_cursor", next);
        });
    }

    /** The account's name, wallet balance and spend in the range: what the legacy subscription shows. */
    public record Wallet(String name, long balanceMicroUsd, long spentMicroUsd) {
    }

    /** Empty name when there is no such account. */
    public Future<Wallet> wallet(String accountId, Range range) {
        Statement statement = walletStatement(accountId, range);
        return run(statement).map(rows -> {
            if (rows.size() == 0) {
                return new Wallet(null, 0, 0);
            }
            Row r = rows.iterator().next();
            return new Wallet(r.getString("name"), r.getLong("balance_micro_usd"), r.getLong("spent"));
        });
    }

    /** The account's spend (the cost of its requests) this calendar month (UTC), to now. */
    public Future<Long> monthSpend(String accountId) {
        return wallet(accountId, Range.currentMonth(clock)).map(Wallet::spentMicroUsd);
    }

    /** The account's wallet balance as PostgreSQL holds it (settled requests only). */
    public Future<Long> balance(String accountId) {
        return wallet(accountId, Range.currentMonth(clock)).map(Wallet::balanceMicroUsd);
    }

    /**
     * Runs a report's statement. One stopped at the time limit is a {@link ReportTimeout}; one that
     * found every connection of the reports' pool taken for as long is told to come back.
     */
    private Future<RowSet<Row>> run(Statement statement) {
        return pool.preparedQuery(statement.sql()).execute(Tuple.tuple(statement.params())).recover(failure -> {
            if (failure instanceof DatabaseException db && QUERY_CANCELED.equals(db.getSqlState())) {
                return Future.failedFuture(new ReportTimeout(timeoutMs).toException());
            }
            if (failure instanceof TimeoutException || failure instanceof ConnectionPoolTooBusyException
                || failure.getMessage() != null && failure.getMessage().startsWith(POOL_WAIT_TIMEOUT)) {
                return Future.failedFuture(new Unavailable("Reports are busy on this node; retry shortly.")
                    .toException());
            }
            return Future.failedFuture(failure);
        });
    }

    static Statement usageStatement(Filter filter, List<GroupBy> groupBy) {
        if (groupBy.isEmpty()) {
            throw new IllegalArgumentException("no group key");
        }
        List<Object> params = new ArrayList<>();
        StringBuilder select = new StringBuilder("SELECT ");
        StringBuilder positions = new StringBuilder();
        StringBuilder order = new StringBuilder();
        for (int i = 0; i < groupBy.size(); i++) {
            GroupBy key = groupBy.get(i);
            select.append(key.sql).append(" AS ").append(key.field).append(", ");
            positions.append(i == 0 ? "" : ", ").append(i + 1);
            // Code-point order, the same whatever the database's locale.
            order.append(i == 0 ? "" : ", ").append(key.sql).append(" COLLATE \"C\"");
        }
        select.append(SUMS).append(" FROM usage_records WHERE ").append(where(filter, params, GroupBy.MODEL.sql))
            .append(" GROUP BY ").append(positions).append(" ORDER BY ").append(order);
        return new Statement(select.toString(), params);
    }

    static Statement logsStatement(Filter filter, int fetch, Cursor cursor) {
        List<Object> params = new ArrayList<>();
        StringBuilder sql = new StringBuilder("SELECT ").append(LOG_COLUMNS).append(" FROM usage_records WHERE ")
            .append(where(filter, params, null));
        if (cursor != null) {
            params.add(cursor.createdAt());
            params.add(cursor.requestId());
            sql.append(" AND (created_at, request_id) < ($").append(params.size() - 1).append("::timestamptz, $")
                .append(params.size()).append("::text)");
        }
        params.add(fetch);
        sql.append(" ORDER BY created_at DESC, request_id DESC LIMIT $").append(params.size());
        return new Statement(sql.toString(), params);
    }

    static Statement walletStatement(String accountId, Range range) {
        return new Statement("SELECT a.name, a.balance_micro_usd, "
            + "(SELECT coalesce(sum(u.cost_micro_usd), 0)::bigint FROM usage_records u "
            + "WHERE u.account_id = a.id AND u.created_at >= $2 AND u.created_at < $3) AS spent "
            + "FROM accounts a WHERE a.id = $1", List.of(accountId, range.from(), range.until()));
    }

    /**
     * The equality filters first, then the time range: each a parameter, never the client's text in
     * the SQL.
     */
    /**
     * @param modelSql the model a record is filtered by, as the report groups it; null for either
     *                 the one asked for or the one that served
     */
    private static String where(Filter f, List<Object> params, String modelSql) {
        StringBuilder where = new StringBuilder();
        if (f.accountId() != null) {
            params.add(f.accountId());
            where.append("account_id = $").append(params.size()).append(" AND ");
        }
        if (f.keyId() != null) {
            params.add(f.keyId());
            where.append("key_id = $").append(params.size()).append(" AND ");
        }
        if (f.model() != null) {
            params.add(f.model());
            if (modelSql != null) {
                // A report's filter and its rows by model agree, so that the reports of each model add
                // up to the whole: a request a fallback served is the serving model's (it set the
                // price), not also the requested one's (until 2026-12-08 it was counted under both).
                where.append(modelSql).append(" = $").append(params.size()).append(" AND ");
            } else {
                // The request logs: the requests that asked for the model or were served by it.
                where.append("(requested_model = $").append(params.size()).append(" OR served_model = $")
                    .append(params.size()).append(") AND ");
            }
        }
        if (f.statusMin() != null) {
            if (f.statusMin() >= Database.FAILED_STATUS) {
                // In the SQL's words, not a parameter's, so that PostgreSQL can tell that the failed
                // requests' index (migration 10) holds every record asked for, in a generic plan too.
                where.append("status >= ").append(Database.FAILED_STATUS).append(" AND ");
            }
            params.add(f.statusMin());
            params.add(f.statusMax());
            where.append("status BETWEEN $").append(params.size() - 1).append(" AND $").append(params.size())
                .append(" AND ");
        }
        params.add(f.from());
        params.add(f.until());
        where.append("created_at >= $").append(params.size() - 1).append(" AND created_at < $").append(params.size());
        return where.toString();
    }

    private static JsonObject logJson(Row r) {
        Integer ttft = r.getInteger("ttft_ms");
        return new JsonObject()
            .put("request_id", r.getString("request_id"))
            .put("created_at", AdminStore.time(r.getOffsetDateTime("created_at")))
            .put("account_id", r.getString("account_id"))
            .put("key_id", r.getString("key_id"))
            .put("requested_model", r.getString("requested_model"))
            .put("served_model", r.getString("served_model"))
            .put("provider", r.getString("provider"))
            .put("deployment", r.getString("deployment"))
            .put("prompt_tokens", r.getInteger("prompt_tokens"))
            .put("cached_tokens", r.getInteger("cached_tokens"))
            .put("cache_write_tokens", r.getInteger("cache_write_tokens"))
            .put("completion_tokens", r.getInteger("completion_tokens"))
            .put("reasoning_tokens", r.getInteger("reasoning_tokens"))
            .put("cost_micro_usd", r.getLong("cost_micro_usd"))
            .put("price_version", r.getString("price_version"))
            .put("latency_ms", r.getInteger("latency_ms"))
            .put("ttft_ms", ttft)
            .put("status", r.getInteger("status"))
            .put("error_code", r.getString("error_code"))
            .put("stream", r.getBoolean("stream"))
            .put("fallback", r.getBoolean("fallback"))
            .put("estimated", r.getBoolean("estimated"))
            // How the cost was paid: plan tokens first, the rest from the wallet.
            .put("plan_tokens", r.getLong("plan_tokens"))
            .put("wallet_micro_usd", r.getLong("wallet_micro_usd"));
    }

    /** {@code limit} from the query string: 1..500, default 50. */
    public static int limit(String value) {
        return AdminBodies.limit(value);
    }

    /** RFC 3339 (any offset) or {@code YYYY-MM-DD} (midnight UTC). */
    static OffsetDateTime start(String text, String param) {
        return parseTime(text, param, false);
    }

    /** The exclusive end of an inclusive bound: a date through its last moment, a timestamp through itself. */
    static OffsetDateTime endInclusive(String text, String param) {
        return parseTime(text, param, true);
    }

    private static OffsetDateTime parseTime(String raw, String param, boolean end) {
        String text = raw.trim();
        OffsetDateTime at = null;
        boolean date = false;
        try {
            at = LocalDate.parse(text).atStartOfDay().atOffset(ZoneOffset.UTC);
            date = true;
        } catch (DateTimeException notADate) {
            // a timestamp, then
        }
        if (at == null) {
            // An unencoded '+' of an offset arrives as a space in a query string.
            String timestamp = text.indexOf('T') > 0 || text.indexOf('t') > 0 ? text.replace(' ', '+') : text;
            try {
                at = OffsetDateTime.parse(timestamp.toUpperCase(Locale.ROOT))
                    .withOffsetSameInstant(ZoneOffset.UTC).truncatedTo(ChronoUnit.MICROS);
            } catch (DateTimeException e) {
                at = null;
            }
        }
        // The years RFC 3339 can write (and PostgreSQL's timestamps hold): +999999999-12-31 is not one.
        if (at == null || at.getYear() < 1 || at.getYear() > 9999) {
            throw invalid(param + " must be a date (YYYY-MM-DD) or an RFC 3339 timestamp such as "
                + "2026-01-31T23:59:59Z, not '" + raw + "'.", param);
        }
        return !end ? at : date ? at.plusDays(1) : at.plus(1, ChronoUnit.MICROS);
    }

    private static String blankToNull(String value) {
        return value == null || value.isBlank() ? null : value.trim();
    }

    static RuntimeException invalid(String message, String param) {
        return new InvalidRequest(message, param).toException();
    }
}
