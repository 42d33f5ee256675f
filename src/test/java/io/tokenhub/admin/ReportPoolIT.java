package io.tokenhub.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Reports (usage sums, logs) read through a pool of their own with a statement timeout: however
 * long they take, the request path's connections and the readiness check are not theirs to hold.
 */
class ReportPoolIT {

    private static final String CATALOG = """
        providers:
          - { id: mock, type: mock }
        models:
          - id: chat-model
            deployments: [ { provider: mock, model: mock-chat } ]
        """;

    static TestGateway gateway;

    @BeforeAll
    static void start() {
        gateway = TestGateway.startWithStorage(CATALOG, "", "pool_size: 2, report_pool_size: 1, report_timeout_ms: 1500");
    }

    @AfterAll
    static void stop() {
        gateway.close();
    }

    @Test
    void reportsHeldUpInTheDatabaseLeaveTheRequestPathItsConnectionsAndStopAtTheirLimit() throws Exception {
        // Given a key in use (its usage record written), and the usage records then locked by another
        // session: a report waits on the lock as one reading a large table would take its time
        String key = gateway.newKey();
        assertThat(chat(key).statusCode()).isEqualTo(200);
        gateway.awaitUsageRecords(1);
        HttpClient client = HttpClient.newHttpClient();
        try (Connection lock = gateway.database().connect()) {
            lock.setAutoCommit(false);
            try (Statement statement = lock.createStatement()) {
                statement.execute("LOCK TABLE usage_records IN ACCESS EXCLUSIVE MODE");
            }

            // When more reports are asked for than the request path has connections
            List<CompletableFuture<HttpResponse<String>>> reports = List.of(
                client.sendAsync(report("/admin/v1/logs", TestGateway.MASTER_KEY), HttpResponse.BodyHandlers.ofString()),
                client.sendAsync(report("/v1/usage", key), HttpResponse.BodyHandlers.ofString()),
                client.sendAsync(report("/admin/v1/usage", TestGateway.MASTER_KEY), HttpResponse.BodyHandlers.ofString()));
            TestGateway.eventually(() -> waitingOnTheLock() >= 1, 10_000, "a report waiting on the locked table");

            // Then the node stays ready (its check has a connection of the request path's pool), and
            // the key's requests are served
            HttpResponse<String> ready = gateway.send(HttpRequest.newBuilder(
                URI.create(gateway.managementUrl("/health/ready"))));
            assertThat(ready.statusCode()).as(ready.body()).isEqualTo(200);
            HttpResponse<String> chat = chat(key);
            assertThat(chat.statusCode()).as(chat.body()).isEqualTo(200);

            // And each report ends within its limit, refused as too slow (or as waiting too long for its turn)
            List<HttpResponse<String>> answers = reports.stream().map(CompletableFuture::join).toList();
            assertThat(answers).allSatisfy(answer -> assertThat(answer.statusCode()).as(answer.body()).isEqualTo(503));
            assertThat(answers).extracting(answer -> new JsonObject(answer.body()).getJsonObject("error")
                .getString("code")).contains("report_timeout").isSubsetOf("report_timeout", "service_unavailable");
            lock.rollback();
        }

        // And once the table is free again, reports are answered
        HttpResponse<String> logs = gateway.get("/admin/v1/logs", TestGateway.MASTER_KEY);
        assertThat(logs.statusCode()).as(logs.body()).isEqualTo(200);
    }

    private static HttpResponse<String> chat(String key) {
        return gateway.post("/v1/chat/completions", key,
            "{\"model\":\"chat-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    }

    private static HttpRequest report(String path, String bearer) {
        return HttpRequest.newBuilder(URI.create(gateway.url(path))).header("Authorization", "Bearer " + bearer)
            .timeout(Duration.ofSeconds(30)).GET().build();
    }

    /** Sessions of this test's database waiting for a lock. */
    private static long waitingOnTheLock() {
        return gateway.database().count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            + "AND wait_event_type = 'Lock'");
    }
}
