package io.tokenhub.routing;

import static org.assertj.core.api.Assertions.assertThat;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeOpenAiUpstream.Fault;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Routing across providers (PRODUCT.md §2 "Models and routing", §3): priorities and weights,
 * {@code provider/model} pinning, aliases, request and configured fallbacks, the provider's versus
 * the caller's failures, Retry-After, retries, timeouts, and clean fallback of streams that fail
 * before their first content. Three fake OpenAI-compatible upstreams play three providers; every
 * scenario has its own model, hence its own deployments and circuit breakers.
 */
class FallbackIT {

    private static final java.net.http.HttpClient SCRAPER = java.net.http.HttpClient.newBuilder()
        .version(java.net.http.HttpClient.Version.HTTP_1_1).build();

    static Vertx vertx;
    static FakeOpenAiUpstream alpha;
    static FakeOpenAiUpstream beta;
    static FakeOpenAiUpstream gamma;
    static TestGateway gateway;
    static String key;

    @BeforeAll
    static void start() {
        vertx = Vertx.vertx();
        alpha = new FakeOpenAiUpstream(vertx, "alpha-model").start();
        beta = new FakeOpenAiUpstream(vertx, "beta-model").start();
        gamma = new FakeOpenAiUpstream(vertx, "gamma-model").start();
        String limits = """
            timeouts: { connect_ms: 500, first_byte_ms: 400, idle_ms: 1000 }
                circuit_breaker: { max_failures: 3, window_ms: 10000, reset_ms: 1500 }""";
        gateway = TestGateway.start("""
            providers:
              - id: alpha
                type: openai
                base_url: "%1$s"
                %4$s
              - id: beta
                type: openai
                base_url: "%2$s"
                %4$s
              - id: gamma
                type: openai
                base_url: "%3$s"
                %4$s
              - id: alpha-deepseek
                type: openai
                base_url: "%1$s"
                dialect: deepseek
                %4$s
              - id: alpha-retrying
                type: openai
                base_url: "%1$s"
                retries: 2
                timeouts: { connect_ms: 500, first_byte_ms: 400, idle_ms: 1000 }
                circuit_breaker: { max_failures: 10, window_ms: 10000, reset_ms: 1500 }
            models:
              - id: basic
                pricing: { input: 1.0, output: 2.0 }
                deployments:
                  - { provider: alpha, model: basic, priority: 0 }
                  - { provider: beta, model: basic, priority: 1 }
              - id: weighted
                deployments:
                  - { provider: alpha, model: weighted, priority: 0, weight: 3 }
                  - { provider: beta, model: weighted, priority: 0, weight: 1 }
              - id: pinned
                deployments:
                  - { provider: alpha, model: pinned, priority: 0 }
                  - { provider: beta, model: pinned, priority: 1 }
              - id: aliased
                aliases: [nickname]
                deployments:
                  - { provider: alpha, model: aliased, priority: 0 }
                  - { provider: beta, model: aliased, priority: 1 }
              - id: chain
                deployments: [ { provider: alpha, model: chain } ]
                fallbacks: [chain-configured]
              - id: solo
                deployments: [ { provider: alpha, model: solo } ]
                fallbacks: [chain-configured]
              - id: chain-requested
                deployments: [ { provider: beta, model: chain-requested } ]
              - id: chain-configured
                deployments: [ { provider: gamma, model: chain-configured } ]
              - id: with-tools
                capabilities: [tools]
                deployments: [ { provider: alpha, model: with-tools } ]
              - id: without-tools
                deployments: [ { provider: gamma, model: without-tools } ]
              - id: with-tools-too
                capabilities: [tools]
                deployments: [ { provider: beta, model: with-tools-too } ]
              - id: operator-400-9
                deployments: [ { provider: alpha, model: operator-400-9 }, { provider: beta, model: operator-400-9, priority: 1 } ]
              - id: operator-400-30
                deployments: [ { provider: alpha, model: operator-400-30 }, { provider: beta, model: operator-400-30, priority: 1 } ]
              - id: operator-400-credit
                deployments: [ { provider: alpha, model: operator-400-credit }, { provider: beta, model: operator-400-credit, priority: 1 } ]
              - id: filtered-stream
                deployments: [ { provider: alpha, model: filtered-stream } ]
              - id: solo-refused
                deployments: [ { provider: alpha, model: solo-refused } ]
              - id: operator-401
                deployments: [ { provider: alpha, model: operator-401 }, { provider: beta, model: operator-401, priority: 1 } ]
              - id: operator-402
                deployments: [ { provider: alpha, model: operator-402 }, { provider: beta, model: operator-402, priority: 1 } ]
              - id: operator-403
                deployments: [ { provider: alpha, model: operator-403 }, { provider: beta, model: operator-403, priority: 1 } ]
              - id: operator-404
                deployments: [ { provider: alpha, model: operator-404 }, { provider: beta, model: operator-404, priority: 1 } ]
              - id: rejected
                deployments:
                  - { provider: alpha, model: rejected, priority: 0 }
                  - { provider: beta, model: rejected, priority: 1 }
              - id: limited
                deployments:
                  - { provider: alpha, model: limited, priority: 0 }
                  - { provider: beta, model: limited, priority: 1 }
              - id: retried
                deployments:
                  - { provider: alpha-retrying, model: retried, priority: 0 }
                  - { provider: beta, model: retried, priority: 1 }
              - id: retried-soon
                deployments:
                  - { provider: alpha-retrying, model: retried-soon, priority: 0 }
                  - { provider: beta, model: retried-soon, priority: 1 }
              - id: retried-later
                deployments:
                  - { provider: alpha-retrying, model: retried-later, priority: 0 }
                  - { provider: beta, model: retried-later, priority: 1 }
              - id: hung
                deployments: [ { provider: alpha, model: hung } ]
              - id: gave-up
                deployments: [ { provider: alpha, model: gave-up } ]
              - id: limited-alone
                deployments: [ { provider: alpha, model: limited-alone } ]
              - id: overloaded
                deployments:
                  - { provider: alpha, model: overloaded, priority: 0 }
                  - { provider: beta, model: overloaded, priority: 1 }
              - id: overloaded-alone
                deployments: [ { provider: alpha, model: overloaded-alone } ]
              - id: hung-with-backup
                deployments:
                  - { provider: alpha, model: hung-with-backup, priority: 0 }
                  - { provider: beta, model: hung-with-backup, priority: 1 }
              - id: twin
                deployments:
                  - { provider: alpha, model: twin-first, priority: 0 }
                  - { provider: alpha, model: twin-second, priority: 1 }
              - id: hung-then-fallback
                deployments: [ { provider: alpha, model: hung-then-fallback } ]
              - id: failing-fallback
                pricing: { input: 1.0, output: 2.0 }
                deployments: [ { provider: beta, model: failing-fallback } ]
              - id: doomed
                deployments:
                  - { provider: alpha, model: doomed, priority: 0 }
                  - { provider: beta, model: doomed, priority: 1 }
              - id: streamed
                deployments:
                  - { provider: alpha, model: streamed, priority: 0 }
                  - { provider: beta, model: streamed, priority: 1 }
              - id: broken-stream
                deployments:
                  - { provider: alpha, model: broken-stream, priority: 0 }
                  - { provider: beta, model: broken-stream, priority: 1 }
              - id: refused-stream
                deployments:
                  - { provider: alpha, model: refused-stream, priority: 0 }
                  - { provider: beta, model: refused-stream, priority: 1 }
              - id: stalled-stream
                deployments:
                  - { provider: alpha, model: stalled-stream, priority: 0 }
                  - { provider: beta, model: stalled-stream, priority: 1 }
              - id: short-answer
                deployments:
                  - { provider: alpha, model: short-answer, priority: 0 }
                  - { provider: beta, model: short-answer, priority: 1 }
              - id: short-start
                deployments:
                  - { provider: alpha, model: short-start, priority: 0 }
                  - { provider: beta, model: short-start, priority: 1 }
              - id: short-stream
                pricing: { input: 1.0, output: 2.0 }
                deployments:
                  - { provider: alpha, model: short-stream, priority: 0 }
                  - { provider: beta, model: short-stream, priority: 1 }
              - id: queued-stream
                deployments:
                  - { provider: alpha-deepseek, model: queued-stream, priority: 0 }
                  - { provider: beta, model: queued-stream, priority: 1 }
              - id: queued-alone
                deployments: [ { provider: alpha-deepseek, model: queued-alone } ]
              - id: processing-stream
                deployments:
                  - { provider: alpha, model: processing-stream, priority: 0 }
                  - { provider: beta, model: processing-stream, priority: 1 }
            """.formatted(alpha.baseUrl(), beta.baseUrl(), gamma.baseUrl(), limits), "");
        key = gateway.newKey();
    }

