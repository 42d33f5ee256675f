package io.tokenhub.store;

import io.tokenhub.config.TokenHubConfig.Storage;
import io.vertx.core.Vertx;
import io.vertx.pgclient.PgBuilder;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.PoolOptions;
import java.nio.file.Path;
import org.flywaydb.core.Flyway;
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
    private final int poolSize;
    private final EmbeddedPostgresServer embedded;

    private Database(PgConnectOptions connectOptions, int poolSize, EmbeddedPostgresServer embedded) {
        this.connectOptions = connectOptions;
        this.poolSize = poolSize;
        this.embedded = embedded;
    }

    /** Starts the embedded server if configured, then brings the schema up to date. Blocking. */
    public static Database open(Storage storage) {
        EmbeddedPostgresServer embedded = null;
        PgConnectOptions options;
        if (storage.embeddedPostgres()) {
            embedded = EmbeddedPostgresServer.start(Path.of(storage.dataDir(), "postgres"), storage.embeddedPort());
            options = embedded.connectOptions();
        } else {
            options = PgConnectOptions.fromUri(storage.postgres().replaceFirst("^postgres://", "postgresql://"));
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
        var result = Flyway.configure()
            .dataSource(jdbcUrl(), connectOptions.getUser(), connectOptions.getPassword())
            .locations("classpath:db/migration")
            .load()
            .migrate();
        // Flyway reports no target version when there was nothing to apply.
        String version = result.migrationsExecuted > 0 ? result.targetSchemaVersion : result.initialSchemaVersion;
        LOG.info("database schema at version {} ({} migrations applied)", version, result.migrationsExecuted);
    }

    private String jdbcUrl() {
        return "jdbc:postgresql://" + connectOptions.getHost() + ":" + connectOptions.getPort() + "/"
            + connectOptions.getDatabase();
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
