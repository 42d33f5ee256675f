package io.tokenhub.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.TokenHub;
import io.tokenhub.config.ConfigLoader;
import io.tokenhub.config.TokenHubConfig;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real TokenHub for integration tests: its own database on the real PostgreSQL, its own data
 * directory, ephemeral ports, a known admin master key, and the providers and models the test
 * gives in YAML. Offers small blocking HTTP helpers for the test thread.
 */
public final class TestGateway implements AutoCloseable {

    public static final String MASTER_KEY = "test-master-key-0123456789";
    /** One chat model, {@code mock-chat}, served by the built-in mock provider: for tests of anything but routing. */
    public static final String MOCK_CATALOG = """
        providers: [ { id: mock, type: mock } ]
        models: [ { id: mock-chat, deployments: [ { provider: mock, model: mock-chat-1 } ] } ]
        """;
    /** Longest a test waits for one whole HTTP exchange before it fails instead of hanging. */
    private static final long EXCHANGE_SECONDS = 60;

    private final TestDatabase database;
    private final Path dataDir;
    private final TokenHub hub;
    /**
     * HTTP/1.1: the JDK client's default h2c upgrade has left tests waiting for a body that never
     * came. Each exchange is bounded as a whole in {@link #send}, since the request timeout stops
     * at the response head.
     */
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();

    private final boolean ownsDatabase;
    /** The sections besides the catalog a {@link #reloadable} gateway was started with. */
    private String extraYaml;

    private TestGateway(TestDatabase database, Path dataDir, TokenHub hub) {
        this(database, dataDir, hub, true);
    }

    private TestGateway(TestDatabase database, Path dataDir, TokenHub hub, boolean ownsDatabase) {
        this.database = database;
        this.dataDir = dataDir;
        this.hub = hub;
        this.ownsDatabase = ownsDatabase;
    }

