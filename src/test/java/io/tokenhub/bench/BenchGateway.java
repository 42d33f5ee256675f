package io.tokenhub.bench;

import io.tokenhub.testing.RedisCommands;
import io.tokenhub.testing.TestDatabase;
import io.vertx.core.buffer.Buffer;
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
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * TokenHub as the benchmarks run it: its own process ({@link GatewayMain}) in front of the fake
 * upstream, with auth (a key made through the admin API), limits, billing and usage accounting
 * into a fresh database of the local PostgreSQL, logging at WARN. Shared by {@link LoadBenchmark}
 * and {@link SoakBenchmark} so that both measure the same gateway.
 */
final class BenchGateway implements AutoCloseable {

    static final String MODEL = "bench-chat";
    /** The gateway's accounting.batch_size: a batch this full is written before its flush_ms is up. */
    static final int USAGE_BATCH = 500;
    /** The shipped accounting.flush_ms. */
    static final int FLUSH_MS = 100;
    /** The same model through a provider reached over HTTP/2 (h2c), whatever {@code upstreamHttp2} says. */
    static final String MODEL_H2 = "bench-chat-h2";
    static final String CHAT_BODY = "{\"model\":\"" + MODEL + "\",\"messages\":[{\"role\":\"system\","
        + "\"content\":\"You are a helpful assistant.\"},{\"role\":\"user\",\"content\":\"Write one short sentence "
        + "about load balancers.\"}],\"max_tokens\":64,\"temperature\":0.7}";
    private static final String MASTER_KEY = "bench-master-key-0123456789";

    /** HTTP/1.1, as in {@link Prometheus}: the JDK client's h2c upgrade on plain HTTP is not wanted here. */
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
    private final TestDatabase database;
    private Procs.Child process;
    private int apiPort;
    private int managementPort;
    private String apiKey;
    private String note = "";
    private String accountId;
    private String keyId;
    /** The hot counters' Redis, when the gateway keeps them there. */
    private RedisCommands redis;

    private BenchGateway(TestDatabase database) {
        this.database = database;
    }

    /** A fresh database for the gateway: {@link #close()} drops it, also when the gateway never started. */
    static BenchGateway create() {
        return new BenchGateway(TestDatabase.create());
    }

    /**
     * How the gateway runs besides its JVM.
     *
     * @param upstreamHttp2 HTTP/2 (h2c) to the fake upstream instead of HTTP/1.1
     * @param flushMs       its {@code accounting.flush_ms}: usage records written this often (or per 500)
     * @param redis         blank: wallet and plan counters in the process ({@code storage.redis: none});
     *                      else a {@code redis://} URL, as a cluster runs (one script run per
     *                      reservation and per settlement); the benchmark account's four keys stay
     *                      there after the run, a few hundred bytes (a new account each run)
     * @param cluster       a Hazelcast member of a cluster of its own ({@code cluster.xml}), as
     *                      {@code k8s/} runs it: rate limits through the cluster's shared counters
     */
    record Setup(boolean upstreamHttp2, int flushMs, String redis, boolean cluster) {

        /** The report's words for it. */
        String describe() {
            return (redis.isBlank() ? "counters in process" : "counters in Redis (" + redis + ")")
                + (cluster ? ", a Hazelcast member" : "") + (upstreamHttp2 ? ", HTTP/2 to the upstream" : "");
        }
    }

    /**
     * Starts the gateway on {@code java} (a JDK's home or its {@code java}; blank for this JVM's) with
     * {@code jvmOptions} (its config and log in {@code work}) and makes an API key.
     */
    void start(Path work, int upstreamPort, String java, List<String> jvmOptions, Setup setup) throws Exception {
        startProcess(work, upstreamPort, java, jvmOptions, setup);
        apiKey = createKey();
    }

    /**
     * The gateway's heap options: fixed at {@code size} from the start, as {@code k8s/} ships it
     * ({@code InitialRAMPercentage} = {@code MaxRAMPercentage}). A G1 heap left to shrink (to 200 MiB
     * of 512 here) sets its marking threshold below the live data and marks back to back, a twentieth
     * of a core.
     */
    static List<String> heap(String size) {
        return List.of("-Xms" + size, "-Xmx" + size);
    }

    /** A streaming request for {@code chunks} content chunks, {@code delayMs} apart at the fake upstream. */
    static Buffer streamBody(int chunks, int delayMs) {
        return streamBody(MODEL, chunks, delayMs);
    }

    static Buffer streamBody(String model, int chunks, int delayMs) {
        return new JsonObject(CHAT_BODY).put("model", model).put("stream", true)
            .put("stream_options", new JsonObject().put("include_usage", true))
            .put("bench_chunks", chunks).put("bench_delay_ms", delayMs).toBuffer();
    }

    long pid() {
        return process.pid();
    }

    int apiPort() {
        return apiPort;
    }

    int managementPort() {
        return managementPort;
    }

    /** Chat completions through the gateway with the benchmark's key. */
    LoadClient.Target target() {
        return new LoadClient.Target("tokenhub", apiPort, "/v1/chat/completions", "Bearer " + apiKey);
    }

