package io.tokenhub.store;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import org.flywaydb.core.api.MigrationVersion;
import org.flywaydb.core.api.migration.Context;
import org.flywaydb.core.api.migration.JavaMigration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A migration that builds an index of {@code usage_records} with {@code CREATE INDEX CONCURRENTLY},
 * so that the gateways still running keep writing usage while it builds (0.6 s per million records
 * here); that cannot run in a transaction, so neither does the migration, and it is written to be
 * run again from any point: an index already built is kept, one a failed build left invalid is
 * dropped and built again, one still being built by the session of a killed start is waited for.
 * {@link Database} retries these migrations when Flyway has recorded one as failed.
 */
final class ConcurrentIndex implements JavaMigration {

    /**
     * Migration 8: the time index ({@code usage_time}: the logs of all accounts, newest first) rebuilt
     * ascending. Records arrive in time order, and PostgreSQL splits the last page of an index 90/10
     * but any other page 50/50; a descending time index grows at its left end, so every page it fills
     * is left half empty (a million records inserted in time order: 69 MB descending, 39 MB
     * ascending) and each batch dirties more pages. The logs' newest-first pages read it backwards.
     * The account's and the key's indexes stay descending: they grow in the middle, at each
     * account's or key's place, either way, and ascending ones measured no smaller and no cheaper.
     */
    static final ConcurrentIndex USAGE_TIME = new ConcurrentIndex("8", "usage time index ascending",
        "usage_records_time", "(created_at, request_id)", "usage_time");

    /**
     * Migration 10: the failed requests' records in time order, a small index (a few per cent of the
     * records), for the logs of everyone's failures (a status filter of 400 and above): a page of
     * them was a backward scan of the time index past every success in between, and when none had
     * failed, of the whole range.
     */
    static final ConcurrentIndex FAILED_USAGE = new ConcurrentIndex("10", "index of failed requests' usage",
        "usage_records_failed", "(created_at, request_id) WHERE status >= " + Database.FAILED_STATUS, null);

    /** Every one, in version order. */
    static final List<ConcurrentIndex> ALL = List.of(USAGE_TIME, FAILED_USAGE);

    private static final Logger LOG = LoggerFactory.getLogger(ConcurrentIndex.class);
    private static final long BUILD_POLL_MILLIS = 1_000;

    private enum State { MISSING, VALID, INVALID, BUILDING }

    final MigrationVersion version;
    private final String description;
    private final String index;
    private final String definition;
    /** The index it replaces, dropped once it is built; or null. */
    private final String replaces;

    private ConcurrentIndex(String version, String description, String index, String definition, String replaces) {
        this.version = MigrationVersion.fromVersion(version);
        this.description = description;
        this.index = index;
        this.definition = definition;
        this.replaces = replaces;
    }

    @Override
    public MigrationVersion getVersion() {
        return version;
    }

    @Override
    public String getDescription() {
        return description;
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
        if (replaces != null) {
            execute(connection, "DROP INDEX CONCURRENTLY IF EXISTS " + replaces);
        }
    }

    private void build(Connection connection) throws SQLException, InterruptedException {
        State state = state(connection);
        while (state == State.BUILDING) {
            LOG.info("waiting for another session's build of index {}", index);
            Thread.sleep(BUILD_POLL_MILLIS);
            state = state(connection);
        }
        if (state == State.VALID) {
            return;
        }
        if (state == State.INVALID) {
            LOG.warn("index {} was left invalid by an interrupted build; building it again", index);
            execute(connection, "DROP INDEX CONCURRENTLY " + index);
        }
        LOG.info("building index {} on usage_records {}; usage is written meanwhile", index, definition);
        long started = System.nanoTime();
        execute(connection, "CREATE INDEX CONCURRENTLY " + index + " ON usage_records " + definition);
        LOG.info("built index {} in {} ms", index, (System.nanoTime() - started) / 1_000_000);
    }

    /**
     * Whether the index exists in the current schema, is usable, or is being built right now: by a
     * session of this database, building this index, or one on this table whose details PostgreSQL
     * hides from this role (another role's session without {@code pg_read_all_stats}).
     */
    private State state(Connection connection) throws SQLException {
        try (var statement = connection.prepareStatement("""
                SELECT i.indisvalid,
                       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                                WHERE p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
                                  AND (p.index_relid = i.indexrelid OR p.index_relid IS NULL AND p.relid = i.indrelid))
                  FROM pg_index i
                 WHERE i.indexrelid = to_regclass(?)""")) {
            statement.setString(1, index);
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
