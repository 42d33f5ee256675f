package io.tokenhub.accounting;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.TokenHub;
import io.tokenhub.store.EmbeddedPostgresServer;
import io.tokenhub.testing.TcpProxy;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * PostgreSQL goes away under traffic and comes back: requests keep being served (keys and
 * counters are cached), the gateway reports itself not ready with a usage backlog, usage records
 * wait in the disk spool, and once PostgreSQL is back every request has exactly one record — also
 * when the gateway was restarted in between.
 *
 * <p>The database is an embedded PostgreSQL (zonky) on its own data directory and port, which the
 * test stops with {@link EmbeddedPostgresServer#close()} ({@code pg_ctl stop -m fast}; the data
 * directory is kept because {@code cleanDataDirectory} is off) and starts again with
 * {@link EmbeddedPostgresServer#start} on the same directory and port (an initialised directory is
 * not initialised again, so the data survives).
 */
class PostgresOutageIT {

    private static final String CATALOG = """
        providers: [ { id: mock, type: mock } ]
        models:
          - id: mock-chat
            context_window: 32768
            max_output_tokens: 1024
            default_max_tokens: 64
            pricing: { input: 1.0, output: 4.0 }
            deployments: [ { provider: mock, model: mock-chat-1 } ]
        """;
    /** Signup credit in the test configuration: 100 USD. */
    private static final long SIGNUP_MICRO_USD = 100_000_000;
    private static final long WAIT_MS = 60_000;
    private static final int CLIENTS = 6;

    /**
     * HTTP/1.1, each exchange bounded as a whole ({@link #exchange}): the JDK client's default h2c
     * upgrade sometimes never delivers the body of a connection's first response, and its request
     * timeout stops at the response head.
     */
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
    private final ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
    private Path pgDir;
    private Path dataDir;
    private int pgPort;
    private EmbeddedPostgresServer postgres;
    private TokenHub hub;

    @BeforeEach
    void startPostgres() throws IOException {
        pgDir = Files.createTempDirectory("tokenhub-outage-pg");
        dataDir = Files.createTempDirectory("tokenhub-outage-data");
        pgPort = freePort();
        postgres = EmbeddedPostgresServer.start(pgDir, pgPort);
    }

    @AfterEach
    void stopEverything() {
        clients.shutdownNow();
        try {
            if (hub != null) {
                hub.close();
            }
        } finally {
            if (postgres != null) {
                postgres.close();
            }
            deleteRecursively(dataDir);
            deleteRecursively(pgDir);
        }
    }