    Prometheus scrape() {
        return Prometheus.scrape(managementPort);
    }

    /** Something the report should mention about the set-up (empty if nothing). */
    String note() {
        return note;
    }

    /** The database's name, which PostgreSQL puts in the command line of each of its backends. */
    String databaseName() {
        String url = database.url();
        return url.substring(url.lastIndexOf('/') + 1);
    }

    /**
     * What PostgreSQL holds once the gateway's accounting caught up (waits up to 20 s for it), and
     * whether the money agrees: the records' costs, the account's balance and ledger and, with Redis,
     * the hot counters' wallet once nothing is reserved there.
     */
    record UsageCheck(long answered, long recorded, long all, String money) {

        boolean exact() {
            return recorded == answered;
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "usage records in PostgreSQL: %d with status 200 for the %d requests"
                    + " TokenHub answered with 200 (%s); %d records in all, failures included%n%s%n", recorded, answered,
                exact() ? "every one recorded exactly once" : "MISMATCH: " + (recorded - answered), all, money);
        }
    }

    /** Compares the status-200 usage records with the {@code answered} requests the gateway answered with 200. */
    UsageCheck checkUsage(long answered) throws InterruptedException {
        // Until every answered request is recorded, the gateway holds nothing unwritten (a record
        // written twice would show once its queue is empty) and, with Redis, nothing is reserved there
        // (a node's share is given back once idle), polling with a bound.
        long deadline = System.currentTimeMillis() + 20_000;
        while (System.currentTimeMillis() < deadline
            && (database.count("SELECT count(*) FROM usage_records WHERE status = 200") < answered
                || scrape().value("tokenhub_usage_queue_depth") > 0
                || redis != null && !"0".equals(redis.bulk("HGET", counters(), "res")))) {
            Thread.sleep(250);
        }
        return new UsageCheck(answered, database.count("SELECT count(*) FROM usage_records WHERE status = 200"),
            database.count("SELECT count(*) FROM usage_records"), checkMoney());
    }

    private String checkMoney() {
        long balance = database.count("SELECT balance_micro_usd FROM accounts WHERE id = ?", accountId);
        long ledger = database.count("SELECT coalesce(sum(amount_micro_usd), 0) FROM ledger WHERE account_id = ?",
            accountId);
        long costs = database.count("SELECT coalesce(sum(cost_micro_usd), 0) FROM usage_records WHERE account_id = ?",
            accountId);
        long credits = database.count("SELECT coalesce(sum(amount_micro_usd), 0) FROM ledger WHERE account_id = ?"
            + " AND amount_micro_usd > 0", accountId);
        String line = String.format(Locale.ROOT, "money: the records cost %d micro-USD, the credits less that %s;"
                + " the balance %d, its ledger %s", costs,
            credits - costs == balance ? "is the balance" : "MISMATCH: " + (credits - costs - balance) + " from it",
            balance, ledger == balance ? "sums to it" : "MISMATCH: sums to " + ledger);
        if (redis == null) {
            return line;
        }
        String reserved = redis.bulk("HGET", counters(), "res");
        long wallet = Long.parseLong(redis.bulk("HGET", counters(), "bal"));
        return line + String.format(Locale.ROOT, "; Redis's wallet %d (%s), %s micro-USD reserved", wallet,
            wallet == balance ? "the balance" : "MISMATCH: " + (wallet - balance) + " from the balance", reserved);
    }

    /** The benchmark account's hot counters in Redis. */
    private String counters() {
        return "th:q:{" + accountId + "}";
    }

    private void startProcess(Path work, int upstreamPort, String java, List<String> jvmOptions, Setup setup)
        throws Exception {
        redis = setup.redis().isBlank() ? null : new RedisCommands(URI.create(setup.redis()));
        Path dataDir = Files.createDirectories(work.resolve("gateway-data"));
        Path config = work.resolve("tokenhub-bench.yaml");
        Files.writeString(config, yaml(database.url(), dataDir, upstreamPort, setup));
        Path ready = work.resolve("gateway.ready");
        List<String> jvm = new ArrayList<>(jvmOptions);
        jvm.add("-Dlogback.configurationFile=" + writeLogback(work));
        process = Procs.java("gateway", work.resolve("gateway.log"), java, jvm, GatewayMain.class.getName(),
            List.of(config.toString(), ready.toString()));
        String[] ports;
        try {
            ports = Procs.awaitFile(ready, process, 120_000).split(" ");
        } catch (RuntimeException e) {
            System.err.println("gateway log:\n" + tail(work.resolve("gateway.log"), 40));
            throw e;
        }
        apiPort = Integer.parseInt(ports[0]);
        managementPort = Integer.parseInt(ports[1]);
    }

    private static String yaml(String postgresUrl, Path dataDir, int upstreamPort, Setup setup) {
        // A cluster of its own: a name no other process on the machine (a test run, a second benchmark) uses.
        String cluster = !setup.cluster() ? "{ enabled: false }" : "{ enabled: true, config: \"%s\", name: \"%s\" }"
            .formatted(Path.of("cluster.xml").toAbsolutePath(), "tokenhub-bench-" + ProcessHandle.current().pid());
        return """
            server: { host: 127.0.0.1, port: 0, management_port: 0, instances: 0, max_body_bytes: 10485760, shutdown_grace_ms: 3000 }
            admin: { master_key: "%s", bootstrap: false }
            storage: { postgres: "%s", redis: "%s", data_dir: "%s", pool_size: 16 }
            cluster: %s
            billing: { signup_credit_usd: 1000000 }
            accounting: { batch_size: %d, flush_ms: %d }
            providers:
            """.formatted(MASTER_KEY, postgresUrl, setup.redis().isBlank() ? "none" : setup.redis(), dataDir, cluster,
                USAGE_BATCH, setup.flushMs())
            + provider("fake", upstreamPort, setup.upstreamHttp2()) + provider("fake-h2", upstreamPort, true)
            + "models:\n" + model(MODEL, "fake") + model(MODEL_H2, "fake-h2");
    }

    /** The fake upstream as a provider, over HTTP/1.1 or HTTP/2 (h2c). */
    private static String provider(String id, int upstreamPort, boolean http2) {
        return """
              - id: %s
                type: openai
                base_url: "http://127.0.0.1:%d/v1"
                api_key: "sk-bench-upstream"
                max_connections: 20000
                http2: %s
                timeouts: { connect_ms: 5000, first_byte_ms: 30000, idle_ms: 120000 }
                circuit_breaker: { max_failures: 5, window_ms: 10000, reset_ms: 1000 }
            """.formatted(id, upstreamPort, http2);
    }

    /** A chat model of the fake upstream's, through one provider, with limits no run reaches. */
    private static String model(String id, String provider) {
        return """
              - id: %s
                type: chat
                context_window: 128000
                max_output_tokens: 4096
                default_max_tokens: 256
                capabilities: [tools, structured_output]
                limits: { rpm: 1000000000, tpm: 1000000000000 }
                pricing: { input: 0.15, output: 0.60 }
                deployments:
                  - { provider: %s, model: %s }
            """.formatted(id, provider, FakeUpstreamMain.MODEL);
    }

    /** The gateway logs at WARN: an INFO line per request would be part of what is measured. */
    private static Path writeLogback(Path work) throws IOException {
        Path file = work.resolve("gateway-logback.xml");
        Files.writeString(file, """
            <configuration>
              <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
                <encoder><pattern>%d{HH:mm:ss.SSS} %-5level [%thread] %logger{24} - %msg%n</pattern></encoder>
              </appender>
              <root level="WARN"><appender-ref ref="STDOUT"/></root>
            </configuration>
            """);
        return file;
    }

    private String createKey() throws Exception {
        String email = "bench-" + System.nanoTime() + "@example.com";
        JsonObject account = admin("POST", "/admin/v1/accounts",
            new JsonObject().put("name", "Benchmark").put("email", email), 201);
        accountId = account.getString("id");
        try {
            admin("POST", "/admin/v1/accounts/" + accountId + "/credits",
                new JsonObject().put("amount_usd", 1_000_000).put("reason", "benchmark"), 200);
        } catch (IllegalStateException e) {
            note = "note: could not top up the benchmark account (" + e.getMessage() + "); it has the signup credit\n";
        }
        JsonObject key = admin("POST", "/admin/v1/keys",
            new JsonObject().put("account_id", accountId).put("name", "benchmark"), 201);
        keyId = key.getString("id");
        return key.getString("key");
    }

    private JsonObject admin(String method, String path, JsonObject body, int expected) throws Exception {
        HttpResponse<String> response = http.sendAsync(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + apiPort + path))
            .header("Authorization", "Bearer " + MASTER_KEY).header("Content-Type", "application/json")
            .method(method, HttpRequest.BodyPublishers.ofString(body.encode()))
            .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString()).get(40, TimeUnit.SECONDS);
        if (response.statusCode() != expected) {
            throw new IllegalStateException(method + " " + path + " answered " + response.statusCode() + ": "
                + response.body());
        }
        return new JsonObject(response.body());
    }

    private static String tail(Path file, int lines) {
        try {
            List<String> all = Files.readAllLines(file);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(no log)";
        }
    }

    /**
     * Stops the gateway (gracefully: its stdin closes), then drops the database and, with Redis, the
     * benchmark account's hot counters (its hash, its key's, its reservations and their timeline).
     */
    @Override
    public synchronized void close() {
        if (process != null) {
            process.close();
            process = null;
        }
        try {
            database.close();
        } catch (RuntimeException e) {
            System.err.println("could not drop the benchmark database: " + e.getMessage());
        }
        if (redis != null && accountId != null) {
            String tag = "{" + accountId + "}";
            try {
                redis.send("DEL", "th:q:" + tag, "th:k:" + tag + ":" + keyId, "th:r:" + tag, "th:rz:" + tag, "th:sm:" + tag);
            } catch (RuntimeException e) {
                System.err.println("could not delete the benchmark account's Redis keys: " + e.getMessage());
            }
        }
    }
}
