package io.tokenhub.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;

/**
 * Commands sent to the test's Redis itself, each on a connection of its own: what a test reads or
 * changes behind the gateway's back, never through a network the test has partitioned.
 */
public final class RedisCommands {

    private final URI redis;

    public RedisCommands(URI redis) {
        this.redis = redis;
    }

    /** From {@code TOKENHUB_TEST_REDIS_URL}, by default the local Redis. */
    public static RedisCommands local() {
        return new RedisCommands(URI.create(System.getenv().getOrDefault("TOKENHUB_TEST_REDIS_URL",
            "redis://127.0.0.1:6379")));
    }

    public String host() {
        return redis.getHost();
    }

    public int port() {
        return redis.getPort() < 0 ? 6379 : redis.getPort();
    }

    /** The reply's first line, as Redis wrote it ({@code +OK}, {@code :3}, ...). */
    public String send(String... command) {
        return lines(1, command)[0];
    }

    /** A bulk-string reply's value, or null. */
    public String bulk(String... command) {
        String[] lines = lines(2, command);
        return lines[0].equals("$-1") ? null : lines[1];
    }

    /** An integer reply's value. */
    public long integer(String... command) {
        String reply = send(command);
        if (!reply.startsWith(":")) {
            throw new AssertionError("not an integer reply: " + reply);
        }
        return Long.parseLong(reply.substring(1));
    }

    /** Deletes what the hot counters hold of an account and of its key {@code key_1}: a test's own, after it. */
    public void forgetAccount(String accountId) {
        send("DEL", "th:q:{" + accountId + "}", "th:k:{" + accountId + "}:key_1", "th:r:{" + accountId + "}",
            "th:rz:{" + accountId + "}", "th:sm:{" + accountId + "}");
    }

    /** How many reservations an account holds ({@code HLEN} of its reservations hash). */
    public long reservationsHeld(String accountId) {
        return integer("HLEN", "th:r:{" + accountId + "}");
    }

    /** The ids of the other clients connected to Redis now ({@code CLIENT LIST}, this one left out). */
    public Set<String> clientIds() {
        try (Socket socket = new Socket(host(), port())) {
            socket.getOutputStream().write("*2\r\n$6\r\nCLIENT\r\n$4\r\nLIST\r\n".getBytes(StandardCharsets.US_ASCII));
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(),
                StandardCharsets.US_ASCII));
            char[] list = new char[Integer.parseInt(in.readLine().substring(1))];
            for (int read = 0, n; read < list.length; read += n) {
                if ((n = in.read(list, read, list.length - read)) < 0) {
                    throw new IOException("CLIENT LIST cut short");
                }
            }
            Set<String> ids = new HashSet<>();
            for (String line : new String(list).split("\n")) {
                if (line.startsWith("id=") && !line.contains("cmd=client|list")) {
                    ids.add(line.substring(3, line.indexOf(' ')));
                }
            }
            return ids;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private String[] lines(int count, String... command) {
        StringBuilder resp = new StringBuilder("*").append(command.length).append("\r\n");
        for (String part : command) {
            resp.append('$').append(part.length()).append("\r\n").append(part).append("\r\n");
        }
        try (Socket socket = new Socket(host(), port())) {
            socket.getOutputStream().write(resp.toString().getBytes(StandardCharsets.US_ASCII));
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(),
                StandardCharsets.US_ASCII));
            String[] lines = new String[count];
            lines[0] = in.readLine();
            for (int i = 1; i < count && !lines[0].equals("$-1"); i++) {
                lines[i] = in.readLine();
            }
            return lines;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