    @Test
    void requestsAreServedThroughAnOutageAndEveryOneIsRecordedOnceWhenPostgresIsBack() throws Exception {
        // Given a gateway on the embedded PostgreSQL, and a key used once while the database is up
        hub = TokenHub.start(config());
        String key = newKey();
        String unused = newKey();
        Queue<Sent> sent = new ConcurrentLinkedQueue<>();
        sent.add(chat(key, 0));
        int total = 300;
        int stopAt = 100;
        int outageFrom = 200;

        // When clients send 300 more requests, half of them streamed, PostgreSQL being stopped when
        // the 100th is sent and the last 100 being sent only once it is down
        CompletableFuture<Void> stopRequested = new CompletableFuture<>();
        CompletableFuture<Void> stopped = new CompletableFuture<>();
        AtomicInteger tickets = new AtomicInteger();
        List<Future<?>> running = new ArrayList<>();
        for (int c = 0; c < CLIENTS; c++) {
            running.add(clients.submit(() -> {
                for (int t = tickets.getAndIncrement(); t < total; t = tickets.getAndIncrement()) {
                    if (t == stopAt) {
                        stopRequested.complete(null);
                    }
                    if (t >= outageFrom) {
                        stopped.get(WAIT_MS, TimeUnit.MILLISECONDS);
                    }
                    sent.add(chat(key, t));
                }
                return null;
            }));
        }
        stopRequested.get(WAIT_MS, TimeUnit.MILLISECONDS);
        postgres.close();
        stopped.complete(null);
        for (Future<?> client : running) {
            client.get(WAIT_MS, TimeUnit.MILLISECONDS);
        }

        // Then every request was answered, in full, although the database was down for part of them
        assertThat(sent).hasSize(total + 1);
        assertThat(sent).allSatisfy(s -> {
            assertThat(s.status()).as("status of request %s: %s", s.requestId(), s.body()).isEqualTo(200);
            assertThat(s.complete()).as("body of request %s: %s", s.requestId(), s.body()).isTrue();
        });
        // And the gateway says it is not ready, with the usage it could not write as its backlog
        TestGateway.eventually(() -> ready().statusCode() == 503, WAIT_MS, "/health/ready to answer 503");
        JsonObject readiness = new JsonObject(ready().body());
        assertThat(readiness.getJsonObject("checks").getString("postgres")).isEqualTo("DOWN");
        assertThat(readiness.getJsonObject("usage").getLong("backlog")).isPositive();
        assertThat(readiness.getJsonObject("usage").getString("writes")).startsWith("FAILING");
        assertThat(queueDepth()).isPositive();
        // And the records wait on disk
        TestGateway.eventually(() -> spoolFiles() > 0, WAIT_MS, "usage records in the spool");
        // And a key never used (so not cached) cannot be checked meanwhile: a 503 to retry, not a 500
        Sent unchecked = chat(unused, 1);
        assertThat(unchecked.status()).as(unchecked.body()).isEqualTo(503);
        assertThat(new JsonObject(unchecked.body()).getJsonObject("error").getString("code"))
            .isEqualTo("service_unavailable");
        // And what needs the database answers the same, a 503 to retry with a Retry-After (the admin
        // API, the reports and the key holder's usage answered 500, with a stack trace each)
        for (HttpRequest.Builder needsTheDatabase : List.of(
            HttpRequest.newBuilder(URI.create(apiUrl("/admin/v1/accounts")))
                .header("Authorization", "Bearer " + TestGateway.MASTER_KEY),
            HttpRequest.newBuilder(URI.create(apiUrl("/admin/v1/usage")))
                .header("Authorization", "Bearer " + TestGateway.MASTER_KEY),
            HttpRequest.newBuilder(URI.create(apiUrl("/v1/usage"))).header("Authorization", "Bearer " + key))) {
            HttpResponse<String> refused = exchange(needsTheDatabase);
            assertThat(refused.statusCode()).as(refused.body()).isEqualTo(503);
            assertThat(new JsonObject(refused.body()).getJsonObject("error").getString("code"))
                .isEqualTo("service_unavailable");
            assertThat(refused.headers().firstValue("Retry-After")).isPresent();
        }

        // When PostgreSQL is started again on the same data directory and port
        postgres = EmbeddedPostgresServer.start(pgDir, pgPort);

        // Then every answered request has exactly one usage record, and nothing else is there
        TestGateway.eventually(() -> hub.usageStatus().backlog() == 0
                && count("SELECT count(*) FROM usage_records") >= total + 1,
            WAIT_MS, "the backlog written to PostgreSQL");
        assertThat(requestIdsInPostgres())
            .containsExactlyInAnyOrderElementsOf(sent.stream().map(Sent::requestId).toList());
        // And each was paid exactly once: the balance is the signup credit less the recorded charges
        assertChargedOnce();
        // And the gateway is ready again, with no backlog and an empty spool
        TestGateway.eventually(() -> ready().statusCode() == 200, WAIT_MS, "/health/ready to answer 200");
        assertThat(new JsonObject(ready().body()).getJsonObject("usage").getLong("backlog")).isZero();
        assertThat(queueDepth()).isZero();
        assertThat(spoolFiles()).isZero();
    }

