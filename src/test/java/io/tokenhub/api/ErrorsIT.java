package io.tokenhub.api;

import static io.tokenhub.testing.OpenAiErrorAssert.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.tokenhub.testing.FakeOpenAiUpstream.Fault;
import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeUpstreamGateway;
import io.tokenhub.testing.OpenAiErrorAssert;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.slf4j.LoggerFactory;

/**
 * Every error of PRODUCT.md §3 that the gateway produces today, through real HTTP: the status, the
 * exact OpenAI {@code error} object ({@code type}, {@code code}, {@code param}, plus {@code provider}
 * when an upstream failed), never HTML or a stack trace, always an {@code X-Request-Id}; and for the
 * refusals made before routing, that the upstream heard nothing and no usage record was written.
 */
class ErrorsIT {

    private static final String CHAT = "/v1/chat/completions";
    private static final String VALID = """
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}""";

    // openai: one retry, a breaker that never opens in this class; slow: a 300 ms first-byte limit;
    // fragile: a breaker that opens on the first failure and stays open for the whole class.
    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("gpt-4o-mini-2024-07-18", """
        providers:
          - id: openai
            type: openai
            base_url: "%1$s"
            api_key: provider-secret-key
            retries: 1
            circuit_breaker: { max_failures: 1000, reset_ms: 60000 }
          - id: slow
            type: openai
            base_url: "%1$s"
            api_key: provider-secret-key
            timeouts: { first_byte_ms: 300 }
            circuit_breaker: { max_failures: 1000 }
          - id: patient
            type: openai
            base_url: "%1$s"
            api_key: provider-secret-key
            timeouts: { first_byte_ms: 5000, idle_ms: 200 }
          - id: fragile
            type: openai
            base_url: "%1$s"
            api_key: provider-secret-key
            circuit_breaker: { max_failures: 1, reset_ms: 600000 }
        models:
          - id: gpt-4o-mini
            context_window: 1000
            max_output_tokens: 300
            default_max_tokens: 200
            pricing: { input: 0.15, output: 0.60 }
            deployments: [ { provider: openai, model: gpt-4o-mini } ]
          - id: other-model
            pricing: { input: 1.0, output: 2.0 }
            deployments: [ { provider: openai, model: other-model } ]
          - id: slow-model
            pricing: { input: 1.0, output: 2.0 }
            deployments: [ { provider: slow, model: slow-model } ]
          - id: patient-model
            pricing: { input: 1.0, output: 2.0 }
            deployments: [ { provider: patient, model: patient-model } ]
          - id: fragile-model
            pricing: { input: 1.0, output: 2.0 }
            deployments: [ { provider: fragile, model: fragile-model } ]
        """, "billing: { signup_credit_usd: 100 }");

    static FakeOpenAiUpstream upstream;
    static TestGateway gateway;
    static String key;

    @BeforeAll
    static void start() {
        upstream = hub.upstream();
        gateway = hub.gateway();
        key = gateway.newKey();
    }

    // ---------------------------------------------------------------- 400: bad bodies

    @Test
    void moreThan128ChoicesIsA400NamingN() {
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key,
            "{\"model\":\"gpt-4o-mini\",\"n\":129,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        assertOpenAiError(response, 400, "invalid_request_error", "invalid_request_error", "n");
    }

    @Test
    void requestsRefusedBeforeRoutingAreCountedInTokenhubRequestsTotal() {
        double unknownKeyBefore = requestsTotal("model=\"unknown\"", "provider=\"none\"", "status=\"401\"");
        double badBodyBefore = requestsTotal("model=\"unknown\"", "provider=\"none\"", "status=\"400\"");
        double tooLongBefore = requestsTotal("model=\"gpt-4o-mini\"", "provider=\"none\"", "status=\"400\"");

        gateway.post("/v1/chat/completions", "th-notAKeyThatExists0000000000000000000000",
            "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        gateway.post("/v1/chat/completions", key,
            "{\"model\":\"gpt-4o-mini\",\"max_tokens\":100000,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        gateway.post("/v1/chat/completions", key, "{\"model\":\"no-such-model\",\"messages\":[]}");
        double badTemperatureBefore = requestsTotal("model=\"gpt-4o-mini\"", "provider=\"none\"", "status=\"400\"");
        gateway.post("/v1/chat/completions", key,
            "{\"model\":\"gpt-4o-mini\",\"temperature\":\"hot\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        // A request refused before its model was known is labelled with no model: the client's string
        // never becomes a label; one refused for a model of the catalog is labelled with that model.
        assertThat(requestsTotal("model=\"unknown\"", "provider=\"none\"", "status=\"401\""))
            .isEqualTo(unknownKeyBefore + 1);
        assertThat(requestsTotal("model=\"unknown\"", "provider=\"none\"", "status=\"400\""))
            .isGreaterThanOrEqualTo(badBodyBefore + 1);
        assertThat(requestsTotal("model=\"gpt-4o-mini\"", "provider=\"none\"", "status=\"400\""))
            .isGreaterThanOrEqualTo(tooLongBefore + 1);
        assertThat(requestsTotal("model=\"no-such-model\"")).isZero();
        // A body refused for a model the catalog has is counted under that model.
        assertThat(requestsTotal("model=\"gpt-4o-mini\"", "provider=\"none\"", "status=\"400\""))
            .isEqualTo(badTemperatureBefore + 1);
    }

    @Test
    void aBodyOverTheLimitIsCountedInTokenhubRequestsTotalWithOrWithoutItsLength() {
        double before = requestsTotal("model=\"unknown\"", "provider=\"none\"", "status=\"413\"");
        String tooLarge = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\""
            + "x".repeat(70_000) + "\"}]}";

        HttpResponse<String> declared = gateway.post(CHAT, key, tooLarge);
        // Without a length, the body handler cuts it off at the limit.
        HttpResponse<String> chunked = gateway.send(HttpRequest.newBuilder(URI.create(gateway.url(CHAT)))
            .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new java.io.ByteArrayInputStream(
                tooLarge.getBytes(StandardCharsets.UTF_8)))));

        assertThat(declared.statusCode()).isEqualTo(413);
        assertThat(chunked.statusCode()).isEqualTo(413);
        assertThat(requestsTotal("model=\"unknown\"", "provider=\"none\"", "status=\"413\"")).isEqualTo(before + 2);
    }

