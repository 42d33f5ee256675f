package io.tokenhub.ops;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeUpstreamGateway;
import io.tokenhub.testing.TestGateway;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@code /metrics} after one request: every series PRODUCT §6 names, with its labels, and no key in any. */
class MetricsIT {

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("gpt-4o-mini", """
        providers:
          - { id: openai, type: openai, base_url: "%s" }
        models:
          - id: gpt-4o-mini
            pricing: { input: 0.15, output: 0.60 }
            deployments: [ { provider: openai, model: gpt-4o-mini } ]
            fallbacks: [ spare ]
          - id: spare
            pricing: { input: 0.15, output: 0.60 }
            deployments: [ { provider: openai, model: spare } ]
          - id: counted
            pricing: { input: 0.15, output: 0.60 }
            deployments: [ { provider: openai, model: counted } ]
        """, "billing: { signup_credit_usd: 1 }");

    static FakeOpenAiUpstream upstream;
    static TestGateway gateway;

    @BeforeAll
    static void start() {
        upstream = hub.upstream();
        gateway = hub.gateway();
    }

    @Test
    void afterOneRequestEverySeriesOfTheSpecificationIsThereAndNoneNamesAKey() {
        // Given a key and one answered chat request
        String key = gateway.newKey();
        HttpResponse<String> answered = gateway.post("/v1/chat/completions", key,
            "{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertThat(answered.statusCode()).isEqualTo(200);

        // When the management port is scraped, once the request's record is made (it follows the answer)
        TestGateway.eventually(() -> scrape().body().contains("tokenhub_requests_total{"), 5_000, "the request counted");
        HttpResponse<String> scrape = scrape();

        // Then it is Prometheus text with every named series, limits and fallbacks at zero until they happen
        assertThat(scrape.statusCode()).isEqualTo(200);
        assertThat(scrape.headers().firstValue("Content-Type")).hasValueSatisfying(t -> assertThat(t).startsWith("text/plain"));
        assertThat(scrape.body()).contains(
            "tokenhub_requests_total{model=\"gpt-4o-mini\",provider=\"openai\",status=\"200\"} 1.0",
            "tokenhub_request_duration_seconds_bucket{model=\"gpt-4o-mini\",provider=\"openai\",le=",
            "tokenhub_time_to_first_token_seconds_bucket{le=",
            "tokenhub_overhead_seconds_count",
            "tokenhub_tokens_total{model=\"gpt-4o-mini\",provider=\"openai\",type=\"prompt\"}",
            "tokenhub_tokens_total{model=\"gpt-4o-mini\",provider=\"openai\",type=\"completion\"}",
            "tokenhub_cost_usd_total{model=\"gpt-4o-mini\"}",
            "tokenhub_upstream_requests_total{deployment=\"gpt-4o-mini\",outcome=\"success\",provider=\"openai\"} 1.0",
            "tokenhub_circuit_state{deployment=\"gpt-4o-mini\",provider=\"openai\"} 0.0",
            "tokenhub_rate_limited_total{scope=\"key_rpm\"} 0.0",
            "tokenhub_rate_limited_total{scope=\"model_tpm\"} 0.0",
            "tokenhub_fallbacks_total{from=\"gpt-4o-mini\",to=\"spare\"} 0.0",
            "tokenhub_usage_queue_depth",
            "jvm_memory_used_bytes",
            "vertx_http_server_requests_total");
        assertThat(scrape.body()).doesNotContain(key).doesNotContain(key.substring(0, 12));
    }

    @Test
    void tokensCountAsTheUsageObjectDoesWithItsDetailsAsPartsAndEveryCounterSaysWhatItCounts() {
        // Given an answer of 20 prompt tokens (6 of them cached) and 9 completion tokens (4 of them reasoning)
        upstream.usage = FakeOpenAiUpstream.usage(20, 9, 6, 4);
        String key = gateway.newKey();

        // When it is answered and counted
        HttpResponse<String> answered = gateway.post("/v1/chat/completions", key,
            "{\"model\":\"counted\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertThat(answered.statusCode()).isEqualTo(200);
        String series = "tokenhub_tokens_total{model=\"counted\",provider=\"openai\",type=";
        TestGateway.eventually(() -> scrape().body().contains(series + "\"prompt\"}"), 5_000, "the tokens counted");
        String body = scrape().body();

        // Then prompt and completion are the usage object's, and the details are parts of them
        assertThat(body).contains(series + "\"prompt\"} 20.0", series + "\"cached\"} 6.0",
            series + "\"completion\"} 9.0", series + "\"reasoning\"} 4.0");
        // And no counter of TokenHub's has an empty HELP line
        assertThat(body.lines().filter(line -> line.startsWith("# HELP tokenhub_")))
            .isNotEmpty().allSatisfy(help -> assertThat(help.split(" ", 4)).hasSize(4)
                .satisfies(parts -> assertThat(parts[3]).isNotBlank()));
    }

    @Test
    void theManagementPortsResponsesCarryTheRequestIdAndProviderHeadersAsEveryResponseDoes() {
        for (String path : List.of("/metrics", "/health/live", "/health/ready", "/nowhere")) {
            HttpResponse<String> answer = gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl(path))));
            assertThat(answer.headers().firstValue("X-Request-Id")).as(path).hasValueSatisfying(id ->
                assertThat(id).startsWith("req_"));
            assertThat(answer.headers().firstValue("X-TokenHub-Provider")).as(path).hasValue("none");
        }
    }

    @Test
    void aMethodHttpDoesNotDefineIsMeteredAsOtherNotAsANewSeries() {
        // Given requests with methods any client may invent
        for (String method : List.of("INVENTED1", "INVENTED2", "INVENTED3")) {
            HttpResponse<String> answer = gateway.send(HttpRequest.newBuilder(URI.create(gateway.url("/v1/models")))
                .method(method, HttpRequest.BodyPublishers.noBody()));
            assertThat(answer.statusCode()).isEqualTo(405);
        }

        // Then the server's meters have one label value for them all
        TestGateway.eventually(() -> scrape().body().contains("method=\"OTHER\""), 5_000, "the requests metered");
        assertThat(scrape().body()).doesNotContain("INVENTED");
    }

    @Test
    void aRequestAnsweredBeforeItsBodyCameIsNoLongerBeingProcessed() throws Exception {
        // Given two requests answered before their bodies came, on connections then closed: one too
        // large for the gateway (413), one whose key is unknown (401)
        String key = gateway.newKey();
        int port = URI.create(gateway.url("/")).getPort();
        for (String headers : List.of("Content-Length: 999999999\r\nAuthorization: Bearer " + key,
            "Content-Length: 100\r\nAuthorization: Bearer th-unknown")) {
            try (Socket socket = new Socket("127.0.0.1", port)) {
                socket.getOutputStream().write(("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + "Content-Type: application/json\r\n" + headers + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                String status = new BufferedReader(new InputStreamReader(socket.getInputStream(),
                    StandardCharsets.US_ASCII)).readLine();
                assertThat(status).matches("HTTP/1.1 (413|401) .*");
            }
        }

        // Then, both answers counted, no POST is still counted as being processed
        TestGateway.eventually(() -> scrape().body().contains("code=\"401\",method=\"POST\""), 5_000, "the 401 counted");
        TestGateway.eventually(() -> activePosts() == 0, 5_000, "no POST active");
    }

    /** {@code vertx_http_server_active_requests{method="POST"}}. */
    private static double activePosts() {
        return scrape().body().lines().filter(line -> line.startsWith("vertx_http_server_active_requests{")
                && line.contains("method=\"POST\""))
            .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1))).sum();
    }

    private static HttpResponse<String> scrape() {
        return gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/metrics"))).GET());
    }
}
