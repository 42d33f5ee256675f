package io.tokenhub.routing;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeOpenAiUpstream.Fault;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Per-upstream circuit breakers (PRODUCT.md §2, §9): {@code max_failures} consecutive provider
 * failures open the circuit, so the upstream sees exactly that many failing calls and then none
 * until {@code reset_ms} has passed; then one trial call decides. An error rate of 50 % over at
 * least 20 calls opens it too, even when failures never come in a row. A stream is a failure when it
 * breaks off, and a trial stream decides when it ends. Each scenario has its own deployment, hence
 * its own breaker.
 */
class CircuitBreakerIT {

    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private static final int MAX_FAILURES = 3;
    private static final long RESET_MS = 1_500;
    /** Generous bound for the half-open transition, which happens RESET_MS after opening. */
    private static final long HALF_OPEN_WITHIN_MS = RESET_MS + 8_000;

    static Vertx vertx;
    static FakeOpenAiUpstream solo;
    static FakeOpenAiUpstream primary;
    static FakeOpenAiUpstream secondary;
    static FakeOpenAiUpstream flaky;
    static TestGateway gateway;
    static String key;

    @BeforeAll
    static void start() {
        vertx = Vertx.vertx();
        solo = new FakeOpenAiUpstream(vertx, "solo-model").start();
        primary = new FakeOpenAiUpstream(vertx, "primary-model").start();
        secondary = new FakeOpenAiUpstream(vertx, "secondary-model").start();
        flaky = new FakeOpenAiUpstream(vertx, "flaky-model").start();
        String small = """
            timeouts: { connect_ms: 500, first_byte_ms: 400, idle_ms: 1000 }
                circuit_breaker: { max_failures: %d, window_ms: 10000, reset_ms: %d }"""
            .formatted(MAX_FAILURES, RESET_MS);
        gateway = TestGateway.start("""
            providers:
              - id: solo
                type: openai
                base_url: "%1$s"
                %5$s
              - id: primary
                type: openai
                base_url: "%2$s"
                %5$s
              - id: secondary
                type: openai
                base_url: "%3$s"
                %5$s
              - id: flaky
                type: openai
                base_url: "%4$s"
                timeouts: { connect_ms: 500, first_byte_ms: 400, idle_ms: 1000 }
                circuit_breaker: { max_failures: 5, window_ms: 10000, reset_ms: 60000 }
              - id: patient
                type: openai
                base_url: "%1$s"
                timeouts: { connect_ms: 500, first_byte_ms: 400, idle_ms: 60000 }
                circuit_breaker: { max_failures: %6$d, window_ms: 10000, reset_ms: %7$d }
            models:
              - id: only
                deployments: [ { provider: solo, model: only } ]
              - id: retrial
                deployments: [ { provider: solo, model: retrial } ]
              - id: crowd
                deployments: [ { provider: solo, model: crowd } ]
              - id: dropping
                deployments: [ { provider: solo, model: dropping } ]
              - id: broken-trial
                deployments: [ { provider: solo, model: broken-trial } ]
              - id: paused-trial
                deployments: [ { provider: patient, model: paused-trial } ]
              - id: abandoned-trial
                deployments: [ { provider: patient, model: abandoned-trial } ]
              - id: backed
                deployments:
                  - { provider: primary, model: backed, priority: 0 }
                  - { provider: secondary, model: backed, priority: 1 }
              - id: flaky
                deployments: [ { provider: flaky, model: flaky } ]
            """.formatted(solo.baseUrl(), primary.baseUrl(), secondary.baseUrl(), flaky.baseUrl(), small,
                MAX_FAILURES, RESET_MS), "");
        key = gateway.newKey();
    }

    @AfterAll
    static void stop() {
        gateway.close();
        solo.stop();
        primary.stop();
        secondary.stop();
        flaky.stop();
        vertx.close();
    }

    @BeforeEach
    void healthyUpstreams() {
        solo.reset();
        primary.reset();
        secondary.reset();
        flaky.reset();
    }

