package io.tokenhub.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.admin.UsageQueries.Filter;
import io.tokenhub.admin.UsageQueries.GroupBy;
import io.tokenhub.admin.UsageQueries.Statement;
import io.tokenhub.store.Database;
import io.tokenhub.testing.TestDatabase;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Tuple;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The usage and logs queries stay index lookups with a million records: a generated data set over
 * 1,000 accounts and 60 days (one account, {@code acct_0000} with key {@code key_0000}, holds a tenth
 * of it, as a large customer would), then {@code EXPLAIN (FORMAT JSON)} of the exact statements
 * {@link UsageQueries} sends, with its parameters — as PostgreSQL plans them for the first
 * executions (custom plans) and once it switches to a generic plan. Asserts on the plan's nodes:
 * the right index, never a sequential scan of {@code usage_records}, and for a logs page no sort
 * (the index gives the order, so a page reads one page of rows however many match).
 */
class UsageQueryPlanIT {

    private static final Logger LOG = LoggerFactory.getLogger(UsageQueryPlanIT.class);
    private static final int RECORDS = 1_000_000;
    private static final OffsetDateTime END = OffsetDateTime.of(2026, 3, 1, 0, 0, 0, 0, ZoneOffset.UTC);
    private static final OffsetDateTime WEEK_FROM = OffsetDateTime.of(2026, 2, 1, 0, 0, 0, 0, ZoneOffset.UTC);
    private static final OffsetDateTime WEEK_UNTIL = OffsetDateTime.of(2026, 2, 8, 0, 0, 0, 0, ZoneOffset.UTC);
    private static final String ACCOUNT_INDEX = "usage_account_time";
    private static final String KEY_INDEX = "usage_key_time_id";
    /** Ascending since migration 8: newest first is a backward scan of it. */
    private static final String TIME_INDEX = "usage_records_time";
    /** The failed requests' records, ascending too (migration 10). */
    private static final String FAILED_INDEX = "usage_records_failed";

    static TestDatabase db;
    static Vertx vertx;
    static Pool pool;

    @BeforeAll
    static void start() throws SQLException {
        db = TestDatabase.create();
        Database database = Database.external(PgConnectOptions.fromUri(db.url()), 2);
        generate();
        vertx = Vertx.vertx();
        pool = database.pool(vertx);
    }

    @AfterAll
    static void stop() {
        if (pool != null) {
            await(pool.close());
        }
        if (vertx != null) {
            await(vertx.close());
        }
        db.close();
    }

    /**
     * One INSERT … SELECT FROM generate_series. The secondary indexes are taken off for the load and
     * put back from their own definitions (pg_indexes), exactly as the migrations made them:
     * building them once is several times faster than a million random inserts into each.
     */
    private static void generate() throws SQLException {
        try (Connection c = db.connect(); java.sql.Statement s = c.createStatement()) {
            List<String> definitions = new ArrayList<>();
            try (var rs = s.executeQuery("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'usage_records' "
                + "AND indexname <> 'usage_records_pkey'")) {
                while (rs.next()) {
                    definitions.add(rs.getString("indexdef"));
                }
            }
            assertThat(definitions).as("secondary indexes of usage_records").isNotEmpty();
            for (String definition : definitions) {
                s.execute("DROP INDEX " + definition.replaceFirst("^CREATE (UNIQUE )?INDEX (\\S+) ON .*$", "$2"));
            }
            s.execute("SET synchronous_commit = off");
            s.execute("SET maintenance_work_mem = '256MB'");
            // i → a time every 5.184 s back from END (60 days); account i % 999 + 1 with one of its three
            // keys, except every tenth record, which is the large account's.
            s.execute("""
                INSERT INTO usage_records (request_id, created_at, account_id, key_id, requested_model, served_model,
                    provider, deployment, prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens,
                    cost_micro_usd, price_version, latency_ms, ttft_ms, status, error_code, stream, fallback, estimated)
                SELECT 'req_' || lpad(i::text, 8, '0'),
                       timestamptz '%s' - i * interval '5184 milliseconds',
                       CASE WHEN i %% 10 = 0 THEN 'acct_0000' ELSE 'acct_' || lpad((i %% 999 + 1)::text, 4, '0') END,
                       CASE WHEN i %% 10 = 0 THEN 'key_0000'
                            ELSE 'key_' || lpad((i %% 999 + 1)::text, 4, '0') || '_' || (i / 999) %% 3 END,
                       (ARRAY['gpt-4o-mini', 'deepseek-chat', 'claude-haiku', 'qwen-plus'])[1 + (i / 7) %% 4],
                       (ARRAY['gpt-4o-mini', 'deepseek-chat', 'claude-haiku', 'qwen-plus'])[1 + (i / 7) %% 4],
                       'openai', 'upstream-model', 100 + i %% 50, i %% 10, 20 + i %% 30, 0, 30 + i %% 100, 'v1',
                       200 + i %% 900, NULL, CASE WHEN i %% 50 = 0 THEN 502 ELSE 200 END, NULL,
                       i %% 3 = 0, false, false
                  FROM generate_series(1, %d) AS i""".formatted(END, RECORDS));
            for (String definition : definitions) {
                s.execute(definition);
            }
            s.execute("ANALYZE usage_records");
        }
        assertThat(db.count("SELECT count(*) FROM usage_records")).isEqualTo(RECORDS);
    }