    @AfterAll
    static void stop() {
        gateway.close();
        alpha.stop();
        beta.stop();
        gamma.stop();
        vertx.close();
    }

    @BeforeEach
    void healthyUpstreams() {
        alpha.reset();
        beta.reset();
        gamma.reset();
        beta.pieces = List.of("Secondary", " says", " hi.");
        gamma.pieces = List.of("Tertiary", " says", " hi.");
    }

    // ---- priorities, weights, pinning, aliases --------------------------------------------------

    @Test
    void primaryServerErrorIsServedByTheSecondaryAndRecordedAsAFallback() {
        // Given the priority-0 deployment answers 500
        alpha.fault = Fault.STATUS;
        alpha.status = 500;

        // When a request for the model arrives
        HttpResponse<String> response = chat("basic");

        // Then the priority-1 deployment served it
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        JsonObject body = new JsonObject(response.body());
        assertThat(body.getString("model")).isEqualTo("beta/beta-model");
        assertThat(content(body)).isEqualTo("Secondary says hi.");
        assertThat(alpha.requests()).hasSize(1);
        assertThat(beta.requests()).hasSize(1);
        assertThat(beta.lastRequest().body().getString("model")).isEqualTo("basic");
        // And its usage record says so
        Map<String, Object> row = usageRecord(response);
        assertThat(row.get("fallback")).isEqualTo(true);
        assertThat(row.get("provider")).isEqualTo("beta");
        assertThat(row.get("deployment")).isEqualTo("basic");
        assertThat(row.get("status")).isEqualTo(200);
        // And the fallback is counted on the management port
        assertThat(metric("tokenhub_fallbacks_total", "from=\"basic\"", "to=\"basic\"")).isGreaterThanOrEqualTo(1.0);
    }

    @Test
    void primaryWhoseErrorBodyStallsIsLeftAfterIdleMsForTheSecondary() {
        // Given the priority-0 deployment answers 503 and then never finishes its error body
        alpha.fault = Fault.STATUS_STALL;
        alpha.status = 503;

        // When a request for the model arrives, then the priority-1 deployment serves it (after idle_ms)
        HttpResponse<String> response = chat("basic");

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        assertThat(alpha.requests()).hasSize(1);
        assertThat(usageRecord(response).get("fallback")).isEqualTo(true);
    }

    @Test
    void healthyPrimaryServesAloneAndIsNoFallback() {
        // When the priority-0 deployment is healthy
        HttpResponse<String> response = chat("basic");

        // Then it serves and the lower priority is never called
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("alpha");
        assertThat(beta.requests()).isEmpty();
        assertThat(usageRecord(response).get("fallback")).isEqualTo(false);
    }

    @Test
    void trafficWithinOnePrioritySpreadsByWeight() {
        // Given alpha (weight 3) and beta (weight 1) share priority 0
        int total = 200;

        // When many requests arrive
        for (int i = 0; i < total; i++) {
            assertThat(chat("weighted").statusCode()).isEqualTo(200);
        }

        // Then both receive traffic, the heavier one clearly more (expected 150 : 50)
        int heavy = alpha.requests().size();
        int light = beta.requests().size();
        assertThat(heavy + light).isEqualTo(total);
        assertThat(light).isGreaterThan(total / 10);
        assertThat(heavy).isGreaterThan(light);
    }

    @Test
    void providerSlashModelPinsTheRequestToThatProvider() {
        // When the lower-priority provider is named explicitly
        HttpResponse<String> response = chat("beta/pinned");

        // Then only that provider is called, although a better priority exists
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        assertThat(alpha.requests()).isEmpty();
        assertThat(beta.requests()).hasSize(1);
    }

    @Test
    void aPinnedProviderThatFailsIsNotReplacedByAnotherProvider() {
        // Given the pinned provider fails
        alpha.fault = Fault.STATUS;
        alpha.status = 500;

        // When the request pins it
        HttpResponse<String> response = chat("alpha/pinned");

        // Then the failure is the answer; the other deployment of the model is not used
        assertThat(response.statusCode()).isEqualTo(502);
        assertThat(error(response).getString("provider")).isEqualTo("alpha");
        assertThat(beta.requests()).isEmpty();
    }

    @Test
    void pinningAProviderThatDoesNotServeTheModelIsModelNotFound() {
        // When the request names a provider that has no deployment of the model
        HttpResponse<String> response = chat("gamma/pinned");

        // Then it is 404 model_not_found and nobody is called
        assertThat(response.statusCode()).isEqualTo(404);
        assertThat(error(response).getString("code")).isEqualTo("model_not_found");
        assertThat(alpha.requests()).isEmpty();
        assertThat(beta.requests()).isEmpty();
        assertThat(gamma.requests()).isEmpty();
    }

