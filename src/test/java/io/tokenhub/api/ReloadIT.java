package io.tokenhub.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.config.TokenHubConfig.Pricing;
import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeOpenAiUpstream.Fault;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code POST /admin/v1/reload}, as an operator changing a live gateway meets it: what applies to the
 * next request, what requests and streams in flight keep, what breakers and metrics hold, and what a
 * bad file changes (nothing).
 */
class ReloadIT {

    private static final String CHAT = "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    private static final String FAST_RESET = ", circuit_breaker: { max_failures: 1, window_ms: 60000, reset_ms: 300 }";
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private static final String STREAM =
        "{\"model\":\"%s\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

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
        up1.stop();
        up2.stop();
        vertx.close();
    }

    private void start(String catalog) {
        gateway = TestGateway.reloadable(catalog, "");
        key = gateway.newKey();
    }

    private HttpResponse<String> chat(String model) {
        return gateway.post("/v1/chat/completions", key, CHAT.formatted(model));
    }

    private String p1(String extra) {
        return "  - { id: p1, type: openai, base_url: \"" + up1.baseUrl() + "\"" + extra + " }\n";
    }

    private String p2(String extra) {
        return "  - { id: p2, type: openai, base_url: \"" + up2.baseUrl() + "\"" + extra + " }\n";
    }

    private String upstreamsShown() {
        JsonArray data = gateway.adminOk("GET", "/admin/v1/upstreams", null).getJsonArray("data");
        return data.stream().map(JsonObject.class::cast)
            .map(u -> u.getString("provider") + "/" + u.getString("deployment") + "=" + u.getString("circuit_state"))
            .sorted().toList().toString();
    }

    private String metrics() {
        try {
            return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build().send(HttpRequest.newBuilder(
                URI.create(gateway.managementUrl("/metrics"))).timeout(java.time.Duration.ofSeconds(30)).GET().build(),
                HttpResponse.BodyHandlers.ofString()).body();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private Map<String, Object> record(String requestId) {
        TestGateway.eventually(() -> gateway.database().count(
            "SELECT count(*) FROM usage_records WHERE request_id = ?", requestId) == 1, 10_000, "record " + requestId);
        return gateway.database().query("SELECT * FROM usage_records WHERE request_id = ?", requestId).get(0);
    }

    @Test
    void aStreamInFlightFinishesOnTheOldPriceAndKeyWhileTheNextRequestUsesTheNewOnes() {
        String v1 = "providers:\n" + p1(", api_key: key-one") + """
            models:
              - id: m
                pricing: { input: 1, output: 2 }
                deployments: [ { provider: p1, model: m } ]
            """;
        String v2 = "providers:\n" + p1(", api_key: key-two") + """
            models:
              - id: m
                pricing: { input: 10, output: 20 }
                deployments: [ { provider: p1, model: m } ]
            """;
        start(v1);
        up1.fault = Fault.PAUSE;
        up1.faultAfter = 2;
        try (CancellationIT.RawClient raw = CancellationIT.RawClient.post(gateway.hub().apiPort(), key,
            STREAM.formatted("m"))) {
            assertThat(raw.status()).isEqualTo(200);
            String streamId = raw.header("X-Request-Id");
            raw.readUntil("Hello");

            // When the operator changes price and key and reloads while the stream is held
            assertThat(gateway.reload(v2).getJsonArray("restart_required")).isEmpty();
            HttpResponse<String> next = chat("m");
            assertThat(next.statusCode()).as(next.body()).isEqualTo(200);
            assertThat(up1.lastRequest().headers().get("Authorization")).isEqualTo("Bearer key-two");
            assertThat(new JsonObject(next.body()).getJsonObject("usage").getDouble("cost")).isEqualTo(0.00021);

            // Then the stream goes on to its end, whole
            up1.resume();
            String all = raw.readUntil("[DONE]");
            assertThat(all).contains(" upstream.").doesNotContain("\"error\"");
            assertThat(up1.requests().get(0).headers().get("Authorization")).isEqualTo("Bearer key-one");

            // And it is charged at the price it started with, that price's version recorded
            Map<String, Object> streamed = record(streamId);
            assertThat(((Number) streamed.get("cost_micro_usd")).longValue()).isEqualTo(21);
            assertThat(streamed.get("price_version")).isEqualTo(new Pricing(1, 1, 1, 2, 0).version());
            Map<String, Object> after = record(next.headers().firstValue("X-Request-Id").orElseThrow());
            assertThat(((Number) after.get("cost_micro_usd")).longValue()).isEqualTo(210);
            assertThat(after.get("price_version")).isEqualTo(new Pricing(10, 10, 10, 20, 0).version())
                .isNotEqualTo(streamed.get("price_version"));
        }
    }

    @Test
    void aStreamInFlightOnAProviderAReloadRemovesEndsWholeAndNewRequestsGoToTheNewOne() {
        String v1 = "providers:\n" + p1("") + p2("") + """
            models:
              - id: m
                deployments: [ { provider: p1, model: m } ]
            """;
        String v2 = "providers:\n" + p2("") + """
            models:
              - id: m
                deployments: [ { provider: p2, model: m } ]
            """;
        start(v1);
        up1.fault = Fault.PAUSE;
        up1.faultAfter = 2;
        try (CancellationIT.RawClient raw = CancellationIT.RawClient.post(gateway.hub().apiPort(), key,
            STREAM.formatted("m"))) {
            String streamId = raw.header("X-Request-Id");
            raw.readUntil("Hello");
            gateway.reload(v2);

            HttpResponse<String> next = chat("m");
            assertThat(next.statusCode()).isEqualTo(200);
            assertThat(next.headers().firstValue("X-TokenHub-Provider")).hasValue("p2");
            assertThat(upstreamsShown()).isEqualTo("[p2/m=closed]");
            assertThat(metrics()).doesNotContain("tokenhub_circuit_state{deployment=\"m\",provider=\"p1\"}")
                .contains("tokenhub_circuit_state{deployment=\"m\",provider=\"p2\"}");

            up1.resume();
            assertThat(raw.readUntil("[DONE]")).contains(" upstream.").doesNotContain("\"error\"");
            assertThat(record(streamId)).containsEntry("provider", "p1").containsEntry("status", 200);
        }
    }

    @Test
    void aBadFileIsRefusedWithItsProblemsAndTheCatalogInForceKeepsServing() throws Exception {
        String good = "providers:\n" + p1("") + """
            models:
              - id: m
                pricing: { input: 1, output: 2 }
                deployments: [ { provider: p1, model: m } ]
            """;
        start(good);
        Map<String, String> bad = new java.util.LinkedHashMap<>();
        bad.put("providers:\n" + p1("") + "models:\n  - id: m\n    pricing: { input: 1, output: 2 \n"
            + "    deployments: [ { provider: p1, model: m } ]\n", "not valid YAML");
        bad.put(good.replace("input: 1", "input: -5"), "models[0].pricing.input: must be a non-negative number, not -5");
        bad.put(good + "  - id: m\n    deployments: [ { provider: p1, model: m } ]\n", "duplicate model id 'm'");
        bad.put(good.replace("provider: p1", "provider: nope"), "unknown provider 'nope'");
        bad.put(good.replace("providers:\n", "providers:\n" + p1("")), "duplicate provider id 'p1'");
        bad.put(good + "models: []\n", "not valid YAML");
        for (Map.Entry<String, String> file : bad.entrySet()) {
            Files.writeString(gateway.configFile(), """
                server: { port: 0, management_port: 0, instances: 1, max_body_bytes: 65536, shutdown_grace_ms: 5000 }
                admin: { master_key: "%s", bootstrap: false }
                storage: { postgres: "%s", redis: none, data_dir: "%s", pool_size: 4 }
                accounting: { batch_size: 100, flush_ms: 20 }
                billing: { signup_credit_usd: 100 }
                """.formatted(TestGateway.MASTER_KEY, gateway.database().url(), gateway.configFile().getParent())
                + file.getKey());
            HttpResponse<String> answer = gateway.admin("POST", "/admin/v1/reload", null);
            assertThat(answer.statusCode()).as(answer.body()).isEqualTo(400);
            JsonObject error = new JsonObject(answer.body()).getJsonObject("error");
            assertThat(error.getString("type")).isEqualTo("invalid_request_error");
            assertThat(error.getString("message")).contains(file.getValue());

            HttpResponse<String> still = chat("m");
            assertThat(still.statusCode()).isEqualTo(200);
            assertThat(new JsonObject(still.body()).getJsonObject("usage").getDouble("cost")).isEqualTo(0.000021);
        }
        // A file gone
        Files.delete(gateway.configFile());
        HttpResponse<String> gone = gateway.admin("POST", "/admin/v1/reload", null);
        assertThat(gone.statusCode()).as(gone.body()).isBetween(400, 599);
        assertThat(new JsonObject(gone.body()).getJsonObject("error").getString("message")).contains("cannot read");
        assertThat(chat("m").statusCode()).isEqualTo(200);
    }

    @Test
    void weightsPrioritiesAndFallbacksChangedByAReloadApplyToTheNextRequests() {
        String weighted = "providers:\n" + p1("") + p2("") + """
            models:
              - id: m
                deployments: [ { provider: p1, model: m, weight: %d }, { provider: p2, model: m, weight: %d } ]
            """;
        start(weighted.formatted(1, 0));
        Set<String> served = new HashSet<>();
        for (int i = 0; i < 6; i++) {
            served.add(chat("m").headers().firstValue("X-TokenHub-Provider").orElseThrow());
        }
        assertThat(served).containsExactly("p1");
        gateway.reload(weighted.formatted(0, 1));
        served.clear();
        for (int i = 0; i < 6; i++) {
            served.add(chat("m").headers().firstValue("X-TokenHub-Provider").orElseThrow());
        }
        assertThat(served).containsExactly("p2");

        String priorities = "providers:\n" + p1("") + p2("") + """
            models:
              - id: m
                deployments: [ { provider: p1, model: m, priority: 1 }, { provider: p2, model: m, priority: 0 } ]
              - id: a
                deployments: [ { provider: p1, model: a } ]
                %s
            """;
        gateway.reload(priorities.formatted(""));
        assertThat(chat("m").headers().firstValue("X-TokenHub-Provider")).hasValue("p2");

        up1.fault = Fault.STATUS;
        up1.status = 500;
        assertThat(chat("a").statusCode()).isEqualTo(502);
        gateway.reload(priorities.formatted("fallbacks: [ m ]"));
        HttpResponse<String> fellBack = chat("a");
        assertThat(fellBack.statusCode()).as(fellBack.body()).isEqualTo(200);
        assertThat(fellBack.headers().firstValue("X-TokenHub-Provider")).hasValue("p2");
    }

    @Test
    void modelsAddedRemovedAndRepricedShowInTheModelsList() {
        String v1 = "providers:\n" + p1("") + """
            models:
              - id: m
                aliases: [ m-latest ]
                pricing: { input: 1, output: 2 }
                deployments: [ { provider: p1, model: m } ]
              - id: old
                deployments: [ { provider: p1, model: old } ]
            """;
        String v2 = "providers:\n" + p1("") + """
            models:
              - id: m
                pricing: { input: 3, output: 4 }
                deployments: [ { provider: p1, model: m } ]
              - id: new
                deployments: [ { provider: p1, model: new } ]
            """;
        start(v1);
        JsonObject answer = gateway.reload(v2);
        assertThat(answer.getInteger("models")).isEqualTo(2);
        JsonArray data = new JsonObject(gateway.get("/v1/models", key).body()).getJsonArray("data");
        assertThat(data.stream().map(JsonObject.class::cast).map(o -> o.getString("id")).toList())
            .containsExactlyInAnyOrder("m", "new");
        JsonObject m = new JsonObject(gateway.get("/v1/models/m", key).body());
        assertThat(m.getJsonObject("pricing").getDouble("input")).isEqualTo(3.0);
        assertThat(gateway.get("/v1/models/old", key).statusCode()).isEqualTo(404);
        assertThat(chat("old").statusCode()).isEqualTo(404);
        assertThat(chat("m-latest").statusCode()).isEqualTo(404);
        assertThat(chat("new").statusCode()).isEqualTo(200);
        assertThat(upstreamsShown()).isEqualTo("[p1/m=closed, p1/new=closed]");
    }

    @Test
    void aModelRateLimitRaisedByAReloadAppliesAtOnce() {
        String limited = "providers:\n" + p1("") + """
            models:
              - id: m
                limits: { rpm: %d }
                deployments: [ { provider: p1, model: m } ]
            """;
        start(limited.formatted(1));
        assertThat(chat("m").statusCode()).isEqualTo(200);
        HttpResponse<String> refused = chat("m");
        assertThat(refused.statusCode()).isEqualTo(429);
        gateway.reload(limited.formatted(1000));
        HttpResponse<String> now = chat("m");
        assertThat(now.statusCode()).as(now.body()).isEqualTo(200);
        assertThat(now.headers().firstValue("x-ratelimit-limit-requests")).hasValue("1000");
    }

    @Test
    void aShorterTimeoutGivenByAReloadApplies() {
        String timed = "providers:\n" + p1(", timeouts: { connect_ms: 2000, first_byte_ms: %d, idle_ms: 60000 }") + """
            models:
              - id: m
                deployments: [ { provider: p1, model: m } ]
            """;
        start(timed.formatted(600000));
        assertThat(chat("m").statusCode()).isEqualTo(200);
        gateway.reload(timed.formatted(300));
        up1.fault = Fault.HANG;
        HttpResponse<String> answer = chat("m");
        assertThat(answer.statusCode()).as(answer.body()).isEqualTo(504);
    }

    @Test
    void anOpenCircuitStaysOpenAcrossAReloadThatChangesOnlyPrices() {
        String v = "providers:\n" + p1(", circuit_breaker: { max_failures: 1, window_ms: 60000, reset_ms: 600000 }") + """
            models:
              - id: m
                pricing: { input: %d, output: 1 }
                deployments: [ { provider: p1, model: m } ]
            """;
        start(v.formatted(1));
        up1.fault = Fault.STATUS;
        up1.status = 500;
        assertThat(chat("m").statusCode()).isEqualTo(502);
        assertThat(upstreamsShown()).isEqualTo("[p1/m=open]");
        gateway.reload(v.formatted(2));
        assertThat(upstreamsShown()).isEqualTo("[p1/m=open]");
        assertThat(metrics()).contains("tokenhub_circuit_state{deployment=\"m\",provider=\"p1\"} 2.0");
        up1.reset();
        assertThat(chat("m").statusCode()).isEqualTo(503);
        assertThat(up1.requests()).isEmpty();
    }

    @Test
    void aDeploymentRemovedThenPutBackIsShownAndExportedAgain() {
        String both = "providers:\n" + p1("") + p2("") + """
            models:
              - id: m
                deployments: [ { provider: p1, model: m } ]
              - id: n
                deployments: [ { provider: p2, model: n } ]
            """;
        String one = "providers:\n" + p1("") + """
            models:
              - id: m
                deployments: [ { provider: p1, model: m } ]
            """;
        start(both);
        assertThat(chat("n").statusCode()).isEqualTo(200);
        gateway.reload(one);
        assertThat(metrics()).doesNotContain("tokenhub_circuit_state{deployment=\"n\",provider=\"p2\"}");
        gateway.reload(both);
        assertThat(upstreamsShown()).isEqualTo("[p1/m=closed, p2/n=closed]");
        assertThat(metrics()).contains("tokenhub_circuit_state{deployment=\"n\",provider=\"p2\"} 0.0");
        assertThat(chat("n").statusCode()).isEqualTo(200);
    }

    @Test
    void theReloadAnswerTellsOfWhatTheFileHasThatIsIgnored() {
        String v = "providers:\n" + p1("") + """
            models:
              - id: m
                deployments: [ { provider: p1, model: m } ]
                fallback: [ other ]
            """;
        start("providers:\n" + p1("") + "models:\n  - id: m\n    deployments: [ { provider: p1, model: m } ]\n");
        JsonObject answer = gateway.reload(v);
        // models[0].fallback is a typo of fallbacks: the operator who reloads is told only in the node's log
        assertThat(answer.encode()).as(answer.encode()).contains("fallback");
    }

    @Test
    void aProviderWhoseBaseUrlAReloadFixesIsCalledAtOnce() {
        String v = "providers:\n"
            + "  - { id: p1, type: openai, base_url: \"%s\", circuit_breaker: { max_failures: 1, window_ms: 60000, reset_ms: 600000 } }\n"
            + """
            models:
              - id: m
                deployments: [ { provider: p1, model: m } ]
            """;
        // Given a provider configured with a wrong URL (nothing listens there): its circuit opens
        start(v.formatted("http://127.0.0.1:9/v1"));
        assertThat(chat("m").statusCode()).isEqualTo(502);
        assertThat(upstreamsShown()).isEqualTo("[p1/m=open]");
        // When the operator fixes the URL and reloads
        gateway.reload(v.formatted(up1.baseUrl()));
        // Then the fixed provider is called, not skipped for up to reset_ms as the broken one was
        HttpResponse<String> answer = chat("m");
        assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
    }

    @Test
    void aReloadThatLeavesNoModelAtAllSaysSo() {
        start("providers:\n" + p1("") + "models:\n  - id: m\n    deployments: [ { provider: p1, model: m } ]\n");
        // Every model commented out (or the models: list emptied) by mistake
        try {
            String file = Files.readString(gateway.configFile());
            Files.writeString(gateway.configFile(), file.replace("  - id: m\n", "#  - id: m\n")
                .replace("    deployments:", "#    deployments:"));
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
        JsonObject answer = gateway.adminOk("POST", "/admin/v1/reload", null);
        // The file is applied (a catalog may be emptied on purpose), and the answer warns of it
        assertThat(answer.getInteger("models")).isZero();
        assertThat(answer.getJsonArray("warnings").encode()).contains("models: none");
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