    @Test
    void logsOfOneAccountForAWeekAreAnOrderedScanOfTheAccountIndex() {
        for (String account : List.of("acct_0042", "acct_0000")) {
            Filter filter = week(account, null);
            assertOrderedPage(UsageQueries.logsStatement(filter, 51, null), ACCOUNT_INDEX);
            assertOrderedPage(UsageQueries.logsStatement(filter, 51, cursorInsideTheWeek()), ACCOUNT_INDEX);
        }
    }

    @Test
    void logsOfOneKeyForAWeekAreAnOrderedScanOfTheKeyIndex() {
        Filter filter = week(null, "key_0000");
        assertOrderedPage(UsageQueries.logsStatement(filter, 51, null), KEY_INDEX);
        assertOrderedPage(UsageQueries.logsStatement(filter, 51, cursorInsideTheWeek()), KEY_INDEX);
        // A small key's week may be read through a bitmap and sorted (a few dozen rows), but by its index.
        assertUsesIndex(UsageQueries.logsStatement(week(null, "key_0042_1"), 51, null), KEY_INDEX);
    }

    @Test
    void logsOfEveryoneAreAnOrderedScanOfTheTimeIndex() {
        assertOrderedPage(UsageQueries.logsStatement(week(null, null), 51, null), TIME_INDEX);
        assertOrderedPage(UsageQueries.logsStatement(week(null, null), 51, cursorInsideTheWeek()), TIME_INDEX);
    }

    @Test
    void logsOfEveryonesFailuresAreAnOrderedScanOfTheFailedIndex() {
        // Two per cent of the records failed: a page of them read from the time index passed fifty
        // successes for each, and all of a range with none.
        assertOrderedPage(UsageQueries.logsStatement(new Filter(null, null, null, 400, 599, WEEK_FROM, WEEK_UNTIL),
            51, null), FAILED_INDEX);
        assertOrderedPage(UsageQueries.logsStatement(new Filter(null, null, null, 502, 502, WEEK_FROM, WEEK_UNTIL),
            51, cursorInsideTheWeek()), FAILED_INDEX);
    }

    @Test
    void usageOfOneAccountOrKeyForAWeekReadsOnlyItsIndexRange() {
        for (List<GroupBy> groupBy : List.of(List.of(GroupBy.DAY), List.of(GroupBy.MODEL), List.of(GroupBy.KEY),
            List.of(GroupBy.DAY, GroupBy.MODEL))) {
            assertUsesIndex(UsageQueries.usageStatement(week("acct_0042", null), groupBy), ACCOUNT_INDEX);
            assertUsesIndex(UsageQueries.usageStatement(week("acct_0000", null), groupBy), ACCOUNT_INDEX);
            assertUsesIndex(UsageQueries.usageStatement(week(null, "key_0000"), groupBy), KEY_INDEX);
            assertUsesIndex(UsageQueries.usageStatement(week(null, "key_0042_1"), groupBy), KEY_INDEX);
        }
    }

    @Test
    void legacySubscriptionSpendOfOneAccountReadsOnlyItsIndexRange() {
        Statement statement = UsageQueries.walletStatement("acct_0042",
            new UsageQueries.Range(OffsetDateTime.of(2026, 2, 1, 0, 0, 0, 0, ZoneOffset.UTC), END));
        // The account row does not exist in this data set; the plan is the same.
        assertUsesIndex(statement, ACCOUNT_INDEX);
    }

    private static Filter week(String account, String key) {
        return new Filter(account, key, null, null, null, WEEK_FROM, WEEK_UNTIL);
    }

    private static UsageQueries.Cursor cursorInsideTheWeek() {
        return new UsageQueries.Cursor(OffsetDateTime.of(2026, 2, 5, 12, 0, 0, 0, ZoneOffset.UTC), "req_00500000");
    }