    @Test
    void recordsSpooledByAGatewayStoppedDuringAnOutageAreWrittenOnceByTheNextGateway() throws Exception {
        // Given a gateway whose key was used once while the database was up, and recorded
        hub = TokenHub.start(config());
        String key = newKey();
        Sent warmUp = chat(key, 0);
        awaitFirstRecord();

        // When PostgreSQL stops, clients send 100 requests, and the gateway is stopped right after them
        postgres.close();
        int total = 100;
        Queue<Sent> sent = sendConcurrently(key, total);
        hub.close();
        hub = null;

        // Then the requests were answered, and all of their records are in the spool
        assertThat(sent).hasSize(total).allSatisfy(s -> assertThat(s.status()).isEqualTo(200));
        assertThat(spooledRecords()).isEqualTo(total);

        // When PostgreSQL is back and a new gateway starts on the same data directory
        postgres = EmbeddedPostgresServer.start(pgDir, pgPort);
        hub = TokenHub.start(config());

        // Then it writes every spooled record, once, and empties the spool
        awaitWrittenRecords(total + 1, "the spool replayed into PostgreSQL");
        List<String> expected = new ArrayList<>(sent.stream().map(Sent::requestId).toList());
        expected.add(warmUp.requestId());
        assertThat(requestIdsInPostgres()).containsExactlyInAnyOrderElementsOf(expected);
        assertChargedOnce();
        assertThat(spoolFiles()).isZero();
        TestGateway.eventually(() -> ready().statusCode() == 200, WAIT_MS, "/health/ready to answer 200");
    }

    @Test
    void usageIsSpooledWhenPostgresStopsAnsweringAndWrittenOnceWhenItAnswersAgain() throws Exception {
        // Given a gateway that reaches PostgreSQL through a network that can go quiet, its key used once
        try (TcpProxy network = new TcpProxy("localhost", pgPort)) {
            hub = TokenHub.start(config(network.port()));
            String key = newKey();
            String unused = newKey();
            Sent warmUp = chat(key, 0);
            awaitFirstRecord();

            // When the network drops everything (connections stay open, no error, no answer) and
            // clients send 50 requests
            network.partition();
            int total = 50;
            Queue<Sent> sent = sendConcurrently(key, total);

            // (and a key not cached yet cannot be checked: a 503 to retry once the lookup's time is up,
            // not a request held for as long as the network stays silent)
            Sent unchecked = chat(unused, 1);
            assertThat(unchecked.status()).as(unchecked.body()).isEqualTo(503);

            // Then the requests are answered, and their records do not wait in memory for an answer
            // that never comes: they reach the disk spool
            assertThat(sent).hasSize(total).allSatisfy(s -> assertThat(s.status()).isEqualTo(200));
            TestGateway.eventually(() -> spooledRecords() == total && hub.usageStatus().backlog() == total,
                WAIT_MS, total + " records in the spool, and as the backlog");
            assertThat(new JsonObject(ready().body()).getJsonObject("usage").getString("writes"))
                .startsWith("FAILING");

            // When the network lets the held traffic through again
            network.heal();

            // Then every request has exactly one record (a write that was only late is not doubled
            // by the replay of its spooled copy), and the spool is empty
            awaitWrittenRecords(total + 1, "the spool replayed into PostgreSQL");
            List<String> expected = new ArrayList<>(sent.stream().map(Sent::requestId).toList());
            expected.add(warmUp.requestId());
            assertThat(requestIdsInPostgres()).containsExactlyInAnyOrderElementsOf(expected);
            assertChargedOnce();
            assertThat(spoolFiles()).isZero();
            hub.close();
            hub = null;
        }
    }

