package io.tokenhub.testing;

import io.tokenhub.TokenHub;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * TokenHub as a process of its own ({@code java -cp … TokenHub --config FILE}, as the README runs
 * it), its output collected line by line: for tests that stop it with SIGTERM or kill it outright.
 */
public final class GatewayProcess {

    private static final Pattern UP = Pattern.compile("TokenHub is up: API (http://localhost:\\d+)/v1");
    private static final long START_MS = 180_000;
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();

    /** What a test does with a running gateway. */
    public interface Steps {
        void run() throws Exception;
    }

    private final Process process;
    private final Path dataDir;
    private final List<String> lines = new CopyOnWriteArrayList<>();
    private final CompletableFuture<String> up = new CompletableFuture<>();
    private final CompletableFuture<Void> outputEnded = new CompletableFuture<>();
    private String base;
    private long upAtNanos;

    private GatewayProcess(Process process, Path dataDir) {
        this.process = process;
        this.dataDir = dataDir;
    }

    /**
     * Starts the gateway and waits until it serves.
     *
     * @param dataDir its {@code storage.data_dir}: an embedded PostgreSQL there is stopped with it
     */
    public static GatewayProcess start(Path config, Path dataDir) throws Exception {
        // Surefire hands the forked JVM a manifest-only jar; the class path itself is in this property.
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Process process = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "-Xmx256m", "-cp", classPath, TokenHub.class.getName(), "--config", config.toString())
            .directory(config.getParent().toFile()).redirectErrorStream(true).start();
        GatewayProcess node = new GatewayProcess(process, dataDir);
        Thread reader = new Thread(node::read, "gateway-output");
        reader.setDaemon(true);
        reader.start();
        try {
            node.base = node.up.get(START_MS, TimeUnit.MILLISECONDS);
            node.upAtNanos = System.nanoTime();
        } catch (Exception e) {
            // SIGTERM first: its hooks stop an embedded PostgreSQL, which a SIGKILL would leave running.
            process.toHandle().destroy();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                node.kill();
            }
            throw new AssertionError("the gateway did not start:\n" + String.join("\n", node.lines), e);
        }
        return node;
    }

    private void read() {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(),
            StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                lines.add(line);
                Matcher m = UP.matcher(line);
                if (m.find()) {
                    up.complete(m.group(1));
                }
            }
        } catch (IOException e) {
            // the process is gone
        } finally {
            up.completeExceptionally(new IllegalStateException("the gateway's output ended"));
            outputEnded.complete(null);
        }
    }

    /** The API's base URL, {@code http://localhost:PORT}. */
    public String base() {
        return base;
    }

    /** When it said it was up ({@link System#nanoTime}). */
    public long upAtNanos() {
        return upAtNanos;
    }

    /** What it has written so far, line by line. */
    public List<String> lines() {
        return lines;
    }

    /** The first group of the first line that matches, once the gateway has written it. */
    public String find(Pattern pattern) {
        // The banner is read line by line: the lines after "TokenHub is up" may still be on their way.
        try {
            TestGateway.eventually(() -> first(pattern) != null, 10_000, pattern + " in the gateway's output");
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + ":\n" + String.join("\n", lines), e);
        }
        return first(pattern);
    }

    private String first(Pattern pattern) {
        return lines.stream().map(pattern::matcher).filter(Matcher::find).map(m -> m.group(1)).findFirst()
            .orElse(null);
    }

    /**
     * SIGKILL, no hook run; an embedded PostgreSQL it leaves behind stopped too (its pid is in its
     * data directory). Returns once the process is gone.
     */
    public void kill() throws IOException, InterruptedException {
        process.destroyForcibly();
        Path pidFile = dataDir.resolve("postgres").resolve("postmaster.pid");
        if (Files.exists(pidFile)) {
            long pid = Long.parseLong(Files.readAllLines(pidFile).get(0).trim());
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroy);
        }
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            throw new AssertionError("the gateway was still running 30 s after SIGKILL");
        }
    }

    /** SIGTERM, then what it wrote from then on. */
    public String terminate() throws Exception {
        int before = lines.size();
        // The handle's destroy: Process.destroy() would also close the pipe the gateway logs its stop to.
        process.toHandle().destroy();
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            kill();
            throw new AssertionError("the gateway did not stop within 60 s of SIGTERM");
        }
        outputEnded.get(10, TimeUnit.SECONDS);
        return String.join("\n", lines.subList(before, lines.size()));
    }

    /** Runs the steps, then stops the gateway (SIGTERM); a failed stop never hides a failed step. */
    public String runThenStop(Steps steps) throws Exception {
        try {
            steps.run();
        } catch (Exception | AssertionError failure) {
            try {
                terminate();
            } catch (Exception | AssertionError alsoFailed) {
                failure.addSuppressed(alsoFailed);
            }
            throw failure;
        }
        return terminate();
    }

    /** A request to the API port; {@code body} JSON, or null for none. */
    public HttpResponse<String> send(String method, String path, String bearer, String body) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30))
            .header("Authorization", "Bearer " + bearer);
        if (body != null) {
            request.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(body));
        } else {
            request.method(method, HttpRequest.BodyPublishers.noBody());
        }
        try {
            return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** An admin API request with the tests' master key. */
    public HttpResponse<String> admin(String method, String path, String body) {
        return send(method, path, TestGateway.MASTER_KEY, body);
    }

    /** A new account and a key of it, through the admin API: the key as created ({@code key}, {@code account_id}). */
    public JsonObject newAccountKey() {
        HttpResponse<String> account = admin("POST", "/admin/v1/accounts", new JsonObject().put("name", "process")
            .put("email", "process-" + System.nanoTime() + "@example.com").encode());
        if (account.statusCode() / 100 != 2) {
            throw new AssertionError("account not created: " + account.body());
        }
        HttpResponse<String> key = admin("POST", "/admin/v1/keys", new JsonObject()
            .put("account_id", new JsonObject(account.body()).getString("id")).put("name", "k").encode());
        if (key.statusCode() / 100 != 2) {
            throw new AssertionError("key not created: " + key.body());
        }
        return new JsonObject(key.body());
    }

    /** Records (lines) in the usage journal's segments under a data directory. */
    public static long journaled(Path data) {
        Path journal = data.resolve("journal");
        if (!Files.isDirectory(journal)) {
            return 0;
        }
        try (var files = Files.list(journal)) {
            long records = 0;
            for (Path file : files.toList()) {
                try (var fileLines = Files.lines(file)) {
                    records += fileLines.count();
                } catch (IOException | UncheckedIOException gone) {
                    // deleted meanwhile
                }
            }
            return records;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