    @Test
    void onlyDeploymentOpensAfterMaxFailuresThenIsAnswered503WithoutACallUntilOneTrialClosesIt() {
        // Given the only deployment of the model fails
        failWith500(solo);

        // When max_failures requests fail
        for (int i = 0; i < MAX_FAILURES; i++) {
            assertThat(chat("only").statusCode()).isEqualTo(502);
        }

        // Then the upstream saw exactly max_failures calls, and further requests never reach it
        assertThat(solo.requests()).hasSize(MAX_FAILURES);
        for (int i = 0; i < 2; i++) {
            HttpResponse<String> refused = chat("only");
            assertThat(refused.statusCode()).isEqualTo(503);
            assertThat(error(refused).getString("code")).isEqualTo("no_healthy_upstream");
            assertThat(refused.headers().firstValue("Retry-After")).hasValueSatisfying(seconds ->
                assertThat(Long.parseLong(seconds)).isBetween(1L, (RESET_MS + 999) / 1000));
            // recorded naming no upstream, since none was called
            Map<String, Object> row = usageRecord(refused);
            assertThat(row.get("status")).isEqualTo(503);
            assertThat(row.get("provider")).isNull();
            assertThat(row.get("deployment")).isNull();
            assertThat(row.get("served_model")).isNull();
        }
        assertThat(solo.requests()).hasSize(MAX_FAILURES);
        // And the admin API and the metrics show the circuit open
        JsonObject upstream = upstream("solo", "only");
        assertThat(upstream.getString("circuit_state")).isIn("open", "half_open");
        assertThat(circuitGauge("solo", "only")).isIn(2.0, 1.0);

        // When the upstream is healthy again and reset_ms has passed
        solo.fault = Fault.NONE;
        awaitState("solo", "only", "half_open");
        assertThat(circuitGauge("solo", "only")).isEqualTo(1.0);
        assertThat(solo.requests()).hasSize(MAX_FAILURES);
        HttpResponse<String> trial = chat("only");

        // Then exactly one trial call reached it, succeeded, and closed the circuit
        assertThat(trial.statusCode()).isEqualTo(200);
        assertThat(solo.requests()).hasSize(MAX_FAILURES + 1);
        assertThat(upstream("solo", "only").getString("circuit_state")).isEqualTo("closed");
        assertThat(circuitGauge("solo", "only")).isEqualTo(0.0);
        // And traffic flows again
        for (int i = 0; i < 3; i++) {
            assertThat(chat("only").statusCode()).isEqualTo(200);
        }
        assertThat(solo.requests()).hasSize(MAX_FAILURES + 4);
    }

    @Test
    void streamsThatBreakOffAfterTheirFirstContentAddUpToOpeningTheCircuit() {
        // Given the only deployment starts every stream well, then drops it after its first content
        solo.fault = Fault.DROP_MID_STREAM;
        solo.faultAfter = 2;

        // When max_failures streams in a row break off
        for (int i = 0; i < MAX_FAILURES; i++) {
            HttpResponse<String> broken = stream("dropping");
            assertThat(broken.statusCode()).isEqualTo(200);
            assertThat(broken.body()).contains("event: error");
        }
        // And each is counted once, as the failure it ended with, not as the success its start looked like
        assertThat(upstreamCalls("solo", "dropping", "success")).isZero();
        assertThat(upstreamCalls("solo", "dropping", "connection_error")).isEqualTo(MAX_FAILURES);

        // Then the circuit opens (each start was no success of its own), and the next request is not sent
        TestGateway.eventually(() -> !upstream("solo", "dropping").getString("circuit_state").equals("closed"),
            5_000, "the circuit to open");
        assertThat(chat("dropping").statusCode()).isEqualTo(503);
        assertThat(solo.requests()).hasSize(MAX_FAILURES);
    }