    @Test
    void anAliasRoutesLikeTheModelAndCanBePinned() {
        // When the alias is requested, plain and pinned
        HttpResponse<String> plain = chat("nickname");
        HttpResponse<String> pinned = chat("beta/nickname");

        // Then the alias resolves to the model's deployments, and the pinned form to beta's
        assertThat(plain.statusCode()).isEqualTo(200);
        assertThat(plain.headers().firstValue("X-TokenHub-Provider")).hasValue("alpha");
        assertThat(pinned.statusCode()).isEqualTo(200);
        assertThat(pinned.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        assertThat(alpha.lastRequest().body().getString("model")).isEqualTo("aliased");
        assertThat(beta.lastRequest().body().getString("model")).isEqualTo("aliased");
        assertThat(usageRecord(plain).get("requested_model")).isEqualTo("aliased");
    }

    // ---- request and configured fallbacks -------------------------------------------------------

    @Test
    void requestFallbackModelsComeAfterTheModelsDeploymentsAndBeforeItsConfiguredFallbacks() {
        // Given the model's only deployment fails
        alpha.fault = Fault.STATUS;
        alpha.status = 500;

        // When the request names a fallback model that is healthy
        HttpResponse<String> first = chat("chain", new JsonObject().put("fallback_models",
            new JsonArray().add("chain-requested")));

        // Then the request's fallback serves, and the configured fallback is not called
        assertThat(first.statusCode()).isEqualTo(200);
        assertThat(first.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        assertThat(new JsonObject(first.body()).getString("model")).isEqualTo("beta/beta-model");
        assertThat(gamma.requests()).isEmpty();
        Map<String, Object> row = usageRecord(first);
        assertThat(row.get("requested_model")).isEqualTo("chain");
        assertThat(row.get("served_model")).isEqualTo("chain-requested");
        assertThat(row.get("fallback")).isEqualTo(true);

        // When the request's fallback fails too
        beta.fault = Fault.STATUS;
        beta.status = 503;
        HttpResponse<String> second = chat("chain", new JsonObject().put("fallback_models",
            new JsonArray().add("chain-requested")));

        // Then the model's configured fallback serves, each candidate having been tried once, in order
        assertThat(second.statusCode()).isEqualTo(200);
        assertThat(second.headers().firstValue("X-TokenHub-Provider")).hasValue("gamma");
        assertThat(content(new JsonObject(second.body()))).isEqualTo("Tertiary says hi.");
        assertThat(alpha.requests()).hasSize(2);
        assertThat(beta.requests()).hasSize(2);
        assertThat(gamma.requests()).hasSize(1);
        assertThat(gamma.lastRequest().body().getString("model")).isEqualTo("chain-configured");
        assertThat(gamma.lastRequest().body().containsKey("fallback_models")).isFalse();
        assertThat(usageRecord(second).get("served_model")).isEqualTo("chain-configured");
    }

    @Test
    void configuredFallbacksServeWhenTheRequestNamesNone() {
        // Given the model's only deployment fails
        alpha.fault = Fault.STATUS;
        alpha.status = 502;
        long servedBefore = requestsOf("chain-configured");

        // When a request names no fallback models
        HttpResponse<String> response = chat("solo");

        // Then the configured fallback serves
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("gamma");
        assertThat(beta.requests()).isEmpty();
        assertThat(usageRecord(response).get("served_model")).isEqualTo("chain-configured");
        // And its usage is the serving model's, which set its price, filtered by it as grouped by it; not
        // solo's as well (the reports of each model add up to the whole)
        assertThat(requestsOf("chain-configured")).isEqualTo(servedBefore + 1);
        assertThat(gateway.adminOk("GET", "/admin/v1/usage?model=solo&group_by=model", null).getJsonArray("data"))
            .isEmpty();
        // And the request logs find it by either model, newest first
        String requestId = response.headers().firstValue("X-Request-Id").orElseThrow();
        for (String model : List.of("solo", "chain-configured")) {
            assertThat(gateway.adminOk("GET", "/admin/v1/logs?model=" + model, null).getJsonArray("data")
                .getJsonObject(0).getString("request_id")).as("logs?model=%s", model).isEqualTo(requestId);
        }
    }

    /** The requests {@code /admin/v1/usage} counts under a model, filtered and grouped by it. */
    private static long requestsOf(String model) {
        JsonArray rows = gateway.adminOk("GET", "/admin/v1/usage?model=" + model + "&group_by=model", null)
            .getJsonArray("data");
        assertThat(rows.stream().map(row -> ((JsonObject) row).getString("model"))).allMatch(model::equals);
        return rows.stream().mapToLong(row -> ((JsonObject) row).getLong("requests")).sum();
    }

    @Test
    void aFallbackModelTheRequestDoesNotFitIsPassedOverWithoutACall() {
        // Given the model's only deployment fails, and a request that uses tools
        alpha.fault = Fault.STATUS;
        alpha.status = 500;
        JsonObject tools = new JsonObject().put("tools", new JsonArray().add(new JsonObject().put("type", "function")
            .put("function", new JsonObject().put("name", "lookup").put("parameters", new JsonObject()))));

        // When it names a fallback model without tools, then one with them
        HttpResponse<String> served = chat("with-tools", tools.copy().put("fallback_models",
            new JsonArray().add("without-tools").add("with-tools-too")));

        // Then the one without tools is never called, and the one with them serves, tools and all
        assertThat(served.statusCode()).isEqualTo(200);
        assertThat(served.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        assertThat(gamma.requests()).isEmpty();
        assertThat(beta.lastRequest().body().getJsonArray("tools")).hasSize(1);
        assertThat(usageRecord(served).get("served_model")).isEqualTo("with-tools-too");

        // When the only fallback is one without tools
        HttpResponse<String> refused = chat("with-tools", tools.copy().put("fallback_models",
            new JsonArray().add("without-tools")));

        // Then the answer is the model's own failure, saying why the fallback was not tried, which was not called
        assertThat(refused.statusCode()).isEqualTo(502);
        assertThat(error(refused).getString("message")).contains("HTTP 500")
            .contains("The fallback model 'without-tools' was not tried: The model 'without-tools' does not support "
                + "tools.");
        assertThat(gamma.requests()).isEmpty();
    }

    // ---- whose failure ------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(ints = {401, 402, 403, 404})
    void aStatusTheCallerCannotFixIsTheProvidersFailureAndTheSecondaryServes(int status) {
        // Given the primary refuses TokenHub's credentials (401, 403), has no credit left for TokenHub's
        // account (402), or does not know the deployment's model (404): an operator's matter
        alpha.fault = Fault.STATUS;
        alpha.status = status;

        // When a request for the model arrives
        HttpResponse<String> response = chat("operator-" + status);

        // Then the next deployment serves it: never the caller's 402 insufficient_quota or 404 model_not_found
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        assertThat(alpha.requests()).hasSize(1);
        assertThat(usageRecord(response).get("fallback")).isEqualTo(true);
        // And the primary's failure counts against its circuit, as a provider failure
        assertThat(metric("tokenhub_upstream_requests_total", "provider=\"alpha\"", "deployment=\"operator-" + status + "\"",
            "outcome=\"server_error\"")).isEqualTo(1.0);
    }

    @ParameterizedTest
    @ValueSource(strings = {"Arrearage", "InvalidEndpoint.ClosedEndpoint"})
    void aProvidersOwnStateSentAsA400IsItsFailureAndTheSecondaryServes(String code) {
        // Given the primary answers 400 about its own state (DashScope: TokenHub's account there is
        // overdue; Ark: the endpoint is closed), in DashScope's own error shape
        alpha.fault = Fault.STATUS;
        alpha.status = 400;
        alpha.errorBody = new JsonObject().put("code", code).put("message", "Access denied.").put("request_id", "r1");

        // When a request arrives
        HttpResponse<String> response = chat("operator-400-" + code.length());

        // Then the secondary serves it
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
    }

    @Test
    void anthropicsOutOfCreditA400WithNoCodeIsTheProvidersFailureAndTheSecondaryServes() {
        // Given the primary answers as Anthropic does when TokenHub's account there has no credit left
        alpha.fault = Fault.STATUS;
        alpha.status = 400;
        alpha.errorBody = new JsonObject().put("type", "error").put("error", new JsonObject()
            .put("type", "invalid_request_error").put("message", "Your credit balance is too low to access the "
                + "Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."));

        HttpResponse<String> response = chat("operator-400-credit");

        // Then the secondary serves it, and the client never reads about TokenHub's balance there
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
    }

    @Test
    void aRefusalInAProvidersOwnShapeIsAnsweredInOpenAisWithItsMessage() {
        // Given the only deployment refuses the request in DashScope's shape, or with Ark's own type
        alpha.fault = Fault.STATUS;
        alpha.status = 400;
        alpha.errorBody = new JsonObject().put("code", "InvalidParameter")
            .put("message", "Range of input length should be [1, 129024]").put("request_id", "r2");

        HttpResponse<String> response = chat("solo-refused");

        // Then the caller gets it in OpenAI's shape with the provider's message and code
        JsonObject error = error(response);
        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(error.getString("message")).contains("Range of input length");
        assertThat(error.getString("code")).isEqualTo("InvalidParameter");
        assertThat(error.getString("type")).isEqualTo("invalid_request_error");

        alpha.errorBody = new JsonObject().put("error", new JsonObject().put("code", "InvalidParameter")
            .put("message", "bad").put("type", "BadRequest").put("param", ""));
        JsonObject ark = error(chat("solo-refused"));
        assertThat(ark.getString("type")).isEqualTo("invalid_request_error");
        assertThat(ark.getValue("param")).isNull();
    }

    @Test
    void anAnswerTheProviderCutShortForWantOfResourcesIsItsFailureAndTheSecondaryServes() {
        // Given the primary ends its answer with DeepSeek's finish_reason insufficient_system_resource
        alpha.fault = Fault.OUT_OF_RESOURCES;

        // When a request arrives
        HttpResponse<String> served = chat("short-answer");

        // Then the truncated answer is not relayed: the secondary serves, and the primary's failure is counted as its own
        assertThat(served.statusCode()).as(served.body()).isEqualTo(200);
        assertThat(served.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        assertThat(content(new JsonObject(served.body()))).isEqualTo("Secondary says hi.");
        assertThat(metric("tokenhub_upstream_requests_total", "provider=\"alpha\"", "deployment=\"short-answer\"",
            "outcome=\"server_error\"")).isEqualTo(1.0);

        // When the secondary cuts its answer short too
        beta.fault = Fault.OUT_OF_RESOURCES;
        HttpResponse<String> failed = chat("short-answer");

        // Then the answer is 502 provider_error naming it and saying why
        assertThat(failed.statusCode()).isEqualTo(502);
        JsonObject error = error(failed);
        assertThat(error.getString("code")).isEqualTo("provider_error");
        assertThat(error.getString("provider")).isEqualTo("beta");
        assertThat(error.getString("message")).contains("insufficient_system_resource");
    }

    @Test
    void callersErrorIsReturnedAtOnceAndTheSecondaryIsNotCalled() {
        // Given the primary rejects the request as the caller's fault
        alpha.fault = Fault.STATUS;
        alpha.status = 400;

        // When the request arrives
        HttpResponse<String> response = chat("rejected");

        // Then the upstream's 400 is the answer, in the OpenAI shape, and no other provider is asked
        assertThat(response.statusCode()).isEqualTo(400);
        JsonObject error = error(response);
        assertThat(error.getString("message")).contains("fake upstream says 400");
        assertThat(error.getString("type")).isEqualTo("invalid_request_error");
        assertThat(error.getString("code")).isEqualTo("fake_400");
        assertThat(error.getString("param")).isEqualTo("messages");
        assertThat(error.getString("provider")).isEqualTo("alpha");
        assertThat(alpha.requests()).hasSize(1);
        assertThat(beta.requests()).isEmpty();
        // And its record names the deployment that refused it
        Map<String, Object> row = usageRecord(response);
        assertThat(row.get("status")).isEqualTo(400);
        assertThat(row.get("provider")).isEqualTo("alpha");
        assertThat(row.get("deployment")).isEqualTo("rejected");
        assertThat(row.get("served_model")).isEqualTo("rejected");
        assertThat(row.get("fallback")).isEqualTo(false);
    }

    @Test
    void rateLimitedPrimaryIsSkippedWithoutACallWhileItsRetryAfterLasts() {
        // Given the primary answers 429 with Retry-After: 30
        alpha.fault = Fault.STATUS;
        alpha.status = 429;
        alpha.retryAfter = "30";

        // When a request arrives
        HttpResponse<String> first = chat("limited");

        // Then the secondary serves it
        assertThat(first.statusCode()).isEqualTo(200);
        assertThat(first.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        assertThat(alpha.requests()).hasSize(1);

        // When the primary is healthy again but its Retry-After has not passed, and more requests arrive
        alpha.fault = Fault.NONE;
        for (int i = 0; i < 3; i++) {
            HttpResponse<String> next = chat("limited");
            assertThat(next.statusCode()).isEqualTo(200);
            assertThat(next.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        }

        // Then the primary received no further call
        assertThat(alpha.requests()).hasSize(1);
        assertThat(beta.requests()).hasSize(4);
        JsonObject upstream = upstream("alpha", "limited");
        assertThat(upstream.getLong("retry_in_ms")).isGreaterThan(20_000L);
    }

    @Test
    void providerRetriesAreSpentOnTheSameDeploymentBeforeFallingBack() {
        // Given a provider with retries: 2 that answers 500
        alpha.fault = Fault.STATUS;
        alpha.status = 500;

        // When a request arrives
        HttpResponse<String> response = chat("retried");

        // Then it was called three times (one try and two retries), then the secondary served
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        assertThat(alpha.requests()).hasSize(3);
        assertThat(alpha.requests()).allSatisfy(r -> assertThat(r.body().getString("model")).isEqualTo("retried"));
        assertThat(beta.requests()).hasSize(1);
    }

    @Test
    void aRetryWaitsWhatTheProviderAsksForWhenItIsShort() {
        // Given a provider with retries: 2 that is overloaded and asks for a second's wait
        alpha.fault = Fault.STATUS;
        alpha.status = 503;
        alpha.retryAfter = "1";

        // When a request arrives
        long started = System.nanoTime();
        HttpResponse<String> response = chat("retried-soon");

        // Then each retry came after the wait it asked for, then the secondary served
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(alpha.requests()).hasSize(3);
        assertThat(java.time.Duration.ofNanos(System.nanoTime() - started)).isGreaterThanOrEqualTo(
            java.time.Duration.ofSeconds(2));
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
    }

    @Test
    void aProviderAskingForALongerWaitThanARetryMayIsLeftForTheNextCandidate() {
        // Given a provider with retries: 2 that is overloaded and asks for half a minute
        alpha.fault = Fault.STATUS;
        alpha.status = 503;
        alpha.retryAfter = "30";

        // When a request arrives
        HttpResponse<String> response = chat("retried-later");

        // Then the provider is not retried (it would only fail again), the secondary serves at once
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        assertThat(alpha.requests()).hasSize(1);
        // And the deployment is left alone for what it asked
        assertThat(upstream("alpha-retrying", "retried-later").getLong("retry_in_ms")).isGreaterThan(20_000L);
    }

    @Test
    void hungLastCandidateIsAnsweredWithGatewayTimeout() {
        // Given the only deployment never answers
        alpha.fault = Fault.HANG;

        // When a request arrives
        HttpResponse<String> response = chat("hung");

        // Then the first-byte timeout turns into 504 upstream_timeout naming the provider
        assertThat(response.statusCode()).isEqualTo(504);
        JsonObject error = error(response);
        assertThat(error.getString("code")).isEqualTo("upstream_timeout");
        assertThat(error.getString("provider")).isEqualTo("alpha");
        assertThat(alpha.requests()).hasSize(1);
        // And the hung upstream request was abandoned, not left open
        alpha.awaitAbandoned(5_000);
        // And the record names the deployment that timed out, at no cost, as no fallback
        Map<String, Object> row = usageRecord(response);
        assertThat(row.get("status")).isEqualTo(504);
        assertThat(row.get("error_code")).isEqualTo("upstream_timeout");
        assertThat(row.get("provider")).isEqualTo("alpha");
        assertThat(row.get("deployment")).isEqualTo("hung");
        assertThat(row.get("served_model")).isEqualTo("hung");
        assertThat(row.get("fallback")).isEqualTo(false);
        assertThat(row.get("cost_micro_usd")).isEqualTo(0L);
        assertThat(row.get("price_version")).isNull();
    }

    @Test
    void aProviderThatAnswers504HasTimedOutAndAsTheLastCandidateIsAnsweredWithGatewayTimeout() {
        // Given the only deployment's provider answers 504 (its own gateway gave up waiting for the model)
        alpha.fault = Fault.STATUS;
        alpha.status = 504;

        // When a request arrives
        HttpResponse<String> response = chat("gave-up");

        // Then it is 504 upstream_timeout naming the provider, as a timeout of our own would be
        assertThat(response.statusCode()).as(response.body()).isEqualTo(504);
        JsonObject error = error(response);
        assertThat(error.getString("code")).isEqualTo("upstream_timeout");
        assertThat(error.getString("provider")).isEqualTo("alpha");
    }

    @Test
    void hungPrimaryTimesOutAndTheSecondaryServes() {
        // Given the primary never answers
        alpha.fault = Fault.HANG;

        // When a request arrives
        HttpResponse<String> response = chat("hung-with-backup");

        // Then after the primary's first-byte timeout the secondary serves
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        assertThat(usageRecord(response).get("fallback")).isEqualTo(true);
    }

    @Test
    void anOverloadedProviderWithoutRetriesIsLeftAloneForTheWaitItAskedAndTheClientToldSoWhenLast() {
        // Given a provider without retries answering 503 with Retry-After: 30
        alpha.fault = Fault.STATUS;
        alpha.status = 503;
        alpha.retryAfter = "30";

        // When requests arrive, the provider healthy again after the first
        HttpResponse<String> first = chat("overloaded");
        alpha.fault = Fault.NONE;
        HttpResponse<String> second = chat("overloaded");

        // Then the secondary serves both: the primary is not called again while its wait lasts
        assertThat(first.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        assertThat(second.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        assertThat(alpha.requests()).hasSize(1);
        assertThat(upstream("alpha", "overloaded").getLong("retry_in_ms")).isGreaterThan(20_000L);

        // And as the last candidate, its 502 tells the client to wait as long
        alpha.fault = Fault.STATUS;
        HttpResponse<String> alone = chat("overloaded-alone");
        assertThat(alone.statusCode()).isEqualTo(502);
        assertThat(alone.headers().firstValue("Retry-After")).hasValue("30");
    }

    @Test
    void aLastCandidateThatAsksToBeLeftAloneHasTheClientToldToWaitAsLong() {
        // Given the only deployment answers 429 with Retry-After: 7
        alpha.fault = Fault.STATUS;
        alpha.status = 429;
        alpha.retryAfter = "7";

        // When a request arrives
        HttpResponse<String> response = chat("limited-alone");

        // Then the 502 says when to come back, so that an SDK does not retry at once
        assertThat(response.statusCode()).isEqualTo(502);
        assertThat(error(response).getString("code")).isEqualTo("provider_error");
        assertThat(response.headers().firstValue("Retry-After")).hasValue("7");
    }

    @Test
    void whenEveryCandidateFailsTheAnswerIs502NamingTheLastProvider() {
        // Given both deployments fail
        alpha.fault = Fault.STATUS;
        alpha.status = 500;
        beta.fault = Fault.STATUS;
        beta.status = 503;

        // When a request arrives
        HttpResponse<String> response = chat("doomed");

        // Then it is 502 provider_error naming the last provider tried, and saying why
        assertThat(response.statusCode()).isEqualTo(502);
        JsonObject error = error(response);
        assertThat(error.getString("code")).isEqualTo("provider_error");
        assertThat(error.getString("provider")).isEqualTo("beta");
        assertThat(error.getString("message")).contains("beta").contains("503");
        assertThat(alpha.requests()).hasSize(1);
        assertThat(beta.requests()).hasSize(1);
        // And the failed request has its one usage record
        Map<String, Object> row = usageRecord(response);
        assertThat(row.get("status")).isEqualTo(502);
        assertThat(row.get("error_code")).isEqualTo("provider_error");
        // naming the provider that failed last, as the error body does, in the record and the metric
        assertThat(row.get("provider")).isEqualTo("beta");
        assertThat(metric("tokenhub_requests_total", "provider=\"beta\"", "status=\"502\"")).isGreaterThanOrEqualTo(1.0);
        // a fallback, since a candidate after the first was called
        assertThat(row.get("fallback")).isEqualTo(true);
    }

    @Test
    void aFailedRequestsRecordNamesTheDeploymentCalledLastNotOnlyItsProvider() {
        // Given a model whose two deployments are at one provider, which answers 500
        alpha.fault = Fault.STATUS;
        alpha.status = 500;

        // When a request arrives
        HttpResponse<String> response = chat("twin");

        // Then both deployments were called, in order, and the answer is 502
        assertThat(response.statusCode()).isEqualTo(502);
        assertThat(alpha.requests()).extracting(r -> r.body().getString("model"))
            .containsExactly("twin-first", "twin-second");
        // And the record names the second deployment, the one that failed last, and a fallback
        Map<String, Object> row = usageRecord(response);
        assertThat(row.get("status")).isEqualTo(502);
        assertThat(row.get("provider")).isEqualTo("alpha");
        assertThat(row.get("deployment")).isEqualTo("twin-second");
        assertThat(row.get("served_model")).isEqualTo("twin");
        assertThat(row.get("fallback")).isEqualTo(true);
    }

    @Test
    void aFallbackModelThatFailsAfterTheModelTimedOutIsNamedInTheRecordAsAFallback() {
        // Given the model's only deployment never answers, and the fallback model's answers 500
        alpha.fault = Fault.HANG;
        beta.fault = Fault.STATUS;
        beta.status = 500;

        // When a request names that fallback model
        HttpResponse<String> response = chat("hung-then-fallback", new JsonObject().put("fallback_models",
            new JsonArray().add("failing-fallback")));

        // Then both were called, the fallback's failure is the answer
        assertThat(response.statusCode()).isEqualTo(502);
        assertThat(error(response).getString("provider")).isEqualTo("beta");
        assertThat(alpha.requests()).hasSize(1);
        assertThat(beta.requests()).hasSize(1);
        // And the record names the fallback's deployment and model, as a fallback, charged nothing at no price
        Map<String, Object> row = usageRecord(response);
        assertThat(row.get("status")).isEqualTo(502);
        assertThat(row.get("error_code")).isEqualTo("provider_error");
        assertThat(row.get("requested_model")).isEqualTo("hung-then-fallback");
        assertThat(row.get("served_model")).isEqualTo("failing-fallback");
        assertThat(row.get("provider")).isEqualTo("beta");
        assertThat(row.get("deployment")).isEqualTo("failing-fallback");
        assertThat(row.get("fallback")).isEqualTo(true);
        assertThat(row.get("cost_micro_usd")).isEqualTo(0L);
        assertThat(row.get("price_version")).isNull();
    }

    // ---- streams ------------------------------------------------------------------------------

    @Test
    void streamThatFailsBeforeItsFirstContentFallsBackCleanly() {
        // Given the primary sends its role chunk, then drops the connection
        alpha.fault = Fault.DROP_MID_STREAM;
        alpha.faultAfter = 1;
        OpenAIClient client = OpenAIOkHttpClient.builder().apiKey(key).baseUrl(gateway.baseUrl()).maxRetries(0).build();

        // When a stream is requested through the OpenAI SDK
        List<ChatCompletionChunk> chunks = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(
            ChatCompletionCreateParams.builder().model("streamed").addUserMessage("Stream please").build())) {
            stream.stream().forEach(chunks::add);
        }

        // Then the client received the secondary's stream only
        StringBuilder text = new StringBuilder();
        chunks.forEach(c -> c.choices().forEach(choice -> choice.delta().content().ifPresent(text::append)));
        assertThat(text.toString()).isEqualTo("Secondary says hi.");
        assertThat(chunks).allSatisfy(c -> assertThat(c.model()).isEqualTo("beta/beta-model"));
        assertThat(chunks.stream().filter(c -> c.choices().stream().anyMatch(ch -> ch.delta().role().isPresent())))
            .hasSize(1);
        assertThat(alpha.requests()).hasSize(1);
        assertThat(beta.requests()).hasSize(1);
    }

    @Test
    void streamFallbackLeavesNoTraceOfThePrimaryOnTheWire() {
        // Given the primary sends its role chunk, then drops the connection
        alpha.fault = Fault.DROP_MID_STREAM;
        alpha.faultAfter = 1;

        // When a stream is requested
        HttpResponse<String> response = chat("streamed", new JsonObject().put("stream", true));

        // Then the wire carries one clean stream from the secondary
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        String body = response.body();
        assertThat(body).doesNotContain("alpha").doesNotContain("event: error");
        assertThat(body).endsWith("data: [DONE]\n\n");
        assertThat(body.split("data: \\[DONE]", -1)).hasSize(2);
        Map<String, Object> row = usageRecord(response);
        assertThat(row.get("fallback")).isEqualTo(true);
        assertThat(row.get("stream")).isEqualTo(true);
        assertThat(row.get("provider")).isEqualTo("beta");
        assertThat(row.get("status")).isEqualTo(200);
    }

    @Test
    void aContentFilterStoppingStreamsIsNotTheProvidersFailureAndLeavesItsCircuitClosed() {
        // Given a provider whose content filter stops each answer mid-stream, as DashScope does
        alpha.fault = Fault.ERROR_CHUNK;
        alpha.faultAfter = 2;
        alpha.errorBody = new JsonObject().put("error", new JsonObject().put("code", "data_inspection_failed")
            .put("message", "Output data may contain inappropriate content.").put("type", "data_inspection_failed"));

        // When more streams than the circuit's max_failures (3) are stopped so
        for (int i = 0; i < 4; i++) {
            HttpResponse<String> response = chat("filtered-stream", new JsonObject().put("stream", true));
            List<String> events = events(response.body());
            String errorEvent = events.get(events.size() - 2);
            // Then each ends with an error event that says why, not as the provider's failure
            JsonObject error = new JsonObject(errorEvent.substring(errorEvent.indexOf("data: ") + 6)).getJsonObject("error");
            assertThat(error.getString("code")).isEqualTo("data_inspection_failed");
            assertThat(error.getString("message")).contains("inappropriate content");
        }

        // And the provider still takes the next caller's request: its circuit did not open
        assertThat(upstream("alpha", "filtered-stream").getString("circuit_state")).isEqualTo("closed");
        alpha.fault = Fault.NONE;
        assertThat(chat("filtered-stream", new JsonObject().put("stream", true)).statusCode()).isEqualTo(200);
        assertThat(alpha.requests()).hasSize(5);
    }

    @Test
    void streamThatFailsAfterContentWasSentEndsWithAnErrorEventAndDoesNotFallBack() {
        // Given the primary sends its role chunk and two content chunks, then drops the connection
        alpha.fault = Fault.DROP_MID_STREAM;
        alpha.faultAfter = 3;

        // When a stream is requested
        HttpResponse<String> response = chat("broken-stream", new JsonObject().put("stream", true));

        // Then what was sent stays, and the stream ends with an error event and [DONE]
        assertThat(response.statusCode()).isEqualTo(200);
        List<String> events = events(response.body());
        assertThat(String.join("", events)).contains("\"Hello\"").contains("\" from\"").doesNotContain("Secondary");
        assertThat(events.get(events.size() - 1)).isEqualTo("data: [DONE]");
        String errorEvent = events.get(events.size() - 2);
        assertThat(errorEvent).startsWith("event: error\ndata: ");
        JsonObject error = new JsonObject(errorEvent.substring(errorEvent.indexOf("data: ") + 6)).getJsonObject("error");
        assertThat(error.getString("code")).isEqualTo("provider_error");
        assertThat(error.getString("provider")).isEqualTo("alpha");
        // And no other provider was asked to start over
        assertThat(beta.requests()).isEmpty();
        Map<String, Object> row = usageRecord(response);
        assertThat(row.get("fallback")).isEqualTo(false);
        assertThat(row.get("provider")).isEqualTo("alpha");
        assertThat(row.get("status")).isEqualTo(502);
        assertThat(row.get("error_code")).isEqualTo("provider_error");
        // And what was delivered is billed, estimated since the provider never sent its usage
        assertThat(row.get("estimated")).isEqualTo(true);
        assertThat((Integer) row.get("completion_tokens")).isPositive();
    }

    @Test
    void streamWhosePrimaryAnswersAnErrorStatusIsServedByTheSecondary() {
        // Given the primary answers 503 instead of a stream
        alpha.fault = Fault.STATUS;
        alpha.status = 503;

        // When a stream is requested
        HttpResponse<String> response = chat("refused-stream", new JsonObject().put("stream", true));

        // Then the secondary's stream is the answer
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        assertThat(response.body()).contains("Secondary").doesNotContain("event: error").endsWith("data: [DONE]\n\n");
        assertThat(alpha.requests()).hasSize(1);
    }

    @Test
    void streamThatStallsAfterContentEndsWithATimeoutErrorEventAndDoesNotFallBack() {
        // Given the primary sends its role chunk and one content chunk, then goes quiet
        alpha.fault = Fault.STALL;
        alpha.faultAfter = 2;

        // When a stream is requested
        HttpResponse<String> response = chat("stalled-stream", new JsonObject().put("stream", true));

        // Then after the idle timeout the stream ends with an upstream_timeout error event and [DONE]
        assertThat(response.statusCode()).isEqualTo(200);
        List<String> events = events(response.body());
        assertThat(String.join("", events)).contains("\"Hello\"").doesNotContain("\" from\"");
        assertThat(events.get(events.size() - 1)).isEqualTo("data: [DONE]");
        String errorEvent = events.get(events.size() - 2);
        assertThat(errorEvent).startsWith("event: error\ndata: ");
        JsonObject error = new JsonObject(errorEvent.substring(errorEvent.indexOf("data: ") + 6)).getJsonObject("error");
        assertThat(error.getString("code")).isEqualTo("upstream_timeout");
        assertThat(error.getString("provider")).isEqualTo("alpha");
        assertThat(beta.requests()).isEmpty();
        // And the stalled upstream request was abandoned
        alpha.awaitAbandoned(5_000);
    }

    @Test
    void streamCutShortForWantOfResourcesBeforeItsFirstContentFallsBackCleanly() {
        // Given the primary's first chunk, its role, already ends the answer with insufficient_system_resource
        alpha.fault = Fault.OUT_OF_RESOURCES;
        alpha.faultAfter = 0;

        // When a stream is requested
        HttpResponse<String> response = chat("short-start", new JsonObject().put("stream", true));

        // Then the wire carries the secondary's stream alone, and the primary's failure counts as its own
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        assertThat(response.body()).contains("Secondary").doesNotContain("alpha").doesNotContain("event: error")
            .doesNotContain("insufficient_system_resource").endsWith("data: [DONE]\n\n");
        assertThat(metric("tokenhub_upstream_requests_total", "provider=\"alpha\"", "deployment=\"short-start\"",
            "outcome=\"server_error\"")).isEqualTo(1.0);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void streamCutShortForWantOfResourcesAfterContentEndsWithAnErrorEventAndIsBilledFromTheProvidersCounts(
        boolean usageWithFinish) {
        // Given the primary streams two pieces, then a third on a chunk ending the answer with
        // insufficient_system_resource, its counts on that chunk (as DeepSeek puts them) or on a usage chunk after it
        alpha.fault = Fault.OUT_OF_RESOURCES;
        alpha.faultAfter = 3;
        alpha.usageWithFinish = usageWithFinish;
        alpha.usage = FakeOpenAiUpstream.usage(13, 7, 0, 0);

        // When a stream is requested, with usage
        HttpResponse<String> response = chat("short-stream", new JsonObject().put("stream", true)
            .put("stream_options", new JsonObject().put("include_usage", true)));

        // Then the three pieces reach the client as an answer not ended, and the stream ends with an error event and [DONE]
        assertThat(response.statusCode()).isEqualTo(200);
        List<String> events = events(response.body());
        assertThat(events.get(events.size() - 1)).isEqualTo("data: [DONE]");
        String errorEvent = events.get(events.size() - 2);
        assertThat(errorEvent).startsWith("event: error\ndata: ");
        JsonObject error = new JsonObject(errorEvent.substring(errorEvent.indexOf("data: ") + 6)).getJsonObject("error");
        assertThat(error.getString("code")).isEqualTo("provider_error");
        assertThat(error.getString("provider")).isEqualTo("alpha");
        assertThat(error.getString("message")).contains("insufficient_system_resource");
        StringBuilder text = new StringBuilder();
        for (String event : events.subList(0, events.size() - 2)) {
            JsonObject chunk = new JsonObject(event.substring("data: ".length()));
            // no finish reason and no usage chunk: the provider's counts are for the bill
            assertThat(chunk.getValue("usage")).as(event).isNull();
            for (Object choice : chunk.getJsonArray("choices")) {
                JsonObject c = (JsonObject) choice;
                assertThat(c.getValue("finish_reason")).as(event).isNull();
                text.append(c.getJsonObject("delta").getString("content", ""));
            }
        }
        assertThat(text.toString()).isEqualTo("Hello from the");
        // And no other provider was asked to start over
        assertThat(beta.requests()).isEmpty();
        // And what was delivered is billed from the provider's counts, as a failure of the provider's
        Map<String, Object> row = usageRecord(response);
        assertThat(row.get("status")).isEqualTo(502);
        assertThat(row.get("error_code")).isEqualTo("provider_error");
        assertThat(row.get("provider")).isEqualTo("alpha");
        assertThat(row.get("estimated")).isEqualTo(false);
        assertThat(row.get("prompt_tokens")).isEqualTo(13);
        assertThat(row.get("completion_tokens")).isEqualTo(7);
        assertThat(row.get("cost_micro_usd")).isEqualTo(27L);
    }

    @Test
    void streamKeptOpenWithCommentsAloneIsLeftAfterIdleMsForTheSecondary() {
        // Given the primary, at DeepSeek, answers a stream's head, then only ": keep-alive" comments, as
        // DeepSeek does for a queued request
        alpha.fault = Fault.KEEP_ALIVE;

        // When a stream is requested
        HttpResponse<String> response = chat("queued-stream", new JsonObject().put("stream", true));

        // Then the comments did not hold off idle_ms: the secondary served the stream
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("beta");
        assertThat(response.body()).contains("Secondary").doesNotContain("event: error").endsWith("data: [DONE]\n\n");
        // And the queued upstream request was abandoned
        alpha.awaitAbandoned(5_000);
        assertThat(usageRecord(response).get("fallback")).isEqualTo(true);
    }

    @Test
    void streamKeptOpenWithCommentsAloneAsTheLastCandidateIsAnsweredWithGatewayTimeout() {
        // Given the only deployment, at DeepSeek, answers a stream's head, then only ": keep-alive" comments
        alpha.fault = Fault.KEEP_ALIVE;

        // When a stream is requested
        HttpResponse<String> response = chat("queued-alone", new JsonObject().put("stream", true));

        // Then after idle_ms it is 504 upstream_timeout naming the provider
        assertThat(response.statusCode()).as(response.body()).isEqualTo(504);
        JsonObject error = error(response);
        assertThat(error.getString("code")).isEqualTo("upstream_timeout");
        assertThat(error.getString("provider")).isEqualTo("alpha-deepseek");
        alpha.awaitAbandoned(5_000);
    }

    @Test
    void elsewhereCommentsAreTheProvidersProgressAsWhileAModelReasonsUnseen() {
        // Given a provider that sends comments for 1.5 s, longer than idle_ms (1 s), before the answer,
        // as OpenRouter does while a model reasons without showing it
        alpha.fault = Fault.KEEP_ALIVE;
        alpha.keepAliveComments = 30;

        // When a stream is requested
        HttpResponse<String> response = chat("processing-stream", new JsonObject().put("stream", true));

        // Then the comments held off idle_ms, and the provider's answer came through
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("alpha");
        assertThat(response.body()).contains("\"content\":\" upstream.\"").doesNotContain("event: error")
            .endsWith("data: [DONE]\n\n");
        assertThat(beta.requests()).isEmpty();
    }

    // ---- helpers ------------------------------------------------------------------------------

    private static HttpResponse<String> chat(String model) {
        return chat(model, new JsonObject());
    }

    private static HttpResponse<String> chat(String model, JsonObject extra) {
        JsonObject body = new JsonObject().put("model", model)
            .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "hi")));
        extra.forEach(e -> body.put(e.getKey(), e.getValue()));
        return gateway.post("/v1/chat/completions", key, body.encode());
    }

    private static String content(JsonObject completion) {
        return completion.getJsonArray("choices").getJsonObject(0).getJsonObject("message").getString("content");
    }

    private static JsonObject error(HttpResponse<String> response) {
        return new JsonObject(response.body()).getJsonObject("error");
    }

    /** The SSE events of a body, each without its blank-line terminator. */
    private static List<String> events(String body) {
        List<String> events = new ArrayList<>();
        for (String event : body.split("\n\n")) {
            if (!event.isBlank()) {
                events.add(event);
            }
        }
        return events;
    }

    /** The one usage record of a response's request, once written. */
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

    /** GET /admin/v1/upstreams, the entry of one deployment. */
    static JsonObject upstream(String provider, String deployment) {
        JsonObject list = gateway.adminOk("GET", "/admin/v1/upstreams", null);
        return list.getJsonArray("data").stream().map(JsonObject.class::cast)
            .filter(u -> provider.equals(u.getString("provider")) && deployment.equals(u.getString("deployment")))
            .findFirst().orElseThrow(() -> new AssertionError("no upstream " + provider + "/" + deployment + " in " + list));
    }

    /** The value of one Prometheus sample whose labels include all of {@code labels}; 0 if absent. */
    private static double metric(String name, String... labels) {
        HttpResponse<String> response = scrape();
        assertThat(response.statusCode()).isEqualTo(200);
        Matcher sample = Pattern.compile("(?m)^" + Pattern.quote(name) + "\\{([^}]*)} (\\S+)$").matcher(response.body());
        while (sample.find()) {
            String found = sample.group(1);
            if (java.util.Arrays.stream(labels).allMatch(found::contains)) {
                return Double.parseDouble(sample.group(2));
            }
        }
        return 0;
    }

    /**
     * GET /metrics over HTTP/1.1, as Prometheus scrapes, with a bound on the whole exchange
     * (HttpRequest.timeout stops at the response head). Over the JDK client's default h2c upgrade,
     * one run under heavy load saw a scrape whose body never arrived, and hung the class.
     */
    private static HttpResponse<String> scrape() {
        try {
            return SCRAPER.sendAsync(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/metrics"))).GET().build(),
                HttpResponse.BodyHandlers.ofString()).get(15, java.util.concurrent.TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("GET /metrics did not complete", e);
        }
    }
}
