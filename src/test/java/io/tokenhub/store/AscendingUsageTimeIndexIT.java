package io.tokenhub.store;

import static io.tokenhub.testing.TestGateway.eventually;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tokenhub.testing.TestDatabase;
import io.vertx.pgclient.PgConnectOptions;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.FlywayException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Migration 8 on a database that already holds records (brought to version 7 first, as an install
 * before it was): the descending time index is replaced by an ascending one, concurrently, while
 * other sessions keep inserting; a run cancelled midway fails the start, and the next start finishes
 * it; a build left running by a killed start is waited for, not begun again; two instances starting
 * together both come up.
 *
 * <p>A concurrent build waits for every transaction that has written to the table to end before it
 * scans it, so a test holds one such transaction open to catch the build at that point, then lets it
 * go: no timing involved.
 */
// A build waiting on a lock never gives up by itself, and a thread in a JDBC read ignores interrupts.
@Timeout(value = 2, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class AscendingUsageTimeIndexIT {

    private static final int RECORDS = 20_000;
    /** The indexes of usage_records after the migrations (8's among them), as PostgreSQL gives their definitions back. */
    private static final Map<String, String> INDEXES = Map.of(
        "usage_records_pkey", "UNIQUE INDEX usage_records_pkey ON public.usage_records USING btree (request_id)",
        "usage_records_time", "INDEX usage_records_time ON public.usage_records USING btree (created_at, request_id)",
        "usage_records_failed", "INDEX usage_records_failed ON public.usage_records USING btree (created_at, request_id) "
            + "WHERE (status >= 400)",
        "usage_account_time", "INDEX usage_account_time ON public.usage_records USING btree "
            + "(account_id, created_at DESC, request_id DESC)",
        "usage_key_time_id", "INDEX usage_key_time_id ON public.usage_records USING btree "
            + "(key_id, created_at DESC, request_id DESC)");

    /** Closed last in, first out: connections before their database. */
    private final Deque<AutoCloseable> closeAfter = new ArrayDeque<>();
    private final AtomicInteger nextRecord = new AtomicInteger(RECORDS);

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : closeAfter) {
            c.close();
        }
    }

    @Test
    void aNewDatabaseHasTheAscendingTimeIndex() {
        TestDatabase db = database();
        migrate(db);
        assertIndexesAfterTheMigrations(db);
    }

    @Test
    void anUpgradeRebuildsTheIndexWhileRecordsKeepBeingWritten() throws Exception {
        TestDatabase db = atVersion7WithRecords();
        Connection writer = writerHoldingATransactionOpen(db);
        CompletableFuture<Void> migration = migrationCaughtWaitingForWriters(db);

        // A plain CREATE INDEX would hold every insert until it ends; this one waits on the writer
        // above, and other sessions' inserts still go through.
        try (Connection other = db.connect(); Statement statement = other.createStatement()) {
            statement.execute("SET lock_timeout = '5s'");
            insertRecords(statement, 10);
        }
        writer.commit();
        migration.get(60, TimeUnit.SECONDS);

        assertIndexesAfterTheMigrations(db);
        assertThat(db.count("SELECT count(*) FROM usage_records")).isEqualTo(RECORDS + 11);
        assertThat(db.count("SELECT count(*) FROM flyway_schema_history WHERE version = '8' AND success")).isOne();
    }

    @Test
    void aRebuildCancelledMidwayFailsTheStartAndTheNextStartFinishesIt() throws Exception {
        TestDatabase db = atVersion7WithRecords();
        Connection writer = writerHoldingATransactionOpen(db);
        CompletableFuture<Void> migration = migrationCaughtWaitingForWriters(db);
        assertThat(db.query("SELECT pg_cancel_backend(pid) AS cancelled FROM pg_stat_progress_create_index "
            + "WHERE index_relid = 'usage_records_time'::regclass").get(0)).containsEntry("cancelled", true);

        assertThatThrownBy(() -> migration.get(60, TimeUnit.SECONDS)).hasRootCauseInstanceOf(SQLException.class)
            .rootCause().hasMessageContaining("canceling statement");
        writer.commit();
        // What the cancelled build left: an invalid index, and migration 8 recorded as failed.
        assertThat(db.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'usage_records_time'::regclass")
            .get(0)).containsEntry("indisvalid", false);
        assertThat(db.count("SELECT count(*) FROM flyway_schema_history WHERE version = '8' AND NOT success")).isOne();
        // Flyway alone refuses to go on from there.
        assertThatThrownBy(() -> flyway(db).load().migrate()).isInstanceOf(FlywayException.class)
            .hasMessageContaining("failed");
        // Only that record is let go: a migration edited since it ran still stops the start.
        String checksum = "SELECT checksum FROM flyway_schema_history WHERE version = '3'";
        Object v3 = db.query(checksum).get(0).get("checksum");
        execute(db, "UPDATE flyway_schema_history SET checksum = checksum + 1 WHERE version = '3'");
        assertThatThrownBy(() -> migrate(db)).hasMessageContaining("checksum mismatch");
        execute(db, "UPDATE flyway_schema_history SET checksum = checksum - 1 WHERE version = '3'");
        assertThat(db.query(checksum).get(0).get("checksum")).isEqualTo(v3);

        migrate(db);

        assertIndexesAfterTheMigrations(db);
        assertThat(db.count("SELECT count(*) FROM flyway_schema_history WHERE version = '8'")).isOne();
        assertThat(db.count("SELECT count(*) FROM flyway_schema_history WHERE version = '8' AND success")).isOne();
        assertThat(db.count("SELECT count(*) FROM usage_records")).isEqualTo(RECORDS + 1);
    }

    @Test
    void aBuildLeftRunningByAKilledInstanceIsWaitedForAndKept() throws Exception {
        TestDatabase db = atVersion7WithRecords();
        Connection writer = writerHoldingATransactionOpen(db);
        // A start killed mid-build: its session goes on building, with no one to tell.
        Connection orphan = db.connect();
        closeAfter.push(orphan);
        CompletableFuture<Void> orphanBuild = CompletableFuture.runAsync(() -> {
            try (Statement statement = orphan.createStatement()) {
                statement.execute(
                    "CREATE INDEX CONCURRENTLY usage_records_time ON usage_records (created_at, request_id)");
            } catch (SQLException e) {
                throw new IllegalStateException(e);
            }
        });
        awaitBuildWaitingForWriters(db, "usage_records_time");
        long building = db.count("SELECT 'usage_records_time'::regclass::oid");

        CompletableFuture<Void> migration = CompletableFuture.runAsync(() -> migrate(db));
        eventually(() -> db.count("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            + "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())") == 1,
            30_000, "the migration holding Flyway's lock");
        writer.commit();

        migration.get(60, TimeUnit.SECONDS);
        orphanBuild.get(60, TimeUnit.SECONDS);
        assertIndexesAfterTheMigrations(db);
        assertThat(db.count("SELECT 'usage_records_time'::regclass::oid")).as("the orphan's index, kept")
            .isEqualTo(building);
    }

    @Test
    void twoInstancesStartingTogetherBothComeUp() throws Exception {
        TestDatabase db = atVersion7WithRecords();
        Connection writer = writerHoldingATransactionOpen(db);
        CompletableFuture<Void> first = migrationCaughtWaitingForWriters(db);
        CompletableFuture<Void> second = CompletableFuture.runAsync(() -> migrate(db));
        writer.commit();

        CompletableFuture.allOf(first, second).get(120, TimeUnit.SECONDS);
        assertIndexesAfterTheMigrations(db);
        assertThat(db.count("SELECT count(*) FROM flyway_schema_history WHERE version = '8'")).isOne();
    }

    private TestDatabase database() {
        TestDatabase db = TestDatabase.create();
        closeAfter.push(db);
        return db;
    }

    private TestDatabase atVersion7WithRecords() throws SQLException {
        TestDatabase db = database();
        flyway(db).target("7").load().migrate();
        assertThat(db.query("SELECT indexdef FROM pg_indexes WHERE indexname = 'usage_time'").get(0).get("indexdef"))
            .asString().contains("DESC");
        try (Connection c = db.connect(); Statement statement = c.createStatement()) {
            statement.execute("""
                INSERT INTO usage_records (request_id, created_at, account_id, key_id, requested_model, status)
                SELECT 'req_' || lpad(i::text, 9, '0'), now() - (%d - i) * interval '1 second',
                       'acct_' || i %% 50, 'key_' || i %% 150, 'gpt-4o-mini', 200
                  FROM generate_series(0, %d) AS i""".formatted(RECORDS, RECORDS - 1));
        }
        return db;
    }

    /** Writes a record in a transaction left open: a concurrent index build waits for it. */
    private Connection writerHoldingATransactionOpen(TestDatabase db) throws SQLException {
        Connection writer = db.connect();
        closeAfter.push(writer);
        writer.setAutoCommit(false);
        try (Statement statement = writer.createStatement()) {
            insertRecords(statement, 1);
        }
        return writer;
    }

    private void insertRecords(Statement statement, int count) throws SQLException {
        for (int i = 0; i < count; i++) {
            int n = nextRecord.getAndIncrement();
            statement.execute("INSERT INTO usage_records (request_id, created_at, account_id, key_id, requested_model, "
                + "status) VALUES ('req_" + n + "', now(), 'acct_1', 'key_1', 'gpt-4o-mini', 200)");
        }
    }

    private static void execute(TestDatabase db, String sql) throws SQLException {
        try (Connection c = db.connect(); Statement statement = c.createStatement()) {
            statement.execute(sql);
        }
    }

    /** A start migrating the database, once its index build waits for a writer's open transaction. */
    private static CompletableFuture<Void> migrationCaughtWaitingForWriters(TestDatabase db) {
        CompletableFuture<Void> migration = CompletableFuture.runAsync(() -> migrate(db));
        awaitBuildWaitingForWriters(db, "usage_records_time");
        return migration;
    }

    private static void awaitBuildWaitingForWriters(TestDatabase db, String index) {
        eventually(() -> db.count("SELECT count(*) FROM pg_stat_progress_create_index "
            + "WHERE index_relid::regclass::text = ? AND phase LIKE 'waiting for writers%'", index) == 1,
            30_000, "the build of " + index + " waiting");
    }

    private static void migrate(TestDatabase db) {
        Database.external(PgConnectOptions.fromUri(db.url()), 1);
    }

    /** Flyway as the gateway configures it, for bringing a database to an earlier version. */
    private static org.flywaydb.core.api.configuration.FluentConfiguration flyway(TestDatabase db) {
        PgConnectOptions options = PgConnectOptions.fromUri(db.url());
        String url = "jdbc:postgresql://" + options.getHost() + ":" + options.getPort() + "/" + options.getDatabase();
        return Flyway.configure()
            .dataSource(url, options.getUser(), options.getPassword())
            .locations("classpath:db/migration")
            .javaMigrations(ConcurrentIndex.ALL.toArray(new ConcurrentIndex[0]));
    }

    private static void assertIndexesAfterTheMigrations(TestDatabase db) {
        List<Map<String, Object>> indexes = db.query("""
            SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition, i.indisvalid AS valid
              FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE i.indrelid = 'usage_records'::regclass""");
        assertThat(indexes).extracting(row -> row.get("name")).containsExactlyInAnyOrderElementsOf(INDEXES.keySet());
        assertThat(indexes).allSatisfy(row -> {
            assertThat(row.get("valid")).as("%s valid", row.get("name")).isEqualTo(true);
            assertThat(row.get("definition")).isEqualTo("CREATE " + INDEXES.get(row.get("name")));
        });
    }
}
