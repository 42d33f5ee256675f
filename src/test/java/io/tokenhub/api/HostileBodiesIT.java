package io.tokenhub.api;

import static io.tokenhub.testing.OpenAiErrorAssert.assertOpenAiErrorShape;
import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeAnthropicUpstream;
import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Hostile bodies within the size limit, and odd request headers: each is a clear OpenAI-style 400
 * (or works), never a 500, a hang, or a refusal that is not in the OpenAI shape.
 */
class HostileBodiesIT {

    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();

    static Vertx vertx;
    static FakeOpenAiUpstream openai;
    static FakeAnthropicUpstream anthropic;
    static TestGateway gateway;
    static String key;

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        openai = new FakeOpenAiUpstream(vertx, "gpt-4o-mini").start();
        anthropic = new FakeAnthropicUpstream(vertx).start().toCompletionStage().toCompletableFuture()
            .get(10, TimeUnit.SECONDS);
        gateway = TestGateway.start("""
            providers:
              - { id: mock, type: mock }
              - { id: openai, type: openai, base_url: "%s" }
              - { id: anthropic, type: anthropic, base_url: "%s", api_key: secret }
            models:
              - id: mock-chat
                capabilities: [tools, structured_output]
                deployments: [ { provider: mock, model: mock-chat-1 } ]
              - id: gpt
                capabilities: [tools, structured_output]
                pricing: { input: 0.15, output: 0.60 }
                deployments: [ { provider: openai, model: gpt-4o-mini } ]
              - id: claude
                capabilities: [tools]
                context_window: 200000
                max_output_tokens: 8192
                default_max_tokens: 1024
                pricing: { input: 3.0, output: 15.0 }
                deployments: [ { provider: anthropic, model: claude-x } ]
            """.formatted(openai.baseUrl(), anthropic.baseUrl()),
            "server: { port: 0, management_port: 0, instances: 1, max_body_bytes: 10485760, shutdown_grace_ms: 5000 }");
        key = gateway.newKey();
    }

    @AfterAll
    static void stop() {
        if (gateway != null) {
            gateway.close();
        }
        if (openai != null) {
            openai.stop();
        }
        vertx.close();
    }

    static HttpResponse<String> post(byte[] body, Map<String, List<String>> headers) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(gateway.url("/v1/chat/completions")))
            .timeout(Duration.ofSeconds(30)).POST(HttpRequest.BodyPublishers.ofByteArray(body));
        headers.forEach((name, values) -> values.forEach(v -> request.header(name, v)));
        try {
            return HTTP.sendAsync(request.build(), HttpResponse.BodyHandlers.ofString()).get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("no answer for a hostile body: " + e, e);
        }
    }

    static Map<String, List<String>> json() {
        Map<String, List<String>> headers = new LinkedHashMap<>();
        headers.put("Authorization", List.of("Bearer " + key));
        headers.put("Content-Type", List.of("application/json"));
        return headers;
    }

    static HttpResponse<String> post(String body) {
        return post(body.getBytes(StandardCharsets.UTF_8), json());
    }

    static String chat(String model, String extraFields) {
        return "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
            + (extraFields.isEmpty() ? "" : "," + extraFields) + "}";
    }

    /** A case, the statuses it may have, and the param a 400 must name (null: any). */
    record Case(String name, byte[] body, Map<String, List<String>> headers, List<Integer> statuses, String param) {
        Case(String name, String body, List<Integer> statuses, String param) {
            this(name, body.getBytes(StandardCharsets.UTF_8), json(), statuses, param);
        }
    }

    private static void check(List<Case> cases) {
        List<String> failures = new ArrayList<>();
        for (Case c : cases) {
            HttpResponse<String> response;
            try {
                response = post(c.body(), c.headers());
            } catch (AssertionError e) {
                failures.add(c.name() + ": " + e.getMessage());
                continue;
            }
            String summary = c.name() + ": " + response.statusCode() + " "
                + response.body().substring(0, Math.min(300, response.body().length()));
            if (!c.statuses().contains(response.statusCode())) {
                failures.add(summary + " (expected one of " + c.statuses() + ")");
                continue;
            }
            if (response.statusCode() >= 400) {
                try {
                    JsonObject error = assertOpenAiErrorShape(response.body());
                    if (c.param() != null && !c.param().equals(error.getValue("param"))) {
                        failures.add(summary + " (expected param " + c.param() + ")");
                    }
                } catch (AssertionError e) {
                    failures.add(summary + " (not the OpenAI shape: " + e.getMessage() + ")");
                }
            }
        }
        assertThat(failures).as("hostile bodies answered wrongly").isEmpty();
    }

    private static final List<Integer> OK = List.of(200);
    private static final List<Integer> BAD = List.of(400);
    private static final List<Integer> OK_OR_BAD = List.of(200, 400);

    @Test
    void deeplyNestedBodiesAreA400() {
        String deep = "[".repeat(10_000) + "]".repeat(10_000);
        String deepObject = "{\"a\":".repeat(10_000) + "1" + "}".repeat(10_000);
        String schema = "{\"type\":\"object\",\"properties\":{\"x\":".repeat(900) + "{\"type\":\"string\"}"
            + "}}".repeat(900);
        check(List.of(
            new Case("array nested 10000 deep", chat("mock-chat", "\"metadata\":" + deep), BAD, null),
            new Case("object nested 10000 deep", chat("mock-chat", "\"metadata\":" + deepObject), BAD, null),
            new Case("content nested 10000 deep", "{\"model\":\"mock-chat\",\"messages\":[{\"role\":\"user\","
                + "\"content\":" + deep + "}]}", BAD, null),
            new Case("tool schema nested 900 deep (mock)", chat("mock-chat", "\"tools\":[{\"type\":\"function\","
                + "\"function\":{\"name\":\"f\",\"parameters\":" + schema + "}}]"), OK_OR_BAD, null),
            new Case("tool schema nested 900 deep (openai)", chat("gpt", "\"tools\":[{\"type\":\"function\","
                + "\"function\":{\"name\":\"f\",\"parameters\":" + schema + "}}]"), OK_OR_BAD, null),
            new Case("tool schema nested 900 deep (anthropic)", chat("claude", "\"tools\":[{\"type\":\"function\","
                + "\"function\":{\"name\":\"f\",\"parameters\":" + schema + "}}]"), OK_OR_BAD, null),
            new Case("json_schema nested 900 deep (mock)", chat("mock-chat", "\"response_format\":{\"type\":"
                + "\"json_schema\",\"json_schema\":{\"name\":\"s\",\"schema\":" + schema + "}}"), OK_OR_BAD, null)));
    }

    @Test
    void hugeNumbersAreA400NamingTheField() {
        String twoTo70 = "1180591620717411303424";
        check(List.of(
            new Case("temperature 1e400", chat("mock-chat", "\"temperature\":1e400"), BAD, "temperature"),
            new Case("temperature -1e400", chat("mock-chat", "\"temperature\":-1e400"), BAD, "temperature"),
            new Case("top_p 2^70", chat("mock-chat", "\"top_p\":" + twoTo70), BAD, "top_p"),
            new Case("max_tokens 2^70", chat("mock-chat", "\"max_tokens\":" + twoTo70), BAD, "max_tokens"),
            new Case("max_tokens 1e400", chat("mock-chat", "\"max_tokens\":1e400"), BAD, "max_tokens"),
            new Case("max_tokens 2^31", chat("mock-chat", "\"max_tokens\":2147483648"), BAD, "max_tokens"),
            new Case("max_completion_tokens 2^70", chat("mock-chat", "\"max_completion_tokens\":" + twoTo70), BAD,
                "max_completion_tokens"),
            new Case("n 2^70", chat("mock-chat", "\"n\":" + twoTo70), BAD, "n"),
            new Case("n 2^31-1", chat("mock-chat", "\"n\":2147483647"), BAD, "n"),
            new Case("seed 2^70", chat("mock-chat", "\"seed\":" + twoTo70), BAD, "seed"),
            new Case("top_logprobs 2^70", chat("mock-chat", "\"logprobs\":true,\"top_logprobs\":" + twoTo70), BAD,
                "top_logprobs"),
            new Case("max_tokens of 5000 digits", chat("mock-chat", "\"max_tokens\":" + "9".repeat(5000)), BAD, null),
            new Case("logit_bias 1e400", chat("mock-chat", "\"logit_bias\":{\"1\":1e400}"), BAD, "logit_bias"),
            new Case("anthropic temperature 1e400", chat("claude", "\"temperature\":1e400"), BAD, "temperature"),
            new Case("anthropic max_tokens 2^70", chat("claude", "\"max_tokens\":" + twoTo70), BAD, "max_tokens")));
    }

    @Test
    void longListsAreA400OrWork() {
        StringBuilder messages = new StringBuilder("[");
        for (int i = 0; i < 100_000; i++) {
            messages.append(i == 0 ? "" : ",").append("{\"role\":\"user\",\"content\":\"a\"}");
        }
        messages.append("]");
        JsonObject bias = new JsonObject();
        for (int i = 0; i < 100_000; i++) {
            bias.put(String.valueOf(i), 1);
        }
        JsonArray stop = new JsonArray();
        for (int i = 0; i < 10_000; i++) {
            stop.add("s" + i);
        }
        JsonArray tools = new JsonArray();
        for (int i = 0; i < 5_000; i++) {
            tools.add(new JsonObject().put("type", "function").put("function", new JsonObject().put("name", "f" + i)
                .put("parameters", new JsonObject().put("type", "object"))));
        }
        check(List.of(
            new Case("100 000 messages (mock)", "{\"model\":\"mock-chat\",\"messages\":" + messages + "}", OK_OR_BAD,
                null),
            new Case("100 000 messages (openai)", "{\"model\":\"gpt\",\"messages\":" + messages + "}", OK_OR_BAD,
                null),
            new Case("100 000 messages (anthropic)", "{\"model\":\"claude\",\"messages\":" + messages + "}", OK_OR_BAD,
                null),
            new Case("logit_bias of 100 000", chat("mock-chat", "\"logit_bias\":" + bias.encode()), OK_OR_BAD, null),
            new Case("stop of 10 000", chat("mock-chat", "\"stop\":" + stop.encode()), BAD, "stop"),
            new Case("n 128 (mock)", chat("mock-chat", "\"n\":128,\"max_tokens\":16"), OK_OR_BAD, null),
            new Case("n 129", chat("mock-chat", "\"n\":129"), BAD, "n"),
            new Case("5 000 tools (anthropic)", chat("claude", "\"tools\":" + tools.encode()), OK_OR_BAD, null),
            new Case("5 000 tools (mock)", chat("mock-chat", "\"tools\":" + tools.encode()), OK_OR_BAD, null)));
    }

    @Test
    void oddTextIsA400OrWorks() {
        byte[] invalidUtf8 = ("{\"model\":\"mock-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"a\u00ff"
            + "b\"}]}").getBytes(StandardCharsets.ISO_8859_1);
        byte[] invalidUtf8Claude = ("{\"model\":\"claude\",\"messages\":[{\"role\":\"user\",\"content\":\"a\u00ff"
            + "b\"}]}").getBytes(StandardCharsets.ISO_8859_1);
        String longPrompt = "x".repeat(600);
        check(List.of(
            new Case("lone high surrogate (mock)", msg("mock-chat", "a\\ud800b"), OK, null),
            new Case("lone low surrogate (mock)", msg("mock-chat", "a\\udc00b"), OK, null),
            new Case("lone surrogate (openai, short)", msg("gpt", "a\\ud800b"), OK, null),
            new Case("lone surrogate (openai, relayed bytes)", msg("gpt", longPrompt + "\\ud800b"), OK, null),
            new Case("lone surrogate (anthropic)", msg("claude", "a\\ud800b"), OK, null),
            new Case("lone surrogate in tool name (anthropic)", chat("claude", "\"tools\":[{\"type\":\"function\","
                + "\"function\":{\"name\":\"f\\ud800\",\"parameters\":{\"type\":\"object\"}}}]"), OK_OR_BAD, null),
            new Case("lone surrogate, stream (mock)", "{\"model\":\"mock-chat\",\"stream\":true,\"messages\":[{\"role\":"
                + "\"user\",\"content\":\"a\\ud800b\"}]}", OK, null),
            new Case("lone surrogate, stream (anthropic)", "{\"model\":\"claude\",\"stream\":true,\"messages\":[{\"role\":"
                + "\"user\",\"content\":\"a\\ud800b\"}]}", OK, null),
            new Case("NUL in prompt (mock)", msg("mock-chat", "a\\u0000b"), OK, null),
            new Case("NUL in prompt (anthropic)", msg("claude", "a\\u0000b"), OK, null),
            new Case("NUL in user", chat("mock-chat", "\"user\":\"u\\u0000x\""), OK, null),
            new Case("NUL in model", msg("mock-chat\\u0000", "a"), List.of(404), "model"),
            new Case("surrogate in model", msg("mock-chat\\ud800", "a"), List.of(404), "model"),
            new Case("invalid UTF-8 (mock)", invalidUtf8, json(), BAD, null),
            new Case("invalid UTF-8 (anthropic)", invalidUtf8Claude, json(), BAD, null),
            new Case("duplicate keys (last one is a model)", "{\"model\":\"nope\",\"model\":\"mock-chat\","
                + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", OK_OR_BAD, null),
            new Case("duplicate max_tokens", chat("gpt", "\"max_tokens\":5,\"max_tokens\":999999999"), BAD,
                "max_tokens"),
            new Case("top-level array", "[]", BAD, null),
            new Case("top-level null", "null", BAD, null),
            new Case("two objects", chat("mock-chat", "") + chat("mock-chat", ""), BAD, null),
            new Case("NaN temperature", chat("mock-chat", "\"temperature\":NaN"), BAD, null),
            new Case("long field name", chat("mock-chat", "\"" + "k".repeat(200_000) + "\":1"), OK_OR_BAD, null)));
    }

    private static String msg(String model, String content) {
        return "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + content + "\"}]}";
    }

    @Test
    void oddHeadersAreAnsweredClearly() {
        String body = chat("mock-chat", "");
        List<Case> cases = new ArrayList<>();
        cases.add(new Case("lower-case bearer", body.getBytes(StandardCharsets.UTF_8),
            headers("bearer " + key, "application/json"), OK, null));
        cases.add(new Case("upper-case BEARER", body.getBytes(StandardCharsets.UTF_8),
            headers("BEARER " + key, "application/json"), OK, null));
        cases.add(new Case("key with trailing spaces", body.getBytes(StandardCharsets.UTF_8),
            headers("Bearer " + key + "   ", "application/json"), OK, null));
        cases.add(new Case("two spaces after Bearer", body.getBytes(StandardCharsets.UTF_8),
            headers("Bearer  " + key, "application/json"), OK, null));
        cases.add(new Case("8 KB Authorization", body.getBytes(StandardCharsets.UTF_8),
            headers("Bearer th-" + "a".repeat(8_000), "application/json"), List.of(401), null));
        cases.add(new Case("20 KB Authorization", body.getBytes(StandardCharsets.UTF_8),
            headers("Bearer th-" + "a".repeat(20_000), "application/json"), List.of(401, 431), null));
        Map<String, List<String>> two = new LinkedHashMap<>();
        two.put("Authorization", List.of("Bearer " + key, "Bearer th-wrongwrongwrongwrongwrongwrongwrong1"));
        two.put("Content-Type", List.of("application/json"));
        cases.add(new Case("two Authorization headers, good first", body.getBytes(StandardCharsets.UTF_8), two,
            List.of(200, 400, 401), null));
        Map<String, List<String>> twoBadFirst = new LinkedHashMap<>();
        twoBadFirst.put("Authorization", List.of("Bearer th-wrongwrongwrongwrongwrongwrongwrong1", "Bearer " + key));
        twoBadFirst.put("Content-Type", List.of("application/json"));
        cases.add(new Case("two Authorization headers, bad first", body.getBytes(StandardCharsets.UTF_8), twoBadFirst,
            List.of(400, 401), null));
        cases.add(new Case("charset=utf-16 label on UTF-8", body.getBytes(StandardCharsets.UTF_8),
            headers("Bearer " + key, "application/json; charset=utf-16"), OK_OR_BAD, null));
        cases.add(new Case("real UTF-16 body", body.getBytes(StandardCharsets.UTF_16BE),
            headers("Bearer " + key, "application/json; charset=utf-16"), OK_OR_BAD, null));
        cases.add(new Case("UTF-16 with BOM", body.getBytes(StandardCharsets.UTF_16),
            headers("Bearer " + key, "application/json; charset=utf-16"), OK_OR_BAD, null));
        cases.add(new Case("text/plain", body.getBytes(StandardCharsets.UTF_8),
            headers("Bearer " + key, "text/plain"), List.of(200, 400, 415), null));
        cases.add(new Case("no content type", body.getBytes(StandardCharsets.UTF_8),
            headers("Bearer " + key, null), List.of(200, 400, 415), null));
        cases.add(new Case("form content type", body.getBytes(StandardCharsets.UTF_8),
            headers("Bearer " + key, "application/x-www-form-urlencoded"), List.of(200, 400, 415), null));
        cases.add(new Case("multipart content type", body.getBytes(StandardCharsets.UTF_8),
            headers("Bearer " + key, "multipart/form-data; boundary=xyz"), List.of(200, 400, 415), null));
        check(cases);
    }

    private static Map<String, List<String>> headers(String authorization, String contentType) {
        Map<String, List<String>> headers = new LinkedHashMap<>();
        headers.put("Authorization", List.of(authorization));
        if (contentType != null) {
            headers.put("Content-Type", List.of(contentType));
        }
        return headers;
    }
}
