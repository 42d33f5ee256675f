package io.tokenhub.routing;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeOpenAiUpstream.Fault;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code POST /admin/v1/reload} and what routing holds: breakers take the new settings, and requests
 * in flight when a provider is taken away end as routing outcomes, not as a gateway's failure.
 */
class ReloadRoutingIT {

    private static final String CHAT = "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    private static final String FAST_RESET = ", circuit_breaker: { max_failures: 1, window_ms: 60000, reset_ms: 300 }";
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private Vertx vertx;
    private FakeOpenAiUpstream up1;
    private FakeOpenAiUpstream up2;
    private TestGateway gateway;
    private String key;

    @BeforeEach
    void upstreams() {
        vertx = Vertx.vertx();
        up1 = new FakeOpenAiUpstream(vertx, "m").start();
        up2 = new FakeOpenAiUpstream(vertx, "m").start();
    }

    @AfterEach
    void stop() {
        if (gateway != null) {
            gateway.close();
        }
        vertx.close();
    }

    private void start(String catalog) {
        gateway = TestGateway.reloadable(catalog, "");
        key = gateway.newKey();
    }

    private HttpResponse<String> chat(String model) {
        return gateway.post("/v1/chat/completions", key, CHAT.formatted(model));
    }

    /** A request left waiting while the test changes things under it. */
    private CompletableFuture<HttpResponse<String>> chatAsync(String model) {
        return HTTP.sendAsync(HttpRequest.newBuilder(URI.create(gateway.url("/v1/chat/completions")))
            .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(CHAT.formatted(model))).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> join(CompletableFuture<HttpResponse<String>> answer) throws Exception {
        return answer.get(60, TimeUnit.SECONDS);
    }

    private String oneProvider(int maxFailures) {
        return """
            providers:
              - { id: p1, type: openai, base_url: "%s", circuit_breaker: { max_failures: %d, window_ms: 60000, reset_ms: 60000 } }
            models:
              - { id: m, deployments: [ { provider: p1, model: m } ] }
            """.formatted(up1.baseUrl(), maxFailures);
    }

    /** p1 first, and p2 after it when {@code withP2}, with {@code p2Settings} added to p2's. */
    private String twoProviders(boolean withP2, String p2Settings) {
        return """
            providers:
              - { id: p1, type: openai, base_url: "%s", timeouts: { connect_ms: 2000, first_byte_ms: 60000, idle_ms: 60000 } }
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

    private String circuit(String provider, String deployment) {
        return gateway.adminOk("GET", "/admin/v1/upstreams", null).getJsonArray("data").stream()
            .map(JsonObject.class::cast)
            .filter(u -> provider.equals(u.getString("provider")) && deployment.equals(u.getString("deployment")))
            .map(u -> u.getString("circuit_state")).findFirst().orElse("absent");
    }

    @Test
    void aReloadedCircuitBreakerSettingApplies() {
        // Given a deployment whose circuit opens after 5 failures, called once
        start(oneProvider(5));
        assertThat(chat("m").statusCode()).isEqualTo(200);

        // When the operator lowers max_failures to 1 and reloads (nothing to restart, the answer says)
        assertThat(gateway.reload(oneProvider(1)).getJsonArray("restart_required")).isEmpty();
        up1.reset();
        up1.fault = Fault.STATUS;
        up1.status = 500;

        // Then one failure opens the circuit: the next request does not reach the upstream
        assertThat(chat("m").statusCode()).isEqualTo(502);
        HttpResponse<String> second = chat("m");
        assertThat(up1.requests()).as("calls the failing upstream received").hasSize(1);
        assertThat(second.statusCode()).isEqualTo(503);
    }

    @Test
    void aRequestInFlightDuringAReloadThatRemovesItsNextProviderIsNotAnInternalError() throws Exception {
        start(twoProviders(true, ""));
        // Given a request waiting on its first candidate
        up1.fault = Fault.HANG;
        CompletableFuture<HttpResponse<String>> inFlight = chatAsync("m");
        TestGateway.eventually(() -> up1.requests().size() == 1, 10_000, "the first candidate called");

        // When the operator reloads a file without the second provider, then the first candidate fails
        gateway.reload(twoProviders(false, ""));
        up1.stop(); // closes the hung connection: a connection failure, a provider fault

        // Then the request in flight ends as a routing outcome, not as a gateway bug (a 500): p2, never
        // called by this node, has no client to call it with now, so p1's failure is the answer
        HttpResponse<String> answer = join(inFlight);
        assertThat(answer.statusCode()).as(answer.body()).isEqualTo(502);
        assertThat(up2.requests()).isEmpty();
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
        gateway.reload(twoProviders(false, FAST_RESET));
        up1.stop();

        // Then it goes on to p2 under the catalog it started with: its trial, answered, closes the circuit
        assertThat(join(inFlight).statusCode()).isEqualTo(200);
        assertThat(up2.requests()).hasSize(1);

        // And p2 put back is called again
        gateway.reload(twoProviders(true, FAST_RESET));
        TestGateway.eventually(() -> chat("p2/m").statusCode() == 200, 10_000, "p2 answering again");
        assertThat(circuit("p2", "m")).isEqualTo("closed");
    }
}