    /**
     * One node of a cluster: shares the database (and Redis) with the others, owns its data
     * directory, and is started from a configuration file so that a reload can read it again.
     */
    public static TestGateway node(TestDatabase database, String catalogYaml, String redis, String clusterName) {
        try {
            Path dataDir = Files.createTempDirectory("tokenhub-node");
            String storage = "storage: { postgres: \"" + database.url() + "\", redis: \"" + redis + "\", data_dir: \""
                + dataDir + "\", pool_size: 4 }\ncluster: { enabled: true, config: cluster.xml, name: \"" + clusterName
                + "\" }";
            Path file = dataDir.resolve("tokenhub.yaml");
            Files.writeString(file, yaml(database.url(), dataDir, catalogYaml, storage));
            TokenHubConfig config = new ConfigLoader(name -> null).load(file);
            return new TestGateway(database, dataDir, TokenHub.start(config, file), false);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public Path configFile() {
        return dataDir.resolve("tokenhub.yaml");
    }

    /** One node on its own, started from a configuration file, which {@link #reload} rewrites. */
    public static TestGateway reloadable(String catalogYaml, String extraYaml) {
        TestDatabase database = TestDatabase.create();
        try {
            Path dataDir = Files.createTempDirectory("tokenhub-test");
            Path file = dataDir.resolve("tokenhub.yaml");
            Files.writeString(file, yaml(database.url(), dataDir, catalogYaml, extraYaml));
            TestGateway gateway = new TestGateway(database, dataDir,
                TokenHub.start(new ConfigLoader(name -> null).load(file), file));
            gateway.extraYaml = extraYaml;
            return gateway;
        } catch (IOException | RuntimeException e) {
            database.close();
            throw new IllegalStateException(e);
        }
    }

    /** Rewrites a {@link #reloadable} gateway's file with another catalog and has it reload; its answer. */
    public JsonObject reload(String catalogYaml) {
        try {
            Files.writeString(configFile(), yaml(database.url(), dataDir, catalogYaml, extraYaml));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return adminOk("POST", "/admin/v1/reload", null);
    }

    /**
     * @param catalogYaml the {@code providers:} and {@code models:} sections
     * @param extraYaml   more top-level sections (or empty)
     */
    public static TestGateway start(String catalogYaml, String extraYaml) {
        return start(catalogYaml, extraYaml, "none");
    }

    /** @param redis {@code none} for in-process hot counters, or a redis:// URL */
    public static TestGateway start(String catalogYaml, String extraYaml, String redis) {
        try {
            return start(Files.createTempDirectory("tokenhub-test"), catalogYaml, extraYaml, redis);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** @param dataDir a data directory the test prepared (say, a spool an earlier run left); deleted on close */
    public static TestGateway start(Path dataDir, String catalogYaml, String extraYaml, String redis) {
        return start(dataDir, catalogYaml, extraYaml, redis, "pool_size: 4");
    }

    /**
     * With storage settings of the test's own, such as {@code pool_size: 3, report_pool_size: 1}, and
     * in-process counters.
     */
    public static TestGateway startWithStorage(String catalogYaml, String extraYaml, String storageFields) {
        try {
            return start(Files.createTempDirectory("tokenhub-test"), catalogYaml, extraYaml, "none", storageFields);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static TestGateway start(Path dataDir, String catalogYaml, String extraYaml, String redis,
                                     String storageFields) {
        TestDatabase database = TestDatabase.create();
        try {
            // A later section wins (laterWins): this storage line replaces the default one.
            String storage = "storage: { postgres: \"" + database.url() + "\", redis: \"" + redis + "\", data_dir: \""
                + dataDir + "\", " + storageFields + " }";
            TokenHubConfig config = config(database.url(), dataDir, catalogYaml, extraYaml + "\n" + storage);
            return new TestGateway(database, dataDir, TokenHub.start(config));
        } catch (RuntimeException e) {
            database.close();
            throw new IllegalStateException(e);
        }
    }

    public static TokenHubConfig config(String postgresUrl, Path dataDir, String catalogYaml, String extraYaml) {
        return new ConfigLoader(name -> null).parse(yaml(postgresUrl, dataDir, catalogYaml, extraYaml), "test");
    }

    static String yaml(String postgresUrl, Path dataDir, String catalogYaml, String extraYaml) {
        return laterWins("""
            server: { port: 0, management_port: 0, instances: 1, max_body_bytes: 65536, shutdown_grace_ms: 5000 }
            admin: { master_key: "%s", bootstrap: false }
            storage: { postgres: "%s", redis: none, data_dir: "%s", pool_size: 4 }
            accounting: { batch_size: 100, flush_ms: 20 }
            billing: { signup_credit_usd: 100 }
            """.formatted(MASTER_KEY, postgresUrl, dataDir), extraYaml, catalogYaml);
    }

    /**
     * The top-level sections of each piece of YAML, a later piece's section replacing an earlier
     * one of the same name: a test's {@code server:} or {@code storage:} over the defaults (the
     * gateway itself refuses a key given twice).
     */
    static String laterWins(String... pieces) {
        Map<String, String> sections = new LinkedHashMap<>();
        Pattern top = Pattern.compile("^([A-Za-z_][A-Za-z0-9_]*):");
        for (String piece : pieces) {
            String key = null;
            StringBuilder body = new StringBuilder();
            for (String line : (piece + "\n").split("\n")) {
                Matcher m = top.matcher(line);
                if (m.find()) {
                    if (key != null) {
                        sections.remove(key);
                        sections.put(key, body.toString());
                    }
                    key = m.group(1);
                    body = new StringBuilder();
                }
                if (key != null) {
                    body.append(line).append('\n');
                }
            }
            if (key != null) {
                sections.remove(key);
                sections.put(key, body.toString());
            }
        }
        return String.join("", sections.values());
    }

    public TokenHub hub() {
        return hub;
    }

    public TestDatabase database() {
        return database;
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + hub.apiPort() + "/v1";
    }

    public String url(String path) {
        return "http://127.0.0.1:" + hub.apiPort() + path;
    }

    public String managementUrl(String path) {
        return "http://127.0.0.1:" + hub.managementPort() + path;
    }

    /** One exchange, head and body, bounded as a whole. */
    public HttpResponse<String> send(HttpRequest.Builder request) {
        try {
            return http.sendAsync(request.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString())
                .get(EXCHANGE_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public HttpResponse<String> post(String path, String bearer, String body) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url(path)))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body));
        if (bearer != null) {
            request.header("Authorization", "Bearer " + bearer);
        }
        return send(request);
    }

    public HttpResponse<String> get(String path, String bearer) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url(path))).GET();
        if (bearer != null) {
            request.header("Authorization", "Bearer " + bearer);
        }
        return send(request);
    }

    public HttpResponse<String> admin(String method, String path, JsonObject body) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url(path)))
            .header("Authorization", "Bearer " + MASTER_KEY)
            .header("Content-Type", "application/json")
            .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(body.encode()));
        return send(request);
    }

    /** An admin call that must succeed; its JSON body. */
    public JsonObject adminOk(String method, String path, JsonObject body) {
        HttpResponse<String> response = admin(method, path, body);
        if (response.statusCode() / 100 != 2) {
            throw new AssertionError(method + " " + path + " answered " + response.statusCode() + ": " + response.body());
        }
        return new JsonObject(response.body());
    }

    /** A new account with one active key; the created key JSON (with {@code key}). */
    public JsonObject newKey(JsonObject keyFields) {
        JsonObject account = adminOk("POST", "/admin/v1/accounts", new JsonObject()
            .put("name", "Test account").put("email", "user-" + System.nanoTime() + "@example.com"));
        return adminOk("POST", "/admin/v1/keys", keyFields.copy().put("account_id", account.getString("id"))
            .put("name", keyFields.getString("name", "test key")));
    }

    public String newKey() {
        return newKey(new JsonObject()).getString("key");
    }

    /** Waits, polling with a bound, until the condition holds; fails the test otherwise. */
    public static void eventually(BooleanSupplier condition, long timeoutMs, String what) {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean()) {
                return;
            }
            java.util.concurrent.locks.LockSupport.parkNanos(20_000_000);
        }
        if (!condition.getAsBoolean()) {
            throw new AssertionError("timed out after " + timeoutMs + " ms waiting for: " + what);
        }
    }

    /** Usage records of this gateway, once the expected number is there. */
    /** The JSON chunks of a streamed answer (its data events but {@code [DONE]}); the answer must be a 200. */
    public static List<JsonObject> sseChunks(HttpResponse<String> response) {
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        List<JsonObject> chunks = new ArrayList<>();
        for (String event : response.body().split("\n\n")) {
            if (event.startsWith("data: {")) {
                chunks.add(new JsonObject(event.substring("data: ".length())));
            }
        }
        return chunks;
    }

    /** The usage record of an answered request (by its {@code X-Request-Id}), once written. */
    public Map<String, Object> usageRecordOf(HttpResponse<String> response) {
        String requestId = response.headers().firstValue("X-Request-Id").orElseThrow();
        eventually(() -> database.count("SELECT count(*) FROM usage_records WHERE request_id = ?", requestId) == 1,
            10_000, "the usage record of " + requestId);
        return database.query("SELECT * FROM usage_records WHERE request_id = ?", requestId).get(0);
    }

    public long awaitUsageRecords(long expected) {
        eventually(() -> database.count("SELECT count(*) FROM usage_records") >= expected, 10_000,
            expected + " usage records");
        return database.count("SELECT count(*) FROM usage_records");
    }

    @Override
    public void close() {
        try {
            hub.close();
        } finally {
            if (ownsDatabase) {
                database.close();
            }
            deleteRecursively(dataDir);
        }
    }

    static void deleteRecursively(Path dir) {
        try (var paths = Files.walk(dir)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a temp directory; nothing depends on its removal
        }
    }
}
