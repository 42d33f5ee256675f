package io.tokenhub.store;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import org.flywaydb.core.api.MigrationVersion;
import org.flywaydb.core.api.migration.Context;
import org.flywaydb.core.api.migration.JavaMigration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Migration 8: the time index of {@code usage_records} ({@code usage_time}: the logs of all accounts,
 * newest first) rebuilt ascending. Records arrive in time order, and PostgreSQL splits the last
 * page of an index 90/10 but any other page 50/50; a descending time index grows at its left end,
 * so every page it fills is left half empty (a million records inserted in time order: 69 MB
 * descending, 39 MB ascending) and each batch dirties more pages. The logs' newest-first pages read
 * it backwards. The account's and the key's indexes stay descending: they grow in the middle, at
 * each account's or key's place, either way, and ascending ones measured no smaller and no cheaper.
 *
 * <p>The index is built with {@code CREATE INDEX CONCURRENTLY}, so the gateways still running keep
 * writing usage while it builds (0.6 s per million records here); that cannot run in a
 * transaction, so neither does this migration, and it is written to be run again from any point:
 * an index already built is kept, one a failed build left invalid is dropped and built again, one
 * still being built by the session of a killed start is waited for. {@link Database} retries this
 * migration when Flyway has recorded it as failed.
 */
final class AscendingUsageTimeIndex implements JavaMigration {

    static final MigrationVersion VERSION = MigrationVersion.fromVersion("8");

    private static final Logger LOG = LoggerFactory.getLogger(AscendingUsageTimeIndex.class);
    private static final String INDEX = "usage_records_time";
    private static final String COLUMNS = "created_at, request_id";
    private static final String REPLACES = "usage_time";
    private static final long BUILD_POLL_MILLIS = 1_000;

    private enum State { MISSING, VALID, INVALID, BUILDING }

    @Override
    public MigrationVersion getVersion() {
        return VERSION;
    }

    @Override
    public String getDescription() {
        return "usage time index ascending";
    }

    @Override
    public Integer getChecksum() {
        return null;
    }

    @Override
    public boolean canExecuteInTransaction() {
        return false;
    }

    @Override
    public void migrate(Context context) throws SQLException, InterruptedException {
        Connection connection = context.getConnection();
        connection.setAutoCommit(true);
        build(connection);
        execute(connection, "DROP INDEX CONCURRENTLY IF EXISTS " + REPLACES);
    }

    private static void build(Connection connection) throws SQLException, InterruptedException {
        State state = state(connection);
        while (state == State.BUILDING) {
            LOG.info("waiting for another session's build of index {}", INDEX);
            Thread.sleep(BUILD_POLL_MILLIS);
            state = state(connection);
        }
        if (state == State.VALID) {
            return;
        }
        if (state == State.INVALID) {
            LOG.warn("index {} was left invalid by an interrupted build; building it again", INDEX);
            execute(connection, "DROP INDEX CONCURRENTLY " + INDEX);
        }
        LOG.info("building index {} on usage_records ({}); usage is written meanwhile", INDEX, COLUMNS);
        long started = System.nanoTime();
        execute(connection, "CREATE INDEX CONCURRENTLY " + INDEX + " ON usage_records (" + COLUMNS + ")");
        LOG.info("built index {} in {} ms", INDEX, (System.nanoTime() - started) / 1_000_000);
    }

    /**
     * Whether the index exists in the current schema, is usable, or is being built right now: by a
     * session of this database, building this index, or one on this table whose details PostgreSQL
     * hides from this role (another role's session without {@code pg_read_all_stats}).
     */
    private static State state(Connection connection) throws SQLException {
        try (var statement = connection.prepareStatement("""
                SELECT i.indisvalid,
                       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                                WHERE p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
                                  AND (p.index_relid = i.indexrelid OR p.index_relid IS NULL AND p.relid = i.indrelid))
                  FROM pg_index i
                 WHERE i.indexrelid = to_regclass(?)""")) {
            statement.setString(1, INDEX);
            try (var rows = statement.executeQuery()) {
                if (!rows.next()) {
                    return State.MISSING;
                }
                return rows.getBoolean(1) ? State.VALID : rows.getBoolean(2) ? State.BUILDING : State.INVALID;
            }
        }
    }

    private static void execute(Connection connection, String sql) throws SQLException {
        try (Statement statement = connection.createStatement()) {
            statement.execute(sql);
        }
    }
}
