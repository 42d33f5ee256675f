package io.tokenhub.store;

import io.vertx.pgclient.PgConnectOptions;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The embedded default database: a real PostgreSQL binary (zonky) whose data directory is kept
 * across restarts, so a laptop install keeps its accounts and usage.
 */
public final class EmbeddedPostgresServer implements AutoCloseable {

    private final EmbeddedPostgres postgres;
    private final int port;
    /**
     * Stops the server if the JVM exits before the gateway's own shutdown hook is in place (a
     * SIGTERM during start-up); taken out by {@link #stopWithTheGateway} once it is.
     */
    private final Thread startupHook;
    private final AtomicBoolean closed = new AtomicBoolean();

    private EmbeddedPostgresServer(EmbeddedPostgres postgres, int port) {
        this.postgres = postgres;
        this.port = port;
        this.startupHook = new Thread(this::close, "embedded-postgres-stop");
        Runtime.getRuntime().addShutdownHook(startupHook);
    }

    /**
     * From now on the gateway's shutdown stops the server, last: a hook of its own would stop it at
     * the signal, while usage is still being written.
     */
    public void stopWithTheGateway() {
        try {
            Runtime.getRuntime().removeShutdownHook(startupHook);
        } catch (IllegalStateException shuttingDown) {
            // already on its way out: the hook runs
        }
    }

    public static EmbeddedPostgresServer start(Path dataDirectory, int port) {
        // A server already on the port (another gateway's embedded database) would answer for this
        // one: the start would seem to succeed, and this gateway would use the other's accounts and
        // keys (an operator audit, 2026-12-08).
        try (ServerSocket probe = new ServerSocket()) {
            probe.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        } catch (IOException taken) {
            throw new IllegalStateException("storage.embedded_port " + port + " is in use (another TokenHub with "
                + "an embedded database?): set storage.embedded_port to a free port");
        }
        try {
            Files.createDirectories(dataDirectory);
            EmbeddedPostgres pg = EmbeddedPostgres.builder()
                .setDataDirectory(dataDirectory)
                .setCleanDataDirectory(false)
                .setPort(port)
                .setPGStartupWait(Duration.ofSeconds(60))
                // Stopped by TokenHub's own shutdown, last (see stopWithTheGateway), not by zonky's hook.
                .setRegisterShutdownHook(false)
                .start();
            return new EmbeddedPostgresServer(pg, port);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the embedded PostgreSQL in " + dataDirectory, e);
        } catch (IllegalStateException e) {
            if (e.getMessage() != null && e.getMessage().contains("lock")) {
                throw new IllegalStateException(e.getMessage() + ": another TokenHub is using storage.data_dir "
                    + dataDirectory.getParent() + " (each gateway needs a data_dir of its own)", e);
            }
            throw e;
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
        if (closed.getAndSet(true)) {
            return;
        }
        try {
            postgres.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