    @ParameterizedTest
    @ValueSource(strings = {"/admin/v1/accounts?limit=1", "/admin/v1/keys?limit=1", "/console/api/account"})
    void aGetSentAsAFormIsAnsweredAsWithoutABody(String path) {
        // curl -d '' -X GET sends Content-Type: application/x-www-form-urlencoded
        HttpRequest.Builder form = HttpRequest.newBuilder(URI.create(gateway.url(path)))
            .header("Authorization", "Bearer " + TestGateway.MASTER_KEY)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .method("GET", HttpRequest.BodyPublishers.ofString("a=b"));
        HttpRequest.Builder plain = HttpRequest.newBuilder(URI.create(gateway.url(path)))
            .header("Authorization", "Bearer " + TestGateway.MASTER_KEY).GET();

        HttpResponse<String> asForm = gateway.send(form);
        HttpResponse<String> asGet = gateway.send(plain);

        assertThat(asForm.statusCode()).isEqualTo(asGet.statusCode()).isNotEqualTo(500);
        assertThat(new JsonObject(asForm.body()).fieldNames()).isEqualTo(new JsonObject(asGet.body()).fieldNames());
    }

    /** The sum of the tokenhub_requests_total samples whose labels include all of {@code labels}. */
    private static double requestsTotal(String... labels) {
        HttpResponse<String> metrics = gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/metrics"))));
        return metrics.body().lines().filter(l -> l.startsWith("tokenhub_requests_total{"))
            .filter(l -> Stream.of(labels).allMatch(l::contains))
            .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }

    @Test
    void malformedJsonIsA400WithNullParam() {
        // Given a body that is not JSON
        String body = "{\"model\": \"gpt-4o-mini\", \"messages\": [";

        // When it is posted
        HttpResponse<String> response = gateway.post(CHAT, key, body);

        // Then it is refused before the upstream, with no param
        JsonObject error = assertOpenAiError(response, 400, "invalid_request_error", "invalid_request_error", null);
        assertThat(error.getString("message")).containsIgnoringCase("JSON");
        assertRefusedBeforeTheUpstream(response);
    }

