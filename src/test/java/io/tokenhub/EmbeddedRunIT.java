package io.tokenhub;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
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
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TokenHub run the README's way, as a process of its own: the embedded PostgreSQL, the mock
 * provider, the keys printed at the first start. Stopped with SIGTERM (as Kubernetes and Ctrl-C
 * stop it) while usage is still on its way to the database, then started again on the same data
 * directory: every request answered before the signal is there, and the stop logged no error.
 */
class EmbeddedRunIT {

    private static final Pattern UP = Pattern.compile("TokenHub is up: API (http://localhost:\\d+)/v1");
    private static final Pattern API_KEY = Pattern.compile("API key: +(th-\\S+)");
    private static final Pattern ADMIN_KEY = Pattern.compile("admin key: +(tha-\\S+)");
    private static final long START_MS = 180_000;
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path dir;

    @Test
    void requestsAnsweredBeforeSigtermAreInTheEmbeddedDatabaseAfterARestart() throws Exception {
        // Given a configuration like the shipped one: embedded PostgreSQL, in-process counters, the mock
        // provider, the keys printed at the first start; usage written every 10 s, so that the requests'
        // usage is still in memory at the signal. The first start has a master key too.
        Path config = dir.resolve("tokenhub.yaml");
        String yaml = """
            server: { port: 0, management_port: 0, instances: 1, shutdown_grace_ms: 5000 }
            admin: { master_key: "%s", bootstrap: true }
            storage: { postgres: embedded, redis: none, data_dir: "%s", embedded_port: %d }
            accounting: { flush_ms: 10000 }
            %s
            """;
        Path data = dir.resolve("data");
        int port = freePort();
        Files.writeString(config, yaml.formatted(TestGateway.MASTER_KEY, data, port, TestGateway.MOCK_CATALOG));
        int requests = 25;

        // When it answers requests with the API key it printed, and is sent SIGTERM right after
        Node first = Node.start(config, data);
        AtomicReference<String> adminKey = new AtomicReference<>();
        String stopLog = first.runThenStop(() -> {
            String apiKey = first.find(API_KEY);
            adminKey.set(first.find(ADMIN_KEY));
            // (with a master key configured, the printed admin key is not one)
            assertThat(send(first.base + "/admin/v1/usage", adminKey.get(), null).statusCode()).isEqualTo(401);
            for (int i = 0; i < requests; i++) {
                HttpResponse<String> answer = send(first.base + "/v1/chat/completions", apiKey, """
                    {"model": "mock-chat", "messages": [{"role": "user", "content": "Hello %d"}]}""".formatted(i));
                assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
            }
            assertThat(first.lines).as("what a clean first start and its requests log").noneMatch(line ->
                line.contains(" WARN ") || line.contains(" ERROR "));
        });

        // Then it stopped cleanly: its usage in the database, no error on the way
        assertThat(stopLog).doesNotContain(" ERROR ").doesNotContain("did not finish cleanly")
            .contains("stopping: not ready any more").contains("stopping: requests done and usage written")
            .contains("stopped after");
        try (var spool = Files.list(dir.resolve("data").resolve("spool"));
             var journal = Files.list(dir.resolve("data").resolve("journal"))) {
            assertThat(spool.toList()).as("nothing left for the next start to replay").isEmpty();
            assertThat(journal.toList()).as("nothing left in the journal: every record is durable").isEmpty();
        }
        // And started again on the same data directory, without a master key, it knows every one of
        // those requests, and the admin key it printed at the first start is the admin credential
        Files.writeString(config, yaml.formatted("", data, port, TestGateway.MOCK_CATALOG));
        Node second = Node.start(config, data);
        second.runThenStop(() -> {
            HttpResponse<String> usage = send(second.base + "/admin/v1/usage?group_by=model", adminKey.get(), null);
            assertThat(usage.statusCode()).as(usage.body()).isEqualTo(200);
            JsonArray rows = new JsonObject(usage.body()).getJsonArray("data");
            assertThat(rows).hasSize(1);
            assertThat(rows.getJsonObject(0).getLong("requests")).isEqualTo(requests);
        });
    }