    @Test
    void gatewayStoppedWhilePostgresDoesNotAnswerSpoolsEveryRecordBeforeItExits() throws Exception {
        // Given a gateway that reaches PostgreSQL through a network that can go quiet, its key used once
        try (TcpProxy network = new TcpProxy("localhost", pgPort)) {
            hub = TokenHub.start(config(network.port()));
            String key = newKey();
            Sent warmUp = chat(key, 0);
            awaitFirstRecord();

            // When the network drops everything, clients send 50 requests, and the gateway is stopped
            // at once, its usage writes still waiting for an answer
            network.partition();
            int total = 50;
            Queue<Sent> sent = sendConcurrently(key, total);
            hub.close();
            hub = null;

            // Then every record is in the spool when the gateway has exited
            assertThat(sent).hasSize(total).allSatisfy(s -> assertThat(s.status()).isEqualTo(200));
            assertThat(spooledRecords()).isEqualTo(total);

            // When the network is back and a new gateway starts on the same data directory
            network.heal();
            hub = TokenHub.start(config(network.port()));

            // Then each request has exactly one record, whether its first write landed late or not
            awaitWrittenRecords(total + 1, "the spool replayed into PostgreSQL");
            List<String> expected = new ArrayList<>(sent.stream().map(Sent::requestId).toList());
            expected.add(warmUp.requestId());
            assertThat(requestIdsInPostgres()).containsExactlyInAnyOrderElementsOf(expected);
            assertChargedOnce();
            assertThat(spoolFiles()).isZero();
            hub.close();
            hub = null;
        }
    }

    // ---- the client side ------------------------------------------------------------------------

    /** {@code total} chat requests from {@link #CLIENTS} threads at once; their answers. */
    private Queue<Sent> sendConcurrently(String key, int total) throws Exception {
        Queue<Sent> sent = new ConcurrentLinkedQueue<>();
        AtomicInteger tickets = new AtomicInteger();
        List<Future<?>> running = new ArrayList<>();
        for (int c = 0; c < CLIENTS; c++) {
            running.add(clients.submit(() -> {
                for (int t = tickets.getAndIncrement(); t < total; t = tickets.getAndIncrement()) {
                    sent.add(chat(key, t));
                }
                return null;
            }));
        }
        for (Future<?> client : running) {
            client.get(WAIT_MS, TimeUnit.MILLISECONDS);
        }
        return sent;
    }

    /** One chat request's answer: its id, status and whether its body ended as it should. */
    private record Sent(String requestId, int status, boolean complete, String body) {
    }

