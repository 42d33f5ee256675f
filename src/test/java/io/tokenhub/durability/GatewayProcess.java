package io.tokenhub.durability;

import io.tokenhub.TokenHub;
import io.tokenhub.testing.TestGateway;
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

/** A TokenHub in a JVM of its own, so that it can be killed with SIGKILL (as EmbeddedRunIT does). */
final class GatewayProcess {

    private static final Pattern UP = Pattern.compile("TokenHub is up: API (http://localhost:\\d+)/v1");
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();

    final Process process;
    final List<String> lines = new CopyOnWriteArrayList<>();
    private final CompletableFuture<String> up = new CompletableFuture<>();
    String base;
    long upAtNanos;

    private GatewayProcess(Process process) {
        this.process = process;
    }

    static GatewayProcess start(Path config) throws Exception {
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Process process = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "-Xmx256m", "-cp", classPath, TokenHub.class.getName(), "--config", config.toString())
            .directory(config.getParent().toFile()).redirectErrorStream(true).start();
        GatewayProcess node = new GatewayProcess(process);
        Thread reader = new Thread(node::read, "gateway-output");
        reader.setDaemon(true);
        reader.start();
        try {
            node.base = node.up.get(120, TimeUnit.SECONDS);
            node.upAtNanos = System.nanoTime();
        } catch (Exception e) {
            process.destroyForcibly();
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
            // gone
        } finally {
            up.completeExceptionally(new IllegalStateException("the gateway's output ended"));
        }
    }

    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    void terminate() throws InterruptedException {
        process.toHandle().destroy();
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            kill();
        }
    }

    HttpResponse<String> send(String method, String path, String bearer, String body) {
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

    HttpResponse<String> admin(String method, String path, String body) {
        return send(method, path, TestGateway.MASTER_KEY, body);
    }

    /** Records in the usage journal's segments (lines). */
    static long journaled(Path data) {
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
}
