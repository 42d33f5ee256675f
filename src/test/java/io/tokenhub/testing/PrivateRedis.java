package io.tokenhub.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * A Redis server of one test's own ({@code redis-server} from the PATH, on a free loopback port, in
 * memory only): for a test that counts what the whole server did (on the shared one, another
 * client's commands would count too), or that kills it and starts it again, empty, on the same port.
 * Closing it stops the server.
 */
public final class PrivateRedis implements AutoCloseable {

    private static final long START_TIMEOUT_MS = 10_000;

    private final int port;
    private Process process;

    private PrivateRedis(int port) {
        this.port = port;
    }

    public static PrivateRedis start() {
        PrivateRedis redis = new PrivateRedis(freePort());
        redis.restart();
        return redis;
    }

    /** Starts the server (again, after {@link #kill}) on its port, empty; returns once it answers. */
    public void restart() {
        try {
            process = new ProcessBuilder("redis-server", "--port", String.valueOf(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            throw new IllegalStateException("cannot start redis-server (is it on the PATH?)", e);
        }
        awaitPong();
    }

    /** Kills the server outright (SIGKILL): what it held is gone. */
    public void kill() {
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public String url() {
        return "redis://127.0.0.1:" + port;
    }

    public RedisCommands commands() {
        return new RedisCommands(URI.create(url()));
    }

    /** Waits until the server answers PING: it listens once it has loaded. */
    private void awaitPong() {
        long deadline = System.currentTimeMillis() + START_TIMEOUT_MS;
        IOException last = null;
        while (System.currentTimeMillis() < deadline && process.isAlive()) {
            try (Socket socket = new Socket("127.0.0.1", port)) {
                OutputStream out = socket.getOutputStream();
                out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                InputStream in = socket.getInputStream();
                byte[] answer = in.readNBytes(7);
                if (new String(answer, StandardCharsets.US_ASCII).equals("+PONG\r\n")) {
                    return;
                }
            } catch (IOException notYet) {
                last = notYet;
                // Not listening yet: polled again, as TestGateway.eventually polls.
                LockSupport.parkNanos(20_000_000);
            }
        }
        close();
        throw new IllegalStateException("redis-server on port " + port + " did not answer within "
            + START_TIMEOUT_MS + " ms", last);
    }

    private static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