    /** A chat completion, streamed for even {@code n}; blocking. */
    private Sent chat(String key, int n) {
        boolean stream = n % 2 == 0;
        String body = new JsonObject().put("model", "mock-chat").put("stream", stream)
            .put("messages", new io.vertx.core.json.JsonArray().add(new JsonObject().put("role", "user")
                .put("content", "request number " + n))).encode();
        HttpResponse<String> response = exchange(HttpRequest.newBuilder(URI.create(apiUrl("/v1/chat/completions")))
            .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body)));
        boolean complete = stream
            ? response.body().endsWith("data: [DONE]\n\n") && !response.body().contains("event: error")
            : response.statusCode() == 200 && new JsonObject(response.body()).containsKey("choices");
        return new Sent(response.headers().firstValue("X-Request-Id").orElseThrow(), response.statusCode(), complete,
            response.body());
    }

    private String newKey() {
        JsonObject account = admin("/admin/v1/accounts", new JsonObject().put("name", "Outage test")
            .put("email", "outage-" + System.nanoTime() + "@example.com"));
        return admin("/admin/v1/keys", new JsonObject().put("account_id", account.getString("id"))
            .put("name", "outage key")).getString("key");
    }

    private JsonObject admin(String path, JsonObject body) {
        HttpResponse<String> response = exchange(HttpRequest.newBuilder(URI.create(apiUrl(path)))
            .header("Authorization", "Bearer " + TestGateway.MASTER_KEY).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body.encode())));
        assertThat(response.statusCode()).as("POST %s: %s", path, response.body()).isBetween(200, 299);
        return new JsonObject(response.body());
    }

    private HttpResponse<String> ready() {
        return management("/health/ready");
    }

    private double queueDepth() {
        return management("/metrics").body().lines()
            .filter(line -> line.startsWith("tokenhub_usage_queue_depth"))
            .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
            .findFirst().orElseThrow(() -> new AssertionError("no tokenhub_usage_queue_depth in /metrics"));
    }

    private HttpResponse<String> management(String path) {
        return exchange(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + hub.managementPort() + path)).GET());
    }

    /** One HTTP exchange, head and body, bounded as a whole. */
    private HttpResponse<String> exchange(HttpRequest.Builder request) {
        try {
            return http.sendAsync(request.build(), HttpResponse.BodyHandlers.ofString()).get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("HTTP exchange did not complete", e);
        }
    }

    private String apiUrl(String path) {
        return "http://127.0.0.1:" + hub.apiPort() + path;
    }

    // ---- the server side ------------------------------------------------------------------------

    private io.tokenhub.config.TokenHubConfig config() {
        return config(pgPort);
    }

    private io.tokenhub.config.TokenHubConfig config(int port) {
        return TestGateway.config("postgresql://postgres:postgres@localhost:" + port + "/postgres", dataDir,
            CATALOG, "");
    }

    private long spoolFiles() {
        try (Stream<Path> files = listSpool()) {
            return files.count();
        }
    }

    private long spooledRecords() {
        try (Stream<Path> files = listSpool()) {
            return files.mapToLong(file -> {
                try (Stream<String> lines = Files.lines(file)) {
                    return lines.filter(line -> !line.isBlank()).count();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }).sum();
        }
    }

    private Stream<Path> listSpool() {
        Path spool = dataDir.resolve("spool");
        if (!Files.isDirectory(spool)) {
            return Stream.empty();
        }
        try {
            return Files.list(spool).filter(p -> p.getFileName().toString().endsWith(".jsonl"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void assertChargedOnce() {
        long charged = count("SELECT coalesce(sum(wallet_micro_usd), 0) FROM usage_records");
        assertThat(charged).as("charged for the requests").isPositive();
        assertThat(count("SELECT coalesce(sum(balance_micro_usd), 0) FROM accounts"))
            .isEqualTo(SIGNUP_MICRO_USD * count("SELECT count(*) FROM accounts") - charged);
        assertThat(count("SELECT coalesce(sum(amount_micro_usd), 0) FROM ledger WHERE kind = 'usage'"))
            .isEqualTo(-charged);
    }

    private List<String> requestIdsInPostgres() {
        try (Connection c = connect(); var rs = c.createStatement().executeQuery("SELECT request_id FROM usage_records")) {
            List<String> ids = new ArrayList<>();
            while (rs.next()) {
                ids.add(rs.getString(1));
            }
            return ids;
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Until the gateway holds nothing unwritten and PostgreSQL has exactly the one usage record. */
    private void awaitFirstRecord() {
        TestGateway.eventually(() -> hub.usageStatus().backlog() == 0
            && count("SELECT count(*) FROM usage_records") == 1, WAIT_MS, "the first usage record");
    }

    /**
     * Until the gateway holds nothing unwritten and PostgreSQL has at least {@code records} usage
     * records (exactly-once is asserted by the caller, on the request ids).
     */
    private void awaitWrittenRecords(long records, String what) {
        TestGateway.eventually(() -> hub.usageStatus().backlog() == 0
            && count("SELECT count(*) FROM usage_records") >= records, WAIT_MS, what);
    }

    private long count(String sql) {
        try (Connection c = connect(); var rs = c.createStatement().executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private Connection connect() throws SQLException {
        return DriverManager.getConnection("jdbc:postgresql://localhost:" + pgPort + "/postgres", "postgres",
            "postgres");
    }

    private static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void deleteRecursively(Path dir) {
        if (dir == null) {
            return;
        }
        try (var paths = Files.walk(dir)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a temp directory; nothing depends on its removal
        }
    }
}