    @Test
    void failedTrialReopensTheCircuitForAnotherResetPeriod() {
        // Given the circuit of the only deployment opened on max_failures failures
        failWith500(solo);
        for (int i = 0; i < MAX_FAILURES; i++) {
            chat("retrial");
        }
        assertThat(chat("retrial").statusCode()).isEqualTo(503);
        assertThat(solo.requests()).hasSize(MAX_FAILURES);

        // When reset_ms has passed and the upstream still fails
        awaitState("solo", "retrial", "half_open");
        HttpResponse<String> trial = chat("retrial");

        // Then the one trial call reached it and failed, and the circuit is open again: no more calls
        assertThat(trial.statusCode()).isEqualTo(502);
        assertThat(solo.requests()).hasSize(MAX_FAILURES + 1);
        HttpResponse<String> refused = chat("retrial");
        assertThat(refused.statusCode()).isEqualTo(503);
        assertThat(error(refused).getString("code")).isEqualTo("no_healthy_upstream");
        assertThat(solo.requests()).hasSize(MAX_FAILURES + 1);

        // When it recovers and the next reset period has passed
        solo.fault = Fault.NONE;
        awaitState("solo", "retrial", "half_open");

        // Then the next trial closes the circuit
        assertThat(chat("retrial").statusCode()).isEqualTo(200);
        assertThat(solo.requests()).hasSize(MAX_FAILURES + 2);
        assertThat(upstream("solo", "retrial").getString("circuit_state")).isEqualTo("closed");
    }

    @Test
    void trialStreamThatBreaksOffReopensTheCircuitForAnotherResetPeriod() {
        // Given the only deployment starts every stream well, then drops it after its first content,
        // and max_failures such streams opened its circuit
        solo.fault = Fault.DROP_MID_STREAM;
        solo.faultAfter = 2;
        for (int i = 0; i < MAX_FAILURES; i++) {
            assertThat(stream("broken-trial").body()).contains("event: error");
        }
        assertThat(solo.requests()).hasSize(MAX_FAILURES);

        // When reset_ms has passed and the trial stream breaks off too
        awaitState("solo", "broken-trial", "half_open");
        HttpResponse<String> trial = stream("broken-trial");

        // Then that one trial call reached the upstream and the client's stream ended with an error event
        assertThat(trial.statusCode()).isEqualTo(200);
        assertThat(trial.body()).contains("event: error");
        assertThat(solo.requests()).hasSize(MAX_FAILURES + 1);
        // And the circuit is open again: its good start did not close it, and no more calls go through
        for (int i = 0; i < 2; i++) {
            HttpResponse<String> refused = stream("broken-trial");
            assertThat(refused.statusCode()).isEqualTo(503);
            assertThat(error(refused).getString("code")).isEqualTo("no_healthy_upstream");
        }
        assertThat(solo.requests()).hasSize(MAX_FAILURES + 1);
        assertThat(upstreamCalls("solo", "broken-trial", "connection_error")).isEqualTo(MAX_FAILURES + 1);
    }

    @Test
    void trialStreamIsTheOneCallWhileItRunsAndClosesTheCircuitWhenItCompletes() throws Exception {
        // When the trial stream of a half-open circuit has started, and the upstream holds back the rest
        HttpResponse<InputStream> trial = startPausedTrialStream("paused-trial");

        // Then while it runs the circuit stays half-open and refuses any other call
        assertThat(upstream("patient", "paused-trial").getString("circuit_state")).isEqualTo("half_open");
        assertThat(chat("paused-trial").statusCode()).isEqualTo(503);
        assertThat(solo.requests()).hasSize(MAX_FAILURES + 1);

        // When the upstream completes the stream
        solo.resume();
        String body = new String(trial.body().readAllBytes(), StandardCharsets.UTF_8);

        // Then the client has the whole answer, the trial closed the circuit, and it is counted a success
        assertThat(body).contains("upstream.").doesNotContain("event: error").endsWith("data: [DONE]\n\n");
        assertThat(upstream("patient", "paused-trial").getString("circuit_state")).isEqualTo("closed");
        assertThat(upstreamCalls("patient", "paused-trial", "success")).isEqualTo(1);
        // And traffic flows again
        assertThat(chat("paused-trial").statusCode()).isEqualTo(200);
        assertThat(solo.requests()).hasSize(MAX_FAILURES + 2);
    }

