package io.tokenhub.routing;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.TokenHub;
import io.tokenhub.config.ConfigLoader;
import io.tokenhub.testing.TestCluster;
import io.tokenhub.testing.TestDatabase;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * README, admin API: {@code POST /admin/v1/reload} "applies the providers, models, prices and
 * {@code billing}"; the sections it does not apply are listed in {@code restart_required}. A reload
 * that changes {@code billing.node_share} must either apply it or say that it waits for a restart:
 * never answer as if applied while the node keeps the share it started with.
 */
class ReloadBillingIT {

    private static final String MASTER_KEY = "test-master-key-0123456789";
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
    private static final String YAML = """
        server: { port: 0, management_port: 0, instances: 1, max_body_bytes: 65536, shutdown_grace_ms: 5000 }
        admin: { master_key: "%s", bootstrap: false }
        storage: { postgres: "%s", redis: "%s", data_dir: "%s", pool_size: 4 }
        accounting: { batch_size: 100, flush_ms: 20 }
        billing: { signup_credit_usd: 100, node_share: %s }
        providers: [ { id: mock, type: mock } ]
        models: [ { id: mock-chat, deployments: [ { provider: mock, model: mock-chat-1 } ] } ]
        """;

    @Test
    void aReloadThatChangesTheNodeShareAppliesItOrSaysItWaitsForARestart() throws Exception {
        try (TestDatabase database = TestDatabase.create()) {
            Path dir = Files.createTempDirectory("tokenhub-reload-billing");
            Path file = dir.resolve("tokenhub.yaml");
            Files.writeString(file, YAML.formatted(MASTER_KEY, database.url(), TestCluster.REDIS, dir, "0.1"));
            TokenHub hub = TokenHub.start(new ConfigLoader(name -> null).load(file), file);
            try {
                // Given a node started with a node share of 0.1: a busy key's requests reserve against it
                burst(hub, newKey(hub));
                double withShare = nodeShareReservations(hub);
                assertThat(withShare).as("control: with node_share 0.1 a busy key reserves against the node's share")
                    .isPositive();

                // When the file says node_share: 0 (every request reserves in Redis) and is reloaded
                Files.writeString(file, YAML.formatted(MASTER_KEY, database.url(), TestCluster.REDIS, dir, "0"));
                HttpResponse<String> reload = send(hub, "POST", "/admin/v1/reload", MASTER_KEY, null);
                assertThat(reload.statusCode()).as(reload.body()).isEqualTo(200);
                JsonArray restartRequired = new JsonObject(reload.body()).getJsonArray("restart_required");

                // Then either the reload says billing waits for a restart, or no request of a busy key
                // reserves against a node share any more
                burst(hub, newKey(hub));
                double after = nodeShareReservations(hub);
                assertThat(restartRequired.contains("billing") || after == withShare)
                    .as("reload answered %s, yet %s more reservations were made against the node's share "
                        + "after node_share was reloaded as 0", reload.body(), after - withShare)
                    .isTrue();
            } finally {
                hub.close();
            }
        }
    }

    /** Forty requests of one key back to back: a busy key, as a node share needs. */
    private static void burst(TokenHub hub, String key) {
        for (int i = 0; i < 40; i++) {
            HttpResponse<String> answer = send(hub, "POST", "/v1/chat/completions", key,
                "{\"model\":\"mock-chat\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
            assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
        }
    }

    private static String newKey(TokenHub hub) {
        JsonObject account = new JsonObject(send(hub, "POST", "/admin/v1/accounts", MASTER_KEY, new JsonObject()
            .put("name", "share").put("email", "share-" + System.nanoTime() + "@example.com").encode()).body());
        return new JsonObject(send(hub, "POST", "/admin/v1/keys", MASTER_KEY, new JsonObject()
            .put("account_id", account.getString("id")).put("name", "k").encode()).body()).getString("key");
    }

    private static double nodeShareReservations(TokenHub hub) {
        HttpResponse<String> metrics = HTTP_GET("http://127.0.0.1:" + hub.managementPort() + "/metrics");
        return metrics.body().lines().filter(l -> l.startsWith("tokenhub_reservations_node_share_total "))
            .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).findFirst().orElse(0);
    }

    private static HttpResponse<String> HTTP_GET(String url) {
        try {
            return HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static HttpResponse<String> send(TokenHub hub, String method, String path, String bearer, String body) {
        try {
            return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + hub.apiPort() + path))
                .timeout(Duration.ofSeconds(30)).header("Authorization", "Bearer " + bearer)
                .header("Content-Type", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                    : HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
