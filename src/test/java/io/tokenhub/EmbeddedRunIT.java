package io.tokenhub;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.GatewayProcess;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;
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

    private static final Pattern API_KEY = Pattern.compile("API key: +(th-\\S+)");
    private static final Pattern ADMIN_KEY = Pattern.compile("admin key: +(tha-\\S+)");

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
        GatewayProcess first = GatewayProcess.start(config, data);
        AtomicReference<String> adminKey = new AtomicReference<>();
        String stopLog = first.runThenStop(() -> {
            String apiKey = first.find(API_KEY);
            adminKey.set(first.find(ADMIN_KEY));
            // (with a master key configured, the printed admin key is not one)
            assertThat(first.send("GET", "/admin/v1/usage", adminKey.get(), null).statusCode()).isEqualTo(401);
            for (int i = 0; i < requests; i++) {
                HttpResponse<String> answer = first.send("POST", "/v1/chat/completions", apiKey, """
                    {"model": "mock-chat", "messages": [{"role": "user", "content": "Hello %d"}]}""".formatted(i));
                assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
            }
            assertThat(first.lines()).as("what a clean first start and its requests log").noneMatch(line ->
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
        GatewayProcess second = GatewayProcess.start(config, data);
        second.runThenStop(() -> {
            HttpResponse<String> usage = second.send("GET", "/admin/v1/usage?group_by=model", adminKey.get(), null);
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
        GatewayProcess first = GatewayProcess.start(config, data);
        try {
            String apiKey = first.find(API_KEY);
            for (int i = 0; i < requests; i++) {
                HttpResponse<String> answer = first.send("POST", "/v1/chat/completions", apiKey, """
                    {"model": "mock-chat", "messages": [{"role": "user", "content": "Hello %d"}]}""".formatted(i));
                assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
            }
            // When it is killed outright (no shutdown hook runs) once its journal holds their records, which
            // it writes as they arrive, not at the next flush
            TestGateway.eventually(() -> GatewayProcess.journaled(data) == requests, 10_000,
                "the records in the journal");
        } finally {
            first.kill();
        }

        // Then the next start writes them, each once
        GatewayProcess second = GatewayProcess.start(config, data);
        second.runThenStop(() -> {
            TestGateway.eventually(() -> {
                HttpResponse<String> usage = second.admin("GET", "/admin/v1/usage?group_by=model", null);
                JsonArray rows = new JsonObject(usage.body()).getJsonArray("data");
                return rows.size() == 1 && rows.getJsonObject(0).getLong("requests") == requests;
            }, 30_000, "the killed node's requests in PostgreSQL");
            assertThat(second.lines()).anyMatch(line -> line.contains(requests + " usage records found in the journal"));
        });
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