    @Test
    void trialStreamTheClientAbandonsLeavesTheCircuitHalfOpenForTheNextCallToBeTheTrial() throws Exception {
        // Given the trial stream of a half-open circuit has started, and the upstream holds back the rest
        HttpResponse<InputStream> trial = startPausedTrialStream("abandoned-trial");

        // When its client leaves
        trial.body().close();

        // Then the upstream call is abandoned and counted as cancelled; the circuit is neither closed
        // nor opened by it
        solo.awaitAbandoned(10_000);
        TestGateway.eventually(() -> upstreamCalls("patient", "abandoned-trial", "cancelled") == 1, 10_000,
            "the abandoned trial counted as cancelled");
        assertThat(upstream("patient", "abandoned-trial").getString("circuit_state")).isEqualTo("half_open");
        // And the next call is the trial, which closes the circuit
        solo.fault = Fault.NONE;
        assertThat(chat("abandoned-trial").statusCode()).isEqualTo(200);
        assertThat(solo.requests()).hasSize(MAX_FAILURES + 2);
        assertThat(upstream("patient", "abandoned-trial").getString("circuit_state")).isEqualTo("closed");
    }

    @Test
    void halfOpenCircuitLetsExactlyOneOfManyConcurrentRequestsThrough() throws Exception {
        // Given the circuit of the only deployment opened, and reset_ms has passed
        openAndAwaitHalfOpen("solo", "crowd");
        // And the upstream now hangs, so the trial stays in flight until its first-byte timeout
        solo.fault = Fault.HANG;

        // When several requests arrive at once
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        List<CompletableFuture<HttpResponse<String>>> inFlight = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            inFlight.add(http.sendAsync(HttpRequest.newBuilder(URI.create(gateway.url("/v1/chat/completions")))
                .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(chatBody("crowd"))).build(),
                HttpResponse.BodyHandlers.ofString()));
        }
        List<Integer> statuses = new ArrayList<>();
        for (CompletableFuture<HttpResponse<String>> response : inFlight) {
            statuses.add(response.get(30, TimeUnit.SECONDS).statusCode());
        }

        // Then exactly one trial call reached the upstream (and timed out); the others were refused
        assertThat(solo.requests()).hasSize(MAX_FAILURES + 1);
        assertThat(statuses).containsExactlyInAnyOrder(504, 503, 503, 503, 503, 503);
    }

    @Test
    void openPrimaryIsSkippedWithoutACallAndTheSecondaryServesUntilTheTrialClosesIt() {
        // Given the priority-0 deployment fails
        failWith500(primary);

        // When max_failures requests arrive
        for (int i = 0; i < MAX_FAILURES; i++) {
            HttpResponse<String> response = chat("backed");
            assertThat(response.statusCode()).isEqualTo(200);
            assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("secondary");
        }

        // Then the primary saw exactly max_failures calls, and while open it sees none
        assertThat(primary.requests()).hasSize(MAX_FAILURES);
        HttpResponse<String> skipped = chat("backed");
        assertThat(skipped.statusCode()).isEqualTo(200);
        assertThat(skipped.headers().firstValue("X-TokenHub-Provider")).hasValue("secondary");
        assertThat(chat("backed").statusCode()).isEqualTo(200);
        assertThat(primary.requests()).hasSize(MAX_FAILURES);
        assertThat(secondary.requests()).hasSize(MAX_FAILURES + 2);
        assertThat(usageRecord(skipped).get("fallback")).isEqualTo(true);
        assertThat(upstream("primary", "backed").getString("circuit_state")).isIn("open", "half_open");
        assertThat(upstream("secondary", "backed").getString("circuit_state")).isEqualTo("closed");
        assertThat(circuitGauge("primary", "backed")).isIn(2.0, 1.0);
        assertThat(circuitGauge("secondary", "backed")).isEqualTo(0.0);

        // When the primary recovers and reset_ms has passed
        primary.fault = Fault.NONE;
        awaitState("primary", "backed", "half_open");
        HttpResponse<String> trial = chat("backed");

        // Then one trial call goes to the primary, which serves again from then on
        assertThat(trial.statusCode()).isEqualTo(200);
        assertThat(trial.headers().firstValue("X-TokenHub-Provider")).hasValue("primary");
        assertThat(primary.requests()).hasSize(MAX_FAILURES + 1);
        assertThat(upstream("primary", "backed").getString("circuit_state")).isEqualTo("closed");
        assertThat(chat("backed").headers().firstValue("X-TokenHub-Provider")).hasValue("primary");
        assertThat(secondary.requests()).hasSize(MAX_FAILURES + 2);
    }

    @Test
    void steadyFiftyPercentErrorRateOpensTheCircuitOnceTheWindowHoldsEnoughCalls() {
        // Given an upstream (max_failures 5) that fails every other request, so failures never
        // come twice in a row
        int reached = 0;
        int openedAtRequest = -1;

        // When requests keep arriving
        for (int i = 0; i < 40; i++) {
            flaky.fault = i % 2 == 0 ? Fault.STATUS : Fault.NONE;
            flaky.status = 500;
            int before = flaky.requests().size();
            HttpResponse<String> response = chat("flaky");
            if (flaky.requests().size() == before) {
                assertThat(response.statusCode()).isEqualTo(503);
                assertThat(error(response).getString("code")).isEqualTo("no_healthy_upstream");
                openedAtRequest = i;
                break;
            }
            reached++;
            assertThat(response.statusCode()).isEqualTo(i % 2 == 0 ? 502 : 200);
        }

        // Then the circuit opened, but only once the window held at least 20 calls
        assertThat(openedAtRequest).as("the request that found the circuit open").isPositive();
        assertThat(reached).isBetween(20, 22);
        JsonObject upstream = upstream("flaky", "flaky");
        assertThat(upstream.getString("circuit_state")).isEqualTo("open");
        assertThat(upstream.getDouble("error_rate")).isGreaterThanOrEqualTo(0.5);
        assertThat(circuitGauge("flaky", "flaky")).isEqualTo(2.0);
        // And a healthy upstream is still not called while the circuit is open
        flaky.fault = Fault.NONE;
        assertThat(chat("flaky").statusCode()).isEqualTo(503);
        assertThat(flaky.requests()).hasSize(reached);
    }

    // ---- helpers ------------------------------------------------------------------------------

    private static void failWith500(FakeOpenAiUpstream upstream) {
        upstream.fault = Fault.STATUS;
        upstream.status = 500;
    }

    /** Opens the circuit of a deployment served by {@code solo} with max_failures 500s; waits for reset_ms. */
    private static void openAndAwaitHalfOpen(String provider, String model) {
        failWith500(solo);
        for (int i = 0; i < MAX_FAILURES; i++) {
            assertThat(chat(model).statusCode()).isEqualTo(502);
        }
        awaitState(provider, model, "half_open");
    }

    private static HttpResponse<String> chat(String model) {
        return gateway.post("/v1/chat/completions", key, chatBody(model));
    }

    /**
     * Opens the circuit of a {@code patient} deployment (its idle_ms outlasts any test) and, once
     * half-open, starts its trial stream, which the upstream holds after its first content until
     * {@code solo.resume()}.
     */
    private static HttpResponse<InputStream> startPausedTrialStream(String model) throws Exception {
        openAndAwaitHalfOpen("patient", model);
        solo.fault = Fault.PAUSE;
        solo.faultAfter = 2;
        HttpResponse<InputStream> trial = startStream(model);
        assertThat(trial.statusCode()).isEqualTo(200);
        assertThat(solo.requests()).hasSize(MAX_FAILURES + 1);
        return trial;
    }

    private static HttpResponse<String> stream(String model) {
        return gateway.post("/v1/chat/completions", key, streamBody(model));
    }

    /** A stream request, answered once its head has arrived: the gateway sends that with the first content. */
    private static HttpResponse<InputStream> startStream(String model) throws Exception {
        return HTTP.sendAsync(HttpRequest.newBuilder(URI.create(gateway.url("/v1/chat/completions")))
            .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(streamBody(model))).build(),
            HttpResponse.BodyHandlers.ofInputStream()).get(30, TimeUnit.SECONDS);
    }

    private static String streamBody(String model) {
        return new JsonObject(chatBody(model)).put("stream", true).encode();
    }

    private static String chatBody(String model) {
        return new JsonObject().put("model", model)
            .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "hi"))).encode();
    }

    private static JsonObject error(HttpResponse<String> response) {
        return new JsonObject(response.body()).getJsonObject("error");
    }

    private static void awaitState(String provider, String deployment, String state) {
        TestGateway.eventually(() -> state.equals(upstream(provider, deployment).getString("circuit_state")),
            HALF_OPEN_WITHIN_MS, provider + "/" + deployment + " " + state);
    }

    /** GET /admin/v1/upstreams, the entry of one deployment. */
    private static JsonObject upstream(String provider, String deployment) {
        JsonObject list = gateway.adminOk("GET", "/admin/v1/upstreams", null);
        return list.getJsonArray("data").stream().map(JsonObject.class::cast)
            .filter(u -> provider.equals(u.getString("provider")) && deployment.equals(u.getString("deployment")))
            .findFirst().orElseThrow(() -> new AssertionError("no upstream " + provider + "/" + deployment + " in " + list));
    }

    /** {@code tokenhub_circuit_state{provider, deployment}} from the management port. */
    private static double circuitGauge(String provider, String deployment) {
        return sample("tokenhub_circuit_state", "provider", provider, "deployment", deployment).orElseThrow(() ->
            new AssertionError("no tokenhub_circuit_state sample for " + provider + "/" + deployment));
    }

    /** {@code tokenhub_upstream_requests_total{provider, deployment, outcome}}, 0 before the first. */
    private static double upstreamCalls(String provider, String deployment, String outcome) {
        return sample("tokenhub_upstream_requests_total", "provider", provider, "deployment", deployment,
            "outcome", outcome).orElse(0);
    }

    /** The sample of a metric with these labels (names and values, alternating), if there is one. */
    private static OptionalDouble sample(String metric, String... labels) {
        HttpResponse<String> response = scrape();
        assertThat(response.statusCode()).isEqualTo(200);
        List<String> wanted = new ArrayList<>();
        for (int i = 0; i < labels.length; i += 2) {
            wanted.add(labels[i] + "=\"" + labels[i + 1] + "\"");
        }
        Matcher sample = Pattern.compile("(?m)^" + Pattern.quote(metric) + "\\{([^}]*)} (\\S+)$")
            .matcher(response.body());
        while (sample.find()) {
            if (Arrays.asList(sample.group(1).split(",")).containsAll(wanted)) {
                return OptionalDouble.of(Double.parseDouble(sample.group(2)));
            }
        }
        return OptionalDouble.empty();
    }

    private static Map<String, Object> usageRecord(HttpResponse<String> response) {
        String requestId = response.headers().firstValue("X-Request-Id").orElseThrow();
        TestGateway.eventually(() -> !gateway.database().query(
            "SELECT request_id FROM usage_records WHERE request_id = ?", requestId).isEmpty(), 10_000,
            "the usage record of " + requestId);
        List<Map<String, Object>> rows = gateway.database().query(
            "SELECT * FROM usage_records WHERE request_id = ?", requestId);
        assertThat(rows).hasSize(1);
        return rows.get(0);
    }

    /**
     * GET /metrics over HTTP/1.1, as Prometheus scrapes, with a bound on the whole exchange
     * (HttpRequest.timeout stops at the response head). Over the JDK client's default h2c upgrade,
     * one run under heavy load saw a scrape whose body never arrived, and hung the class.
     */
    private static HttpResponse<String> scrape() {
        try {
            return HTTP.sendAsync(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/metrics"))).GET().build(),
                HttpResponse.BodyHandlers.ofString()).get(15, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("GET /metrics did not complete", e);
        }
    }
}
