package io.tokenhub.store;

import io.vertx.pgclient.PgConnectOptions;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The embedded default database: a real PostgreSQL binary (zonky) whose data directory is kept
 * across restarts, so a laptop install keeps its accounts and usage.
 */
public final class EmbeddedPostgresServer implements AutoCloseable {

    private final EmbeddedPostgres postgres;
    private final int port;

    private EmbeddedPostgresServer(EmbeddedPostgres postgres, int port) {
        this.postgres = postgres;
        this.port = port;
    }

    public static EmbeddedPostgresServer start(Path dataDirectory, int port) {
        try {
            Files.createDirectories(dataDirectory);
            EmbeddedPostgres pg = EmbeddedPostgres.builder()
                .setDataDirectory(dataDirectory)
                .setCleanDataDirectory(false)
                .setPort(port)
                .setPGStartupWait(Duration.ofSeconds(60))
                // Stopped by TokenHub's own shutdown, last: a hook of its own would stop it at once on
                // SIGTERM, while requests still finish and usage is still being written.
                .setRegisterShutdownHook(false)
                .start();
            return new EmbeddedPostgresServer(pg, port);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the embedded PostgreSQL in " + dataDirectory, e);
        }
    }

    public PgConnectOptions connectOptions() {
        return new PgConnectOptions().setHost("localhost").setPort(port).setDatabase("postgres")
            .setUser("postgres").setPassword("postgres");
    }

    public int port() {
        return port;
    }

    @Override
    public void close() {
        try {
            postgres.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