    static Stream<Arguments> wronglyTypedBodies() {
        return Stream.of(
            Arguments.of("messages is not an array",
                "{\"model\": \"gpt-4o-mini\", \"messages\": \"hi\"}", "messages"),
            Arguments.of("temperature is a string",
                "{\"model\": \"gpt-4o-mini\", \"temperature\": \"hot\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}",
                "temperature"),
            Arguments.of("stream is a string",
                "{\"model\": \"gpt-4o-mini\", \"stream\": \"yes\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}",
                "stream"),
            Arguments.of("max_tokens is negative",
                "{\"model\": \"gpt-4o-mini\", \"max_tokens\": -1, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}",
                "max_tokens"),
            Arguments.of("a message has no role",
                "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"content\": \"hi\"}]}", "messages[0].role"),
            Arguments.of("model is missing",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "model"),
            Arguments.of("messages is missing",
                "{\"model\": \"gpt-4o-mini\"}", "messages"),
            Arguments.of("model is a number",
                "{\"model\": 42, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "model"),
            Arguments.of("a tool is a number", withField("\"tools\": [5]"), "tools[0]"),
            Arguments.of("a function tool names no function",
                withField("\"tools\": [{\"type\": \"function\"}]"), "tools[0].function.name"),
            Arguments.of("tool_choice is a number", withField("\"tool_choice\": 5"), "tool_choice"),
            Arguments.of("tool_choice names no function",
                withField("\"tool_choice\": {\"type\": \"function\"}"), "tool_choice"),
            Arguments.of("logprobs is a string", withField("\"logprobs\": \"x\""), "logprobs"),
            Arguments.of("top_logprobs is too large", withField("\"top_logprobs\": 21"), "top_logprobs"),
            Arguments.of("parallel_tool_calls is a string", withField("\"parallel_tool_calls\": \"x\""),
                "parallel_tool_calls"),
            Arguments.of("logit_bias is a number", withField("\"logit_bias\": 5"), "logit_bias"),
            Arguments.of("a json_schema format has no schema",
                withField("\"response_format\": {\"type\": \"json_schema\"}"), "response_format.json_schema"),
            Arguments.of("seed is a string", withField("\"seed\": \"x\""), "seed"),
            Arguments.of("a message name is a number",
                "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\", \"name\": 5}]}",
                "messages[0].name"),
            Arguments.of("an earlier tool call is null",
                "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, "
                    + "{\"role\": \"assistant\", \"tool_calls\": [null]}]}", "messages[1].tool_calls[0].function"),
            Arguments.of("an earlier tool call's arguments are a number",
                "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"assistant\", \"tool_calls\": "
                    + "[{\"id\": \"c\", \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": 5}}]}]}",
                "messages[0].tool_calls[0].function.arguments"));
    }

    /** A valid request to gpt-4o-mini plus one more field, given as JSON text. */
    private static String withField(String field) {
        return "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], " + field + "}";
    }

    @Test
    void aSeedBeyond32BitsIsAccepted() {
        // Given a seed as large as OpenAI's 64-bit seeds
        // When it is posted
        HttpResponse<String> response = gateway.post(CHAT, key, withField("\"seed\": 9007199254740993"));

        // Then it is answered
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    }

    @ParameterizedTest(name = "{0} → param {2}")
    @MethodSource("wronglyTypedBodies")
    void wrongTypeOrMissingFieldIsA400NamingTheParam(String why, String body, String param) {
        // Given a JSON body with one wrong or missing field
        // When it is posted
        HttpResponse<String> response = gateway.post(CHAT, key, body);

        // Then the 400 names exactly that field, and nothing was spent on it
        assertOpenAiError(response, 400, "invalid_request_error", "invalid_request_error", param);
        assertRefusedBeforeTheUpstream(response);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "[]", "\"text\"", "42", "null"})
    void bodyThatIsNotAJsonObjectIsA400WithNullParam(String body) {
        // Given a body that is empty or JSON but not an object
        // When it is posted
        HttpResponse<String> response = gateway.post(CHAT, key, body);

        // Then it is a 400 with no param
        assertOpenAiError(response, 400, "invalid_request_error", "invalid_request_error", null);
        assertRefusedBeforeTheUpstream(response);
    }

    @Test
    void promptPlusMaxTokensOverTheContextWindowIsContextLengthExceeded() {
        // Given a prompt of well over 800 tokens and max_tokens 200 on a 1000-token model
        String longText = "lorem ipsum dolor sit amet ".repeat(400);
        String body = new JsonObject().put("model", "gpt-4o-mini").put("max_tokens", 200)
            .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", longText)))
            .encode();

        // When it is posted
        HttpResponse<String> response = gateway.post(CHAT, key, body);

        // Then it is refused with the numbers in the message
        JsonObject error = assertOpenAiError(response, 400, "invalid_request_error", "context_length_exceeded",
            "messages");
        assertThat(error.getString("message")).contains("1000").contains("200");
        assertRefusedBeforeTheUpstream(response);
    }

    @Test
    void capabilityTheModelLacksIsUnsupportedParameterNamingIt() {
        // Given tools on a model configured without the tools capability
        String body = """
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
             "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}""";

        // When it is posted
        HttpResponse<String> response = gateway.post(CHAT, key, body);

        // Then it is a 400 unsupported_parameter naming tools
        assertOpenAiError(response, 400, "invalid_request_error", "unsupported_parameter", "tools");
        assertRefusedBeforeTheUpstream(response);
    }

    @Test
    void searchOnAModelWithoutTheSearchCapabilityIsUnsupportedParameter() {
        // Given enable_search on a model configured without search, and enable_search false
        String asked = withField("\"enable_search\": true");
        String declined = withField("\"enable_search\": false");

        // When each is posted
        HttpResponse<String> refused = gateway.post(CHAT, key, asked);
        HttpResponse<String> answered = gateway.post(CHAT, key, declined);

        // Then asking for search is refused naming enable_search, declining it is answered
        assertOpenAiError(refused, 400, "invalid_request_error", "unsupported_parameter", "enable_search");
        assertThat(answered.statusCode()).isEqualTo(200);
    }

    // ---------------------------------------------------------------- 404 / 403: models

    @Test
    void unknownModelIsA404ModelNotFound() {
        // Given a model the catalog does not have
        String body = "{\"model\": \"gpt-99\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}";

        // When it is requested
        HttpResponse<String> response = gateway.post(CHAT, key, body);

        // Then it is a 404 model_not_found naming the model
        JsonObject error = assertOpenAiError(response, 404, "invalid_request_error", "model_not_found", "model");
        assertThat(error.getString("message")).contains("gpt-99");
        assertRefusedBeforeTheUpstream(response);
    }

    @Test
    void unknownProviderPinIsA404ModelNotFound() {
        // Given provider/model where the provider has no deployment of that model
        String body = "{\"model\": \"slow/gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}";

        // When it is requested
        HttpResponse<String> response = gateway.post(CHAT, key, body);

        // Then it is a 404 model_not_found
        assertOpenAiError(response, 404, "invalid_request_error", "model_not_found", "model");
        assertRefusedBeforeTheUpstream(response);
    }

    @Test
    void modelOutsideTheKeysAllowedModelsIsA403ModelNotAllowed() {
        // Given a key that may use only other-model
        String restricted = gateway.newKey(new JsonObject().put("allowed_models", new JsonArray().add("other-model")))
            .getString("key");

        // When it asks for gpt-4o-mini
        HttpResponse<String> response = gateway.post(CHAT, restricted, VALID);

        // Then it is a 403 model_not_allowed, while the allowed model still works
        assertOpenAiError(response, 403, "permission_error", "model_not_allowed", "model");
        assertThat(response.headers().firstValue("x-should-retry")).hasValue("false");
        assertRefusedBeforeTheUpstream(response);
        HttpResponse<String> allowed = gateway.post(CHAT, restricted,
            "{\"model\": \"other-model\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}");
        assertThat(allowed.statusCode()).isEqualTo(200);
    }

    // ---------------------------------------------------------------- 413: body limit

    @Test
    void bodyOverTheLimitIsA413RequestTooLarge() {
        // Given a valid JSON body of more than 65536 bytes, with its Content-Length
        String body = new JsonObject().put("model", "gpt-4o-mini")
            .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "x".repeat(70_000))))
            .encode();

        // When it is posted
        HttpResponse<String> response = gateway.post(CHAT, key, body);

        // Then it is a 413 request_too_large naming the limit
        JsonObject error = assertOpenAiError(response, 413, "invalid_request_error", "request_too_large", null);
        assertThat(error.getString("message")).contains("65536");
        assertRefusedBeforeTheUpstream(response);
    }

    @Test
    void aCompressedBodyIsA415NamingTheEncodingNotAnUnreadableJson() throws IOException {
        // Given a valid chat body sent gzip-compressed, as a client may send it
        ByteArrayOutputStream compressed = new ByteArrayOutputStream();
        try (GZIPOutputStream gzip = new GZIPOutputStream(compressed)) {
            gzip.write(("{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}")
                .getBytes(StandardCharsets.UTF_8));
        }

        // When it is posted with its Content-Encoding
        HttpResponse<String> response = gateway.send(HttpRequest.newBuilder(URI.create(gateway.url(CHAT)))
            .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
            .header("Content-Encoding", "gzip").POST(HttpRequest.BodyPublishers.ofByteArray(compressed.toByteArray())));

        // Then it is a 415 that says what to do, before any upstream
        JsonObject error = assertOpenAiError(response, 415, "invalid_request_error", "unsupported_content_encoding", null);
        assertThat(error.getString("message")).contains("'gzip'").contains("uncompressed");
        assertThat(response.headers().firstValue("Accept-Encoding")).hasValue("identity");
        assertRefusedBeforeTheUpstream(response);
        // and an identity encoding is no encoding
        HttpResponse<String> plain = gateway.send(HttpRequest.newBuilder(URI.create(gateway.url(CHAT)))
            .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
            .header("Content-Encoding", "identity").POST(HttpRequest.BodyPublishers.ofString(
                "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}")));
        assertThat(plain.statusCode()).isEqualTo(200);
    }

    @Test
    void chunkedBodyOverTheLimitIsA413RequestTooLarge() {
        // Given a body of 200 000 bytes sent chunked, with no Content-Length to refuse it by
        byte[] part = "x".repeat(10_000).getBytes(StandardCharsets.UTF_8);
        List<byte[]> parts = new ArrayList<>();
        parts.add("{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"".getBytes(StandardCharsets.UTF_8));
        for (int i = 0; i < 20; i++) {
            parts.add(part);
        }
        parts.add("\"}]}".getBytes(StandardCharsets.UTF_8));

        // When it is posted
        HttpResponse<String> response = gateway.send(HttpRequest.newBuilder(URI.create(gateway.url(CHAT)))
            .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofByteArrays(parts)));

        // Then it is cut off with a 413 too
        assertOpenAiError(response, 413, "invalid_request_error", "request_too_large", null);
        assertRefusedBeforeTheUpstream(response);
    }

    @Test
    void expectContinueWithATooLargeLengthGets413InsteadOf100Continue() throws IOException {
        // Given a client that announces 10 MB and waits for 100 Continue before sending it
        String head = "POST " + CHAT + " HTTP/1.1\r\n"
            + "Host: 127.0.0.1\r\n"
            + "Authorization: Bearer " + key + "\r\n"
            + "Content-Type: application/json\r\n"
            + "Content-Length: 10000000\r\n"
            + "Expect: 100-continue\r\n"
            + "\r\n";
        RawResponse response;
        try (Socket socket = new Socket("127.0.0.1", URI.create(gateway.url("/")).getPort())) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();

            // When only the headers are sent
            out.write(head.getBytes(StandardCharsets.US_ASCII));
            out.flush();
            response = RawResponse.read(socket.getInputStream());
        }

        // Then the very first status line is the 413, with the OpenAI error body
        assertThat(response.statusLine()).startsWith("HTTP/1.1 413");
        assertThat(response.header("x-request-id")).startsWith("req_");
        assertThat(response.header("x-tokenhub-provider")).isEqualTo("none");
        assertThat(response.header("content-type")).startsWith("application/json");
        JsonObject error = OpenAiErrorAssert.assertOpenAiErrorShape(response.body());
        assertThat(error.getString("code")).isEqualTo("request_too_large");
        assertThat(error.getString("type")).isEqualTo("invalid_request_error");
        assertThat(upstream.requests()).isEmpty();
    }

    @Test
    void aChunkedRequestWithAContentLengthTooIsAnsweredWithTheConnectionClosed() throws IOException {
        // Given a request with both framings (RFC 9112 §6.1), bytes after its last chunk that a proxy
        // framing it by its length would have taken for its body
        String hidden = "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n";
        String head = "POST " + CHAT + " HTTP/1.1\r\n"
            + "Host: 127.0.0.1\r\n"
            + "Authorization: Bearer " + key + "\r\n"
            + "Content-Type: application/json\r\n"
            + "Content-Length: " + ("0\r\n\r\n".length() + hidden.length()) + "\r\n"
            + "Transfer-Encoding: chunked\r\n"
            + "\r\n"
            + "0\r\n\r\n" + hidden;
        RawResponse response = sendRaw(head);

        // Then its answer closes the connection, so that no proxy sends another request on it
        assertThat(response.statusLine()).startsWith("HTTP/1.1 400");
        assertThat(response.header("connection")).isEqualToIgnoringCase("close");
    }

    /** Writes {@code raw} on a connection of its own and reads the first answer (10 s at most). */
    private static RawResponse sendRaw(String raw) throws IOException {
        try (Socket socket = new Socket("127.0.0.1", URI.create(gateway.url("/")).getPort())) {
            socket.setSoTimeout(10_000);
            socket.getOutputStream().write(raw.getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            return RawResponse.read(socket.getInputStream());
        }
    }

    static Stream<Arguments> refusedCredentials() {
        return Stream.of(
            Arguments.of("/admin/v1/accounts", "a user's key on the admin API", "key"),
            Arguments.of(CHAT, "a key never issued", "th-" + "W".repeat(40)),
            Arguments.of("/v1/embeddings", "the admin key on the user API", TestGateway.MASTER_KEY));
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("refusedCredentials")
    void aRequestWithoutAValidCredentialIsRefusedBeforeItsBodyIsRead(String path, String why, String bearer)
        throws IOException {
        // Given a request that announces a body (within the limit) and sends only its first bytes
        String head = "POST " + path + " HTTP/1.1\r\n"
            + "Host: 127.0.0.1\r\n"
            + "Authorization: Bearer " + ("key".equals(bearer) ? key : bearer) + "\r\n"
            + "Content-Type: application/json\r\n"
            + "Content-Length: 60000\r\n"
            + "\r\n"
            + "{\"model\": \"";
        // When it waits, with the rest of the body never sent
        RawResponse response = sendRaw(head);

        // Then the gateway answers 401 without waiting for the body
        assertThat(response.statusLine()).startsWith("HTTP/1.1 401");
        JsonObject error = OpenAiErrorAssert.assertOpenAiErrorShape(response.body());
        assertThat(error.getString("code")).isEqualTo("invalid_api_key");
        assertThat(upstream.requests()).isEmpty();
    }

    @Test
    void overHttp2TheKeyIsCheckedBeforeABodyWithoutALengthToo() throws Exception {
        // Given a client speaking HTTP/2 (prior knowledge), whose bodies have no content-length
        HttpClient h2 = hub.vertx().createHttpClient(new HttpClientOptions()
            .setProtocolVersion(HttpVersion.HTTP_2).setHttp2ClearTextUpgrade(false));
        try {
            // When a key the gateway has not seen yet (looked up in PostgreSQL) sends a whole request
            String fresh = gateway.newKey();
            String served = h2Chat(h2, fresh, true);
            // And an unknown key sends the first bytes of a body and never ends it
            String refused = h2Chat(h2, "th-" + "V".repeat(40), false);

            // Then the first is served (its body read once the key was found), the second refused at once
            assertThat(served).startsWith("200 ");
            assertThat(refused).startsWith("401 ").contains("invalid_api_key");
        } finally {
            h2.close();
        }
    }

    /** Status and body of a chat request over HTTP/2 whose body is sent in two parts, or one and no end. */
    private static String h2Chat(HttpClient client, String bearer, boolean end) throws Exception {
        return client.request(new RequestOptions().setMethod(HttpMethod.POST)
                .setHost("127.0.0.1").setPort(URI.create(gateway.url("/")).getPort()).setURI(CHAT)
                .putHeader("Authorization", "Bearer " + bearer).putHeader("Content-Type", "application/json"))
            .compose(request -> {
                // A refused stream is reset once answered (its body is not wanted): expected here.
                request.exceptionHandler(reset -> { });
                request.setChunked(true);
                request.write("{\"model\":\"gpt-4o-mini\",");
                if (end) {
                    request.end("\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
                }
                return request.response().compose(response -> response.body()
                    .map(body -> response.statusCode() + " " + body));
            })
            .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @ParameterizedTest(name = "with a key: {0}")
    @ValueSource(booleans = {true, false})
    void overHttp2ABodyOverTheLimitIsA413TooWithOrWithoutAKey(boolean withKey) throws Exception {
        // Given a client speaking HTTP/2 (prior knowledge) and a body of 70 000 bytes, its length declared
        HttpClient h2 = hub.vertx().createHttpClient(new HttpClientOptions()
            .setProtocolVersion(HttpVersion.HTTP_2).setHttp2ClearTextUpgrade(false));
        RequestOptions post = new RequestOptions().setMethod(HttpMethod.POST)
            .setHost("127.0.0.1").setPort(URI.create(gateway.url("/")).getPort()).setURI(CHAT)
            .putHeader("Content-Type", "application/json");
        if (withKey) {
            post.putHeader("Authorization", "Bearer " + key);
        }
        try {
            // When it is posted
            String answer = h2.request(post)
                .compose(request -> request.send(Buffer.buffer("x".repeat(70_000))))
                .compose(response -> response.body().map(body -> response.statusCode() + " "
                    + response.getHeader("X-Request-Id") + " " + body))
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);

            // Then it is the 413 of HTTP/1.1 (refused before the key is looked at), not a reset stream
            assertThat(answer).startsWith("413 req_").contains("\"code\":\"request_too_large\"");
        } finally {
            h2.close();
        }
    }

    @Test
    void aRefusedClientWaitingFor100ContinueGetsItsAnswerAndTheConnectionCloses() throws IOException {
        // Given a client with a key never issued (looked up, then refused) that waits for 100 Continue
        String head = "POST " + CHAT + " HTTP/1.1\r\n"
            + "Host: 127.0.0.1\r\n"
            + "Authorization: Bearer th-" + "U".repeat(40) + "\r\n"
            + "Content-Type: application/json\r\n"
            + "Content-Length: " + VALID.length() + "\r\n"
            + "Expect: 100-continue\r\n"
            + "\r\n";
        try (Socket socket = new Socket("127.0.0.1", URI.create(gateway.url("/")).getPort())) {
            socket.setSoTimeout(10_000);
            socket.getOutputStream().write(head.getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();

            // When it reads what comes back
            RawResponse response = RawResponse.read(socket.getInputStream());

            // Then it is the 401 (no 100 Continue first), and the connection closes after it: the
            // connection does not wait for a body that will not come, or take the next request for it
            assertThat(response.statusLine()).startsWith("HTTP/1.1 401");
            assertThat(response.header("connection")).isEqualToIgnoringCase("close");
            assertThat(socket.getInputStream().read()).as("the end of the connection").isEqualTo(-1);
        }
    }

    @ParameterizedTest(name = "key looked up before the body: {0}")
    @ValueSource(booleans = {false, true})
    void expectContinueWithinTheLimitGets100ContinueAndIsServed(boolean freshKey) throws IOException {
        // Given a client that announces a small body and waits for 100 Continue, with a key the
        // gateway knows already, or one it looks up (the request is paused meanwhile)
        byte[] body = VALID.getBytes(StandardCharsets.UTF_8);
        String head = "POST " + CHAT + " HTTP/1.1\r\n"
            + "Host: 127.0.0.1\r\n"
            + "Authorization: Bearer " + (freshKey ? gateway.newKey() : key) + "\r\n"
            + "Content-Type: application/json\r\n"
            + "Content-Length: " + body.length + "\r\n"
            + "Expect: 100-continue\r\n"
            + "\r\n";
        String continueLine;
        RawResponse response;
        try (Socket socket = new Socket("127.0.0.1", URI.create(gateway.url("/")).getPort())) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();

            // When the headers are sent, and the body once 100 Continue arrives
            out.write(head.getBytes(StandardCharsets.US_ASCII));
            out.flush();
            continueLine = RawResponse.readLine(in);
            RawResponse.readLine(in); // the blank line that ends the interim response
            out.write(body);
            out.flush();
            response = RawResponse.read(in);
        }

        // Then the gateway asked for the body once and served it
        assertThat(continueLine).startsWith("HTTP/1.1 100");
        assertThat(response.statusLine()).as("the response after one 100 Continue").startsWith("HTTP/1.1 200");
        assertThat(upstream.requests()).hasSize(1);
    }

    @Test
    void anExpectationOtherThan100ContinueIsA417InTheOpenAiShape() throws IOException {
        // Given a request expecting something HTTP does not define
        String request = "POST " + CHAT + " HTTP/1.1\r\n"
            + "Host: 127.0.0.1\r\n"
            + "Authorization: Bearer " + key + "\r\n"
            + "Content-Type: application/json\r\n"
            + "Expect: foo\r\n"
            + "Content-Length: " + VALID.length() + "\r\n"
            + "\r\n" + VALID;

        // When it is sent
        RawResponse response = exchange(request);

        // Then it is a 417 as JSON, not Vert.x's plain text
        assertRawOpenAiError(response, 417, "expectation_failed");
        assertThat(upstream.requests()).isEmpty();
    }

    @Test
    void headersOverTheServerLimitAreA431InTheOpenAiShape() throws IOException {
        // Given an HTTP/1.1 request whose headers add up to more than the server's 16 KiB
        String head = "POST " + CHAT + " HTTP/1.1\r\n"
            + "Host: 127.0.0.1\r\n"
            + "Authorization: Bearer " + key + "\r\n"
            + "X-Padding: " + "p".repeat(20_000) + "\r\n"
            + "Content-Type: application/json\r\n"
            + "Content-Length: " + VALID.length() + "\r\n"
            + "\r\n" + VALID;

        // When it is sent
        RawResponse response = exchange(head);

        // Then it is refused before any routing, still as JSON with a request id
        assertThat(response.statusLine()).startsWith("HTTP/1.1 431");
        assertThat(response.header("x-request-id")).startsWith("req_");
        assertThat(response.header("content-type")).startsWith("application/json");
        JsonObject error = OpenAiErrorAssert.assertOpenAiErrorShape(response.body());
        assertThat(error.getString("code")).isEqualTo("request_too_large");
        assertThat(upstream.requests()).isEmpty();
    }

    @Test
    void requestLineOverTheServerLimitIsA414InTheOpenAiShape() throws IOException {
        // Given an HTTP/1.1 request line of more than 10 000 characters
        String head = "POST " + CHAT + "?pad=" + "q".repeat(10_000) + " HTTP/1.1\r\n"
            + "Host: 127.0.0.1\r\n"
            + "Authorization: Bearer " + key + "\r\n"
            + "Content-Type: application/json\r\n"
            + "Content-Length: " + VALID.length() + "\r\n"
            + "\r\n" + VALID;

        // When it is sent
        RawResponse response = exchange(head);

        // Then it is refused before any routing, as JSON with a request id
        // (Netty cannot know the version of a line it could not read, so it may answer as HTTP/1.0.)
        assertThat(response.statusLine()).matches("HTTP/1\\.[01] 414 .*");
        assertThat(response.header("x-request-id")).startsWith("req_");
        JsonObject error = OpenAiErrorAssert.assertOpenAiErrorShape(response.body());
        assertThat(error.getString("code")).isEqualTo("request_too_large");
        assertThat(upstream.requests()).isEmpty();
    }

    @Test
    void bytesThatAreNotHttpGetA400InTheOpenAiShape() throws IOException {
        // Given a client that speaks something other than HTTP
        String garbage = "\u0016\u0003\u0001 hello there\r\n\r\n";

        // When it sends a line that is no request line
        RawResponse response = exchange(garbage);

        // Then the answer is still an HTTP 400 with the OpenAI error body
        assertThat(response.statusLine()).matches("HTTP/1\\.[01] 400 .*");
        assertThat(response.header("x-request-id")).startsWith("req_");
        JsonObject error = OpenAiErrorAssert.assertOpenAiErrorShape(response.body());
        assertThat(error.getString("code")).isEqualTo("invalid_request_error");
        assertThat(upstream.requests()).isEmpty();
    }

    static Stream<Arguments> malformedChunkedBodies() {
        return Stream.of(
            Arguments.of("a chunk size that is not a number", "ZZ\r\n{}\r\n0\r\n\r\n", false),
            Arguments.of("a chunk size that is not a number, while the key is looked up",
                "ZZ\r\n{}\r\n0\r\n\r\n", true),
            Arguments.of("a chunk not ended by CRLF", "2\r\n{}XX0\r\n\r\n", false));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformedChunkedBodies")
    void aChunkedBodyThatIsNotChunkedEncodingIsA400AndTheConnectionCloses(String why, String body, boolean freshKey)
        throws IOException {
        // Given a key the gateway knows already (or one it looks up), and a body that breaks the chunked encoding
        String bearer = freshKey ? gateway.newKey() : key;
        if (!freshKey) {
            assertThat(gateway.get("/v1/models", key).statusCode()).isEqualTo(200);
        }
        String request = "POST " + CHAT + " HTTP/1.1\r\n"
            + "Host: 127.0.0.1\r\n"
            + "Authorization: Bearer " + bearer + "\r\n"
            + "Content-Type: application/json\r\n"
            + "Transfer-Encoding: chunked\r\n"
            + "\r\n" + body;
        ListAppender<ILoggingEvent> log = new ListAppender<>();
        Logger root = (Logger) LoggerFactory.getLogger(Logger.ROOT_LOGGER_NAME);
        log.start();
        root.addAppender(log);
        try (Socket socket = new Socket("127.0.0.1", URI.create(gateway.url("/")).getPort())) {
            socket.setSoTimeout(10_000);

            // When it is sent
            socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            RawResponse response = RawResponse.read(socket.getInputStream());

            // Then it is a 400 in the OpenAI shape, and the connection, which cannot be read on, closes
            assertRawOpenAiError(response, 400, "invalid_request_error");
            assertThat(response.header("connection")).isEqualToIgnoringCase("close");
            assertThat(socket.getInputStream().read()).as("the end of the connection").isEqualTo(-1);
        } finally {
            root.detachAppender(log);
        }
        // And the client's bytes are no error of the gateway's: nothing logged as one
        assertThat(log.list).filteredOn(event -> event.getLevel().isGreaterOrEqual(Level.ERROR))
            .extracting(ILoggingEvent::getFormattedMessage).isEmpty();
        assertThat(upstream.requests()).isEmpty();
    }

    static Stream<Arguments> requestsRefusedBeforeAnyRoute() {
        return Stream.of(
            Arguments.of("no Host header", "GET /v1/models HTTP/1.1\r\nConnection: close\r\n\r\n", 400),
            Arguments.of("a target that is no path", "GET * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                404));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("requestsRefusedBeforeAnyRoute")
    void aRequestRefusedBeforeAnyRouteCarriesTheUsualHeaders(String why, String request, int status)
        throws IOException {
        // Given a request Vert.x Web refuses before its first route
        // When it is sent
        RawResponse response = exchange(request);

        // Then the answer is JSON with the headers of every response
        assertRawOpenAiError(response, status, status == 400 ? "invalid_request_error" : "not_found");
    }

    // ---------------------------------------------------------------- upstream failures

    @Test
    void upstream500IsA502ProviderErrorNamingTheProvider() {
        // Given an upstream that answers 500 (the provider is configured with one retry)
        upstream.fault = Fault.STATUS;
        upstream.status = 500;

        // When a request is made
        HttpResponse<String> response = gateway.post(CHAT, key, VALID);

        // Then it is a 502 provider_error naming the provider and saying why
        JsonObject error = assertOpenAiError(response, 502, "api_error", "provider_error", null);
        assertThat(error.getString("provider")).isEqualTo("openai");
        assertThat(error.getString("message")).contains("openai").contains("500").contains("fake upstream says 500");
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("openai");
        assertThat(upstream.requests()).hasSize(2);
        assertUsageRecorded(response, 502, "provider_error");
    }

    @Test
    void streamingRequestWhoseUpstreamFailsBeforeTheFirstTokenGetsAJson502() {
        // Given an upstream that answers 500
        upstream.fault = Fault.STATUS;
        upstream.status = 500;

        // When a streaming request is made
        HttpResponse<String> response = gateway.post(CHAT, key, """
            {"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "hi"}]}""");

        // Then the failure is a plain JSON 502, not an event stream
        JsonObject error = assertOpenAiError(response, 502, "api_error", "provider_error", null);
        assertThat(error.getString("provider")).isEqualTo("openai");
        assertUsageRecorded(response, 502, "provider_error");
    }

    @Test
    void upstreamThatHangsPastFirstByteTimeoutIsA504UpstreamTimeout() {
        // Given an upstream that never answers, behind a provider with first_byte_ms 300
        upstream.fault = Fault.HANG;

        // When a request is made
        HttpResponse<String> response = gateway.post(CHAT, key,
            "{\"model\": \"slow-model\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}");

        // Then it is a 504 upstream_timeout naming the provider, and the upstream call was abandoned
        JsonObject error = assertOpenAiError(response, 504, "api_error", "upstream_timeout", null);
        assertThat(error.getString("provider")).isEqualTo("slow");
        assertThat(error.getString("message")).contains("slow").contains("300");
        upstream.awaitAbandoned(10_000);
        assertUsageRecorded(response, 504, "upstream_timeout");
    }

    @Test
    void aResponseHeadSlowerThanIdleMsButWithinFirstByteMsIsWaitedFor() {
        // Given a provider with first_byte_ms 5000 and idle_ms 200, and an upstream that answers after 600 ms
        upstream.firstByteDelayMs = 600;

        // When a request is made
        HttpResponse<String> response = gateway.post(CHAT, key,
            "{\"model\": \"patient-model\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}");

        // Then it is answered: idle_ms counts between data once the answer has begun, not before
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("patient");
    }

    @Test
    void upstream400IsPassedThroughAsIsAndNotRetried() {
        // Given an upstream that refuses the request as the caller's fault
        upstream.fault = Fault.STATUS;
        upstream.status = 400;

        // When a request is made (the provider allows one retry)
        HttpResponse<String> response = gateway.post(CHAT, key, VALID);

        // Then the upstream's 400 comes back as it was, after a single call
        JsonObject error = assertOpenAiError(response, 400, "invalid_request_error", "fake_400", "messages");
        assertThat(error.getString("message")).isEqualTo("fake upstream says 400");
        assertThat(error.getString("provider")).isEqualTo("openai");
        assertThat(upstream.requests()).hasSize(1);
        assertUsageRecorded(response, 400, "fake_400");
    }

    @Test
    void upstream401ForTheProvidersOwnKeyIsA502NeverA401() {
        // Given an upstream that refuses TokenHub's provider key
        upstream.fault = Fault.STATUS;
        upstream.status = 401;

        // When a request is made with a perfectly good TokenHub key
        HttpResponse<String> response = gateway.post(CHAT, key, VALID);

        // Then the caller sees a provider failure, not a problem with their own key
        JsonObject error = assertOpenAiError(response, 502, "api_error", "provider_error", null);
        assertThat(error.getString("provider")).isEqualTo("openai");
        assertThat(error.getString("message")).contains("401").contains("credentials");
        // The provider's own words stay with the operator (they may quote part of TokenHub's key)
        assertThat(response.body()).doesNotContain("invalid_api_key").doesNotContain("fake upstream says");
        assertUsageRecorded(response, 502, "provider_error");
    }

    @Test
    void upstream429WithASingleDeploymentIsA502ProviderError() {
        // Given an upstream that rate-limits us (without Retry-After) and no other deployment
        upstream.fault = Fault.STATUS;
        upstream.status = 429;

        // When a request is made
        HttpResponse<String> response = gateway.post(CHAT, key, VALID);

        // Then it is a 502 provider_error: the provider's limit is not the caller's rate limit
        JsonObject error = assertOpenAiError(response, 502, "api_error", "provider_error", null);
        assertThat(error.getString("provider")).isEqualTo("openai");
        assertThat(error.getString("message")).contains("429");
        assertThat(upstream.requests()).hasSize(1);
        assertUsageRecorded(response, 502, "provider_error");
    }

    @Test
    void openCircuitIsA503NoHealthyUpstreamWithRetryAfterAndNoNetworkCall() {
        // Given a deployment whose breaker opens on the first failure, and that failure
        upstream.fault = Fault.STATUS;
        upstream.status = 500;
        String body = "{\"model\": \"fragile-model\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}";
        HttpResponse<String> first = gateway.post(CHAT, key, body);
        assertOpenAiError(first, 502, "api_error", "provider_error", null);

        // When the next request comes, with the upstream healthy again
        upstream.reset();
        HttpResponse<String> response = gateway.post(CHAT, key, body);

        // Then it is a 503 no_healthy_upstream with Retry-After, and the upstream was not called
        assertOpenAiError(response, 503, "api_error", "no_healthy_upstream", null);
        assertThat(response.headers().firstValue("Retry-After")).hasValueSatisfying(
            seconds -> assertThat(Long.parseLong(seconds)).isPositive());
        assertThat(upstream.requests()).isEmpty();
    }

    // ---------------------------------------------------------------- 401: keys

    static Stream<Arguments> badAuthorizations() {
        return Stream.of(
            Arguments.of("no Authorization header", null),
            Arguments.of("Bearer with nothing after it", "Bearer "),
            Arguments.of("Basic credentials", "Basic dXNlcjpwYXNz"),
            Arguments.of("not a TokenHub key", "Bearer sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"),
            Arguments.of("th- key that is too short", "Bearer th-abc123"),
            Arguments.of("th- key with a character outside base62", "Bearer th-" + "a".repeat(39) + "!"),
            Arguments.of("well-formed key that was never issued", "Bearer th-" + "Q".repeat(40)),
            Arguments.of("the admin master key", "Bearer " + TestGateway.MASTER_KEY));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badAuthorizations")
    void missingMalformedOrUnknownKeyIsA401InvalidApiKey(String why, String authorization) {
        // Given a request whose Authorization is not a usable key
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(gateway.url(CHAT)))
            .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(VALID));
        if (authorization != null) {
            request.header("Authorization", authorization);
        }

        // When it is sent
        HttpResponse<String> response = gateway.send(request);

        // Then it is a 401 invalid_api_key that never echoes the presented secret
        assertOpenAiError(response, 401, "invalid_request_error", "invalid_api_key", null);
        if (authorization != null && authorization.length() > 12) {
            assertThat(response.body()).doesNotContain(authorization.substring(7));
        }
        assertRefusedBeforeTheUpstream(response);
    }

    @Test
    void keyErrorWinsOverABodyError() {
        // Given an unknown key and a malformed body
        // When they are sent together
        HttpResponse<String> response = gateway.post(CHAT, "th-" + "Z".repeat(40), "{not json");

        // Then the key is checked first: 401, not 400
        assertOpenAiError(response, 401, "invalid_request_error", "invalid_api_key", null);
        assertThat(upstream.requests()).isEmpty();
    }

    // ---------------------------------------------------------------- 404 / 405: paths

    @ParameterizedTest
    @ValueSource(strings = {"/v1/nope", "/v2/chat/completions", "/", "/index.html", "/v1/chat/completions/extra",
        "/admin/v1/nope"})
    void unknownPathIsA404InTheOpenAiShape(String path) {
        // Given a path the gateway does not serve
        // When it is requested
        HttpResponse<String> response = gateway.get(path, key);

        // Then the 404 is JSON, not an HTML page
        JsonObject error = assertOpenAiError(response, 404, "invalid_request_error", "not_found", null);
        assertThat(error.getString("message")).contains(path);
    }

    @ParameterizedTest
    @ValueSource(strings = {"/nope", "/metrics/extra"})
    void unknownManagementPathIsA404InTheOpenAiShapeNotAnHtmlPage(String path) {
        // Given a path the management port does not serve
        // When it is requested
        HttpResponse<String> response = gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl(path))));

        // Then the 404 is JSON too
        assertThat(response.statusCode()).isEqualTo(404);
        assertThat(response.headers().firstValue("Content-Type")).hasValueSatisfying(
            type -> assertThat(type).startsWith("application/json"));
        JsonObject error = OpenAiErrorAssert.assertOpenAiErrorShape(response.body());
        assertThat(error.getString("code")).isEqualTo("not_found");
    }

    @ParameterizedTest
    @ValueSource(strings = {"/v1/usage?from=%zz", "/api/v1/dashboard/billing/usage?start_date=%G1",
        "/admin/v1/logs?from=%zz", "/admin/v1/keys?account_id=100%"})
    void queryThatIsNotValidPercentEncodingIsA400NotA500(String target) throws IOException {
        // Given a query string that cannot be decoded (java.net.URI refuses it, so it goes out raw)
        String bearer = target.startsWith("/admin/") ? TestGateway.MASTER_KEY : key;

        // When it is sent
        RawResponse response = exchange("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + "Authorization: Bearer " + bearer + "\r\nConnection: close\r\n\r\n");

        // Then it is the client's 400, not an internal error
        assertThat(response.statusLine()).startsWith("HTTP/1.1 400");
        assertThat(response.header("x-request-id")).startsWith("req_");
        JsonObject error = OpenAiErrorAssert.assertOpenAiErrorShape(response.body());
        assertThat(error.getString("type")).isEqualTo("invalid_request_error");
        assertThat(error.getString("code")).isEqualTo("invalid_request_error");
        assertThat(error.getValue("param")).isNull();
    }

    @Test
    void wrongMethodOnAKnownPathIsA405InTheOpenAiShape() {
        // Given the chat completions path
        // When it is asked for with GET
        HttpResponse<String> response = gateway.get(CHAT, key);

        // Then it is a JSON 405
        assertOpenAiError(response, 405, "invalid_request_error", "method_not_allowed", null);
    }

    // ---------------------------------------------------------------- helpers

    /** Nothing reached the upstream and no usage record will ever be written for this response. */
    private static void assertRefusedBeforeTheUpstream(HttpResponse<String> refused) {
        assertThat(upstream.requests()).as("requests the upstream received").isEmpty();
        String refusedId = refused.headers().firstValue("X-Request-Id").orElseThrow();
        // Usage is written in order: once a later request's record is there, an earlier one would be too.
        HttpResponse<String> barrier = gateway.post(CHAT, key, VALID);
        assertThat(barrier.statusCode()).isEqualTo(200);
        String barrierId = barrier.headers().firstValue("X-Request-Id").orElseThrow();
        TestGateway.eventually(() -> gateway.database().count(
            "SELECT count(*) FROM usage_records WHERE request_id = ?", barrierId) == 1, 10_000,
            "the usage record of the barrier request");
        assertThat(gateway.database().count("SELECT count(*) FROM usage_records WHERE request_id = ?", refusedId))
            .as("usage records of the refused request").isZero();
        upstream.reset();
    }

    /** A request that reached an upstream and failed still leaves exactly one usage record. */
    private static void assertUsageRecorded(HttpResponse<String> response, int status, String errorCode) {
        String requestId = response.headers().firstValue("X-Request-Id").orElseThrow();
        TestGateway.eventually(() -> gateway.database().count(
            "SELECT count(*) FROM usage_records WHERE request_id = ?", requestId) > 0, 10_000,
            "the usage record of " + requestId);
        List<Map<String, Object>> rows = gateway.database().query(
            "SELECT status, error_code, cost_micro_usd FROM usage_records WHERE request_id = ?", requestId);
        assertThat(rows).hasSize(1);
        assertThat(rows.get(0).get("status")).isEqualTo(status);
        assertThat(rows.get(0).get("error_code")).isEqualTo(errorCode);
        assertThat(rows.get(0).get("cost_micro_usd")).isEqualTo(0L);
    }

    /** An error in the OpenAI shape, off a raw socket, with the headers every response carries. */
    private static void assertRawOpenAiError(RawResponse response, int status, String code) {
        assertThat(response.statusLine()).startsWith("HTTP/1.1 " + status + " ");
        assertThat(response.header("content-type")).startsWith("application/json");
        assertThat(response.header("x-request-id")).startsWith("req_");
        assertThat(response.header("x-tokenhub-provider")).isEqualTo("none");
        JsonObject error = OpenAiErrorAssert.assertOpenAiErrorShape(response.body());
        assertThat(error.getString("type")).isEqualTo("invalid_request_error");
        assertThat(error.getString("code")).isEqualTo(code);
        assertThat(error.getValue("param")).isNull();
    }

    /** Sends bytes (ISO-8859-1) on a fresh connection and reads one HTTP response back. */
    private static RawResponse exchange(String request) throws IOException {
        try (Socket socket = new Socket("127.0.0.1", URI.create(gateway.url("/")).getPort())) {
            socket.setSoTimeout(30_000);
            socket.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            socket.getOutputStream().flush();
            return RawResponse.read(socket.getInputStream());
        }
    }

    /** An HTTP/1.1 response read off a raw socket: status line, headers, and a Content-Length body. */
    record RawResponse(String statusLine, Map<String, String> headers, String body) {

        String header(String name) {
            return headers.getOrDefault(name.toLowerCase(Locale.ROOT), "");
        }

        static RawResponse read(InputStream in) throws IOException {
            String statusLine = readLine(in);
            Map<String, String> headers = new LinkedHashMap<>();
            for (String line = readLine(in); !line.isEmpty(); line = readLine(in)) {
                int colon = line.indexOf(':');
                headers.put(line.substring(0, colon).trim().toLowerCase(Locale.ROOT), line.substring(colon + 1).trim());
            }
            int length = Integer.parseInt(headers.getOrDefault("content-length", "0"));
            byte[] body = in.readNBytes(length);
            return new RawResponse(statusLine, headers, new String(body, StandardCharsets.UTF_8));
        }

        static String readLine(InputStream in) throws IOException {
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            for (int b = in.read(); b != '\n'; b = in.read()) {
                if (b < 0) {
                    throw new IOException("connection closed after: " + line);
                }
                if (b != '\r') {
                    line.write(b);
                }
            }
            return line.toString(StandardCharsets.US_ASCII);
        }
    }
}
