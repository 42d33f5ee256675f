package io.tokenhub.store;

import io.netty.channel.ConnectTimeoutException;
import io.tokenhub.config.TokenHubConfig.Storage;
import io.vertx.core.Vertx;
import io.vertx.pgclient.PgBuilder;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.ClosedConnectionException;
import io.vertx.sqlclient.DatabaseException;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.PoolOptions;
import java.net.ConnectException;
import java.net.URLEncoder;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.MigrationState;
import org.flywaydb.core.api.MigrationVersion;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where PostgreSQL is: an external server named by URL, or an embedded one under the data
 * directory. Migrates the schema over JDBC once at start-up (before any event loop runs); all
 * runtime access goes through the reactive {@link Pool} from {@link #pool(Vertx)}.
 */
public final class Database implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Database.class);

    private final PgConnectOptions connectOptions;
    /** The least status of the records the failed requests' index holds (migration 10). */
    public static final int FAILED_STATUS = 400;

    private final int poolSize;
    private final EmbeddedPostgresServer embedded;

    private Database(PgConnectOptions connectOptions, int poolSize, EmbeddedPostgresServer embedded) {
        this.connectOptions = connectOptions;
        this.poolSize = poolSize;
        this.embedded = embedded;
    }

    /**
     * Whether a failure (or one of its causes) says PostgreSQL could not be reached or would not take
     * the work: no connection (refused, lost, timed out), a server shutting down, starting up, full of
     * connections or refusing them. A passing outage to retry (503), not a fault of the request's.
     */
    public static boolean unreachable(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof ConnectException || t instanceof ClosedConnectionException
                || t instanceof ClosedChannelException || t instanceof ConnectTimeoutException) {
                return true;
            }
            if (t instanceof DatabaseException db && db.getSqlState() != null) {
                String state = db.getSqlState();
                // 08: connection exceptions; 57P01-57P03: shutting down, cannot connect now; 53300: too
                // many connections; 55000: a database not accepting connections.
                return state.startsWith("08") || state.startsWith("57P0") || state.equals("53300")
                    || state.equals("55000");
            }
        }
        return false;
    }

    /** Starts the embedded server if configured, then brings the schema up to date. Blocking. */
    public static Database open(Storage storage) {
        EmbeddedPostgresServer embedded = null;
        PgConnectOptions options;
        if (storage.embeddedPostgres()) {
            embedded = EmbeddedPostgresServer.start(Path.of(storage.dataDir(), "postgres"), storage.embeddedPort());
            options = embedded.connectOptions();
        } else {
            try {
                options = PgConnectOptions.fromUri(storage.postgres().replaceFirst("^postgres://", "postgresql://"));
            } catch (RuntimeException e) {
                // The client's message quotes the URL, password and all: said again without it.
                throw new IllegalArgumentException("storage.postgres is not a URL the PostgreSQL client can read: "
                    + Storage.redact(storage.postgres()));
            }
        }
        Database db = new Database(options, storage.poolSize(), embedded);
        try {
            db.migrate();
        } catch (RuntimeException e) {
            db.close();
            throw e;
        }
        return db;
    }

    public static Database external(PgConnectOptions options, int poolSize) {
        Database db = new Database(options, poolSize, null);
        db.migrate();
        return db;
    }

    void migrate() {
        var configure = Flyway.configure();
        String schema = schema();
        if (schema != null) {
            // The URL's search_path: the tables are made where the gateway's client will look for them.
            configure.schemas(schema).defaultSchema(schema);
        }
        Flyway flyway = configure
            .dataSource(jdbcUrl(), connectOptions.getUser(), connectOptions.getPassword())
            .locations("classpath:db/migration")
            .javaMigrations(ConcurrentIndex.ALL.toArray(new ConcurrentIndex[0]))
            // Instances starting together take turns on a session-level advisory lock. Flyway's
            // default holds it in an open transaction of another connection, which a CREATE INDEX
            // CONCURRENTLY waits for to end: for ever. And they wait their turn however long the
            // index build takes, rather than give up after Flyway's default 50 s and restart.
            .configuration(Map.of("flyway.postgresql.transactional.lock", "false"))
            .lockRetryCount(-1)
            .load();
        forgetAFailedIndexBuild(flyway);
        var result = flyway.migrate();
        // Flyway reports no target version when there was nothing to apply.
        String version = result.migrationsExecuted > 0 ? result.targetSchemaVersion : result.initialSchemaVersion;
        LOG.info("database schema at version {} ({} migrations applied)", version, result.migrationsExecuted);
    }

    /**
     * A migration run outside a transaction that fails partway is recorded as failed, and Flyway
     * refuses every later start until that record is gone. The index builds ({@link ConcurrentIndex})
     * are written to be run again from any point, so their records alone are deleted here and they
     * run again; any other failed migration still stops the start with Flyway's own message. (Not
     * {@code repair()}: that would also accept edited or missing migrations without a word.)
     */
    private static void forgetAFailedIndexBuild(Flyway flyway) {
        List<MigrationVersion> rerunnable = ConcurrentIndex.ALL.stream().map(index -> index.version).toList();
        List<MigrationVersion> failed = Arrays.stream(flyway.info().all())
            .filter(m -> m.getState() == MigrationState.FAILED && rerunnable.contains(m.getVersion()))
            .map(m -> m.getVersion()).toList();
        for (MigrationVersion version : failed) {
            LOG.warn("migration {} did not finish at an earlier start; running it again", version);
            String table = flyway.getConfiguration().getTable();
            try (Connection connection = flyway.getConfiguration().getDataSource().getConnection();
                 var statement = connection.prepareStatement(
                     "DELETE FROM " + table + " WHERE version = ? AND NOT success")) {
                statement.setString(1, version.getVersion());
                statement.executeUpdate();
            } catch (SQLException e) {
                throw new IllegalStateException("cannot clear the failed record of migration " + version, e);
            }
        }
    }

    private String jdbcUrl() {
        String schema = schema();
        return "jdbc:postgresql://" + connectOptions.getHost() + ":" + connectOptions.getPort() + "/"
            + connectOptions.getDatabase()
            + (schema == null ? "" : "?currentSchema=" + URLEncoder.encode(schema, StandardCharsets.UTF_8));
    }

    /** The first schema of the URL's {@code search_path}, or null when it names none. */
    private String schema() {
        String searchPath = connectOptions.getProperties() == null ? null
            : connectOptions.getProperties().get("search_path");
        if (searchPath == null || searchPath.isBlank()) {
            return null;
        }
        return searchPath.split(",")[0].trim().replace("\"", "");
    }

    /**
     * A pool usable from any event loop; callers share one per process. Every statement is prepared
     * once per connection: the client's default leaves out statements of 2 048 characters or more,
     * the usage batch's among them, and parsing and analysing that one again for every batch cost
     * PostgreSQL 6–22 % more CPU per request under the load benchmark.
     */
    public Pool pool(Vertx vertx) {
        return PgBuilder.pool()
            .with(new PoolOptions().setMaxSize(poolSize).setMaxWaitQueueSize(10_000).setShared(false))
            .connectingTo(new PgConnectOptions(connectOptions).setCachePreparedStatements(true)
                .setPreparedStatementCacheSqlLimit(64 * 1024).setReconnectAttempts(0))
            .using(vertx)
            .build();
    }

    /**
     * A pool of its own for reports (usage sums and logs, read by admins, the console and API
     * clients), so that however many run and however long they take, the request path's pool (keys,
     * counters, usage writes) and the readiness check keep their connections: on one pool, sixteen
     * reports held up by a large table made every uncached key wait and the node unready. Each
     * statement is stopped after {@code statementTimeoutMs} (PostgreSQL's {@code statement_timeout},
     * set when the connection starts), and a report waits as long for a connection.
     */
    public Pool reportPool(Vertx vertx, int size, long statementTimeoutMs) {
        PgConnectOptions options = new PgConnectOptions(connectOptions).setCachePreparedStatements(true)
            .setPreparedStatementCacheSqlLimit(64 * 1024).setReconnectAttempts(0);
        Map<String, String> properties = new HashMap<>(
            connectOptions.getProperties() == null ? Map.of() : connectOptions.getProperties());
        properties.put("statement_timeout", Long.toString(statementTimeoutMs));
        options.setProperties(properties);
        return PgBuilder.pool()
            .with(new PoolOptions().setMaxSize(size).setMaxWaitQueueSize(1_000).setShared(false)
                .setConnectionTimeout((int) Math.max(1, statementTimeoutMs / 1_000))
                .setConnectionTimeoutUnit(TimeUnit.SECONDS))
            .connectingTo(options)
            .using(vertx)
            .build();
    }

    public PgConnectOptions connectOptions() {
        return connectOptions;
    }

    @Override
    public void close() {
        if (embedded != null) {
            embedded.close();
        }
    }

    /** The gateway's shutdown hook is in place: it stops the embedded server, last. */
    public void stopWithTheGateway() {
        if (embedded != null) {
            embedded.stopWithTheGateway();
        }
    }
}
