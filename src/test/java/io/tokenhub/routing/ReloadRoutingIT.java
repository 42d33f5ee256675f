package io.tokenhub.routing;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.TokenHub;
import io.tokenhub.config.ConfigLoader;
import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeOpenAiUpstream.Fault;
import io.tokenhub.testing.TestDatabase;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code POST /admin/v1/reload} and what routing holds: breakers take the new settings, and requests
 * in flight when a provider is taken away end as routing outcomes. A gateway started from a file, as
 * a reload reads one.
 */
class ReloadRoutingIT {

    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();

    Vertx vertx;
    FakeOpenAiUpstream up1;
    FakeOpenAiUpstream up2;
    TestDatabase database;
    Path dir;
    Path file;
    TokenHub hub;
    String key;

    @BeforeEach
    void upstreams() {
        vertx = Vertx.vertx();
        up1 = new FakeOpenAiUpstream(vertx, "m").start();
        up2 = new FakeOpenAiUpstream(vertx, "m").start();
    }

    @AfterEach
    void stop() {
        if (hub != null) {
            hub.close();
        }
        if (database != null) {
            database.close();
        }
        try {
            up1.stop();
        } catch (RuntimeException ignored) {
            // stopped by the test
        }
        up2.stop();
        vertx.close();
    }

    private void start(String catalog) throws Exception {
        database = TestDatabase.create();
        dir = Files.createTempDirectory("review-reload");
        file = dir.resolve("tokenhub.yaml");
        Files.writeString(file, yaml(catalog));
        hub = TokenHub.start(new ConfigLoader(n -> null).load(file), file);
        JsonObject account = adminOk("POST", "/admin/v1/accounts",
            new JsonObject().put("name", "r").put("email", "r-" + System.nanoTime() + "@example.com"));
        key = adminOk("POST", "/admin/v1/keys", new JsonObject().put("account_id", account.getString("id"))
            .put("name", "k")).getString("key");
    }

    private String yaml(String catalog) {
        return """
            server: { port: 0, management_port: 0, instances: 1, max_body_bytes: 65536, shutdown_grace_ms: 5000 }
            admin: { master_key: "%s", bootstrap: false }
            storage: { postgres: "%s", redis: none, data_dir: "%s", pool_size: 4 }
            accounting: { batch_size: 100, flush_ms: 20 }
            billing: { signup_credit_usd: 100 }
            %s
            """.formatted(TestGateway.MASTER_KEY, database.url(), dir, catalog);
    }

    private void reload(String catalog) throws Exception {
        Files.writeString(file, yaml(catalog));
        adminOk("POST", "/admin/v1/reload", null);
    }