    @Test
    void requestsAnsweredBeforeASigkillAreInTheDatabaseAfterTheNextStart() throws Exception {
        // Given the embedded configuration, usage written once a minute so that it is held in memory
        Path config = dir.resolve("tokenhub.yaml");
        Path data = dir.resolve("data");
        Files.writeString(config, """
            server: { port: 0, management_port: 0, instances: 1, shutdown_grace_ms: 5000 }
            admin: { master_key: "%s", bootstrap: true }
            storage: { postgres: embedded, redis: none, data_dir: "%s", embedded_port: %d }
            accounting: { flush_ms: 60000 }
            %s
            """.formatted(TestGateway.MASTER_KEY, data, freePort(), TestGateway.MOCK_CATALOG));
        int requests = 25;
        Node first = Node.start(config, data);
        try {
            String apiKey = first.find(API_KEY);
            for (int i = 0; i < requests; i++) {
                HttpResponse<String> answer = send(first.base + "/v1/chat/completions", apiKey, """
                    {"model": "mock-chat", "messages": [{"role": "user", "content": "Hello %d"}]}""".formatted(i));
                assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
            }
            // When it is killed outright (no shutdown hook runs) once its journal holds their records, which
            // it writes as they arrive, not at the next flush
            TestGateway.eventually(() -> journaled(data) == requests, 10_000, "the records in the journal");
        } finally {
            first.kill();
        }
        assertThat(first.process.waitFor(30, TimeUnit.SECONDS)).isTrue();

        // Then the next start writes them, each once
        Node second = Node.start(config, data);
        second.runThenStop(() -> {
            TestGateway.eventually(() -> {
                HttpResponse<String> usage = send(second.base + "/admin/v1/usage?group_by=model",
                    TestGateway.MASTER_KEY, null);
                JsonArray rows = new JsonObject(usage.body()).getJsonArray("data");
                return rows.size() == 1 && rows.getJsonObject(0).getLong("requests") == requests;
            }, 30_000, "the killed node's requests in PostgreSQL");
            assertThat(second.lines).anyMatch(line -> line.contains(requests + " usage records found in the journal"));
        });
    }

    /** Records in the usage journal's segments. */
    private static long journaled(Path data) {
        Path journal = data.resolve("journal");
        if (!Files.isDirectory(journal)) {
            return 0;
        }
        try (var files = Files.list(journal)) {
            long records = 0;
            for (Path file : files.toList()) {
                try (var lines = Files.lines(file)) {
                    records += lines.count();
                } catch (IOException | UncheckedIOException gone) {
                    // deleted meanwhile
                }
            }
            return records;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** What a test does with a running gateway. */
    private interface Steps {
        void run() throws Exception;
    }

    private static HttpResponse<String> send(String url, String bearer, String body) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30))
            .header("Authorization", "Bearer " + bearer);
        if (body != null) {
            request.header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
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

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    /** One gateway process, its output collected line by line. */
    private static final class Node {

        private final Process process;
        private final Path dataDir;
        private final List<String> lines = new CopyOnWriteArrayList<>();
        private final CompletableFuture<String> up = new CompletableFuture<>();
        private final CompletableFuture<Void> outputEnded = new CompletableFuture<>();
        private String base;

        private Node(Process process, Path dataDir) {
            this.process = process;
            this.dataDir = dataDir;
        }

        static Node start(Path config, Path dataDir) throws Exception {
            // Surefire hands the forked JVM a manifest-only jar; the class path itself is in this property.
            String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
            Process process = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-cp", classPath, TokenHub.class.getName(), "--config", config.toString())
                .directory(config.getParent().toFile()).redirectErrorStream(true).start();
            Node node = new Node(process, dataDir);
            Thread reader = new Thread(node::read, "gateway-output");
            reader.setDaemon(true);
            reader.start();
            try {
                node.base = node.up.get(START_MS, TimeUnit.MILLISECONDS);
            } catch (Exception e) {
                // SIGTERM first: its hooks stop the embedded PostgreSQL, which a SIGKILL would leave running.
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

        /** The first group of the first line that matches, once the gateway has written it. */
        String find(Pattern pattern) {
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

        /** SIGKILL, and the embedded PostgreSQL it leaves behind stopped too (its pid is in its data directory). */
        private void kill() throws IOException {
            process.destroyForcibly();
            Path pidFile = dataDir.resolve("postgres").resolve("postmaster.pid");
            if (Files.exists(pidFile)) {
                long pid = Long.parseLong(Files.readAllLines(pidFile).get(0).trim());
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroy);
            }
        }

        /** Runs the steps, then stops the gateway; a failed stop never hides a failed step. */
        String runThenStop(Steps steps) throws Exception {
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

        /** SIGTERM, then what it wrote from then on. */
        String terminate() throws Exception {
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
    }
}