    /** A logs page: on this index, in its order (no Sort), never a sequential scan; custom and generic plans. */
    private static void assertOrderedPage(Statement statement, String index) {
        for (JsonObject plan : plans(statement)) {
            List<JsonObject> nodes = nodes(plan);
            assertNoSeqScan(nodes, plan);
            assertThat(nodes).as("plan %s", plan.encodePrettily())
                .anySatisfy(n -> {
                    assertThat(n.getString("Node Type")).isIn("Index Scan", "Index Only Scan");
                    assertThat(n.getString("Index Name")).isEqualTo(index);
                    assertThat(n.getString("Scan Direction"))
                        .isEqualTo(index.equals(TIME_INDEX) || index.equals(FAILED_INDEX) ? "Backward" : "Forward");
                });
            assertThat(nodes).as("plan %s", plan.encodePrettily())
                .noneSatisfy(n -> assertThat(n.getString("Node Type")).contains("Sort"));
            assertThat(nodes.get(0).getString("Node Type")).as("top of %s", plan.encodePrettily()).isEqualTo("Limit");
        }
    }

    /** An index scan (plain, index-only or bitmap) on this index, never a sequential scan; custom and generic. */
    private static void assertUsesIndex(Statement statement, String index) {
        for (JsonObject plan : plans(statement)) {
            List<JsonObject> nodes = nodes(plan);
            assertNoSeqScan(nodes, plan);
            assertThat(nodes).as("plan %s", plan.encodePrettily())
                .anySatisfy(n -> {
                    assertThat(n.getString("Node Type")).isIn("Index Scan", "Index Only Scan", "Bitmap Index Scan");
                    assertThat(n.getString("Index Name")).isEqualTo(index);
                });
        }
    }

    private static void assertNoSeqScan(List<JsonObject> nodes, JsonObject plan) {
        assertThat(nodes).as("plan %s", plan.encodePrettily()).noneSatisfy(n -> {
            assertThat(n.getString("Node Type")).isEqualTo("Seq Scan");
            assertThat(n.getString("Relation Name")).isEqualTo("usage_records");
        });
    }

    /**
     * The statement's plans: as sent, with its parameters bound (what PostgreSQL does for the first
     * executions of a prepared statement), and the generic plan it may switch to afterwards.
     */
    private static List<JsonObject> plans(Statement statement) {
        JsonObject custom = await(pool.preparedQuery("EXPLAIN (FORMAT JSON) " + statement.sql())
            .execute(Tuple.tuple(statement.params()))
            .map(rows -> plan(rows.iterator().next().getValue(0))));
        String arguments = statement.params().stream().map(UsageQueryPlanIT::literal).collect(Collectors.joining(", "));
        JsonObject generic = await(pool.withConnection(conn -> conn.query("PREPARE q AS " + statement.sql()).execute()
            .compose(v -> conn.query("SET plan_cache_mode = force_generic_plan").execute())
            .compose(v -> conn.query("EXPLAIN (FORMAT JSON) EXECUTE q(" + arguments + ")").execute())
            .map(rows -> plan(rows.iterator().next().getValue(0)))
            .eventually(() -> conn.query("DEALLOCATE q").execute()
                .compose(v -> conn.query("RESET plan_cache_mode").execute()))));
        LOG.info("plans of [{}]: custom {}; generic {}", statement.sql(), summary(custom), summary(generic));
        return List.of(custom, generic);
    }

    /** A parameter as an SQL literal, for EXECUTE (the values are this test's own). */
    private static String literal(Object value) {
        if (value instanceof Number) {
            return value.toString();
        }
        return "'" + value.toString().replace("'", "''") + "'";
    }

    private static JsonObject plan(Object explain) {
        JsonArray array = explain instanceof JsonArray a ? a : new JsonArray(explain.toString());
        return array.getJsonObject(0).getJsonObject("Plan");
    }

    /** The plan's nodes as "Limit > Index Scan(usage_records_time)", for the log. */
    private static String summary(JsonObject plan) {
        return nodes(plan).stream().map(n -> n.getString("Node Type")
            + (n.getString("Index Name") == null ? "" : "(" + n.getString("Index Name") + ")"))
            .collect(Collectors.joining(" > "));
    }

    /** Every node of the plan, depth first, the root first. */
    private static List<JsonObject> nodes(JsonObject plan) {
        List<JsonObject> out = new ArrayList<>();
        out.add(plan);
        JsonArray children = plan.getJsonArray("Plans");
        if (children != null) {
            children.forEach(child -> out.addAll(nodes((JsonObject) child)));
        }
        return out;
    }

    private static <T> T await(Future<T> future) {
        try {
            return future.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