    private JsonObject adminOk(String method, String path, JsonObject body) {
        HttpResponse<String> r = join(HTTP.sendAsync(HttpRequest.newBuilder(URI.create(url(path)))
            .header("Authorization", "Bearer " + TestGateway.MASTER_KEY).header("Content-Type", "application/json")
            .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(body.encode())).build(), HttpResponse.BodyHandlers.ofString()));
        assertThat(r.statusCode()).as(r.body()).isBetween(200, 299);
        return new JsonObject(r.body());
    }

    private String url(String path) {
        return "http://127.0.0.1:" + hub.apiPort() + path;
    }

    private CompletableFuture<HttpResponse<String>> chatAsync(String model) {
        return HTTP.sendAsync(HttpRequest.newBuilder(URI.create(url("/v1/chat/completions")))
            .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(new JsonObject().put("model", model).put("messages",
                new io.vertx.core.json.JsonArray().add(new JsonObject().put("role", "user").put("content", "hi")))
                .encode())).build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> chat(String model) {
        return join(chatAsync(model));
    }

    private static <T> T join(CompletableFuture<T> f) {
        try {
            return f.get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private String breakerCatalog(int maxFailures) {
        return """
            providers:
              - id: p1
                type: openai
                base_url: "%s"
                circuit_breaker: { max_failures: %d, window_ms: 60000, reset_ms: 60000 }
            models:
              - id: m
                deployments: [ { provider: p1, model: m } ]
            """.formatted(up1.baseUrl(), maxFailures);
    }

    @Test
    void aReloadedCircuitBreakerSettingApplies() throws Exception {
        start(breakerCatalog(5));
        assertThat(chat("m").statusCode()).isEqualTo(200); // the deployment's health exists (as in production)

        // The operator lowers max_failures to 1 and reloads: the answer says nothing needs a restart
        reload(breakerCatalog(1));
        up1.reset();
        up1.fault = Fault.STATUS;
        up1.status = 500;

        assertThat(chat("m").statusCode()).isEqualTo(502);
        // With max_failures: 1 the circuit is open now: the next request must not reach the upstream
        HttpResponse<String> second = chat("m");
        assertThat(up1.requests()).as("calls the failing upstream received").hasSize(1);
        assertThat(second.statusCode()).isEqualTo(503);
    }

    private static final String FAST_RESET = ", circuit_breaker: { max_failures: 1, window_ms: 60000, reset_ms: 300 }";

    /** p1 first, and p2 after it when {@code withP2}, with {@code p2Settings} added to p2's. */
    private String twoProviders(boolean withP2, String p2Settings) {
        return """
            providers:
              - id: p1
                type: openai
                base_url: "%s"
                timeouts: { connect_ms: 2000, first_byte_ms: 60000, idle_ms: 60000 }
            %s
            models:
              - id: m
                deployments:
                  - { provider: p1, model: m, priority: 0 }
            %s
            """.formatted(up1.baseUrl(),
                withP2 ? "  - { id: p2, type: openai, base_url: \"" + up2.baseUrl() + "\"" + p2Settings + " }" : "",
                withP2 ? "      - { provider: p2, model: m, priority: 1 }" : "");
    }

    @Test
    void aRequestInFlightDuringAReloadThatRemovesItsNextProviderIsNotAnInternalError() throws Exception {
        start(twoProviders(true, ""));
        // Given a request waiting on its first candidate
        up1.fault = Fault.HANG;
        CompletableFuture<HttpResponse<String>> inFlight = chatAsync("m");
        TestGateway.eventually(() -> up1.requests().size() == 1, 10_000, "the first candidate called");

        // When the operator reloads a file without the second provider, then the first candidate fails
        reload(twoProviders(false, ""));
        up1.stop(); // closes the hung connection: a connection failure, a provider fault

        // Then the request in flight ends as a routing outcome, not as a gateway bug (a 500): p2, never
        // called by this node, has no client to call it with now, so p1's failure is the answer
        HttpResponse<String> answer = join(inFlight);
        assertThat(answer.statusCode()).as(answer.body()).isEqualTo(502);
        assertThat(up2.requests()).isEmpty();
    }

    private String circuit(String provider, String deployment) {
        return adminOk("GET", "/admin/v1/upstreams", null).getJsonArray("data").stream()
            .map(JsonObject.class::cast)
            .filter(u -> provider.equals(u.getString("provider")) && deployment.equals(u.getString("deployment")))
            .map(u -> u.getString("circuit_state")).findFirst().orElse("absent");
    }

    @Test
    void aRequestInFlightWhenAReloadTakesAHalfOpenProviderAwayStillTriesItAndItIsCalledOnceBack() throws Exception {
        start(twoProviders(true, FAST_RESET));
        // Given p2's circuit opened by one failure, and half-open after reset_ms
        up2.fault = Fault.STATUS;
        up2.status = 500;
        assertThat(chat("p2/m").statusCode()).isEqualTo(502);
        TestGateway.eventually(() -> circuit("p2", "m").equals("half_open"), 10_000, "p2 half-open");
        up2.reset();
        // And a request waiting on p1 when a reload takes p2 away, then p1 failing
        up1.fault = Fault.HANG;
        CompletableFuture<HttpResponse<String>> inFlight = chatAsync("m");
        TestGateway.eventually(() -> up1.requests().size() == 1, 10_000, "the first candidate called");
        reload(twoProviders(false, FAST_RESET));
        up1.stop();
        // Then it goes on to p2 under the catalog it started with: its trial, answered, closes the circuit
        assertThat(join(inFlight).statusCode()).isEqualTo(200);
        assertThat(up2.requests()).hasSize(1);

        // And p2 put back is called again
        reload(twoProviders(true, FAST_RESET));
        TestGateway.eventually(() -> chat("p2/m").statusCode() == 200, 10_000, "p2 answering again");
        assertThat(circuit("p2", "m")).isEqualTo("closed");
    }
}
