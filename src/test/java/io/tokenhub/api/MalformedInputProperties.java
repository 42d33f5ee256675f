package io.tokenhub.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.OpenAiErrorAssert;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.EdgeCasesMode;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.arbitraries.StringArbitrary;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Whatever arrives — bytes that are not JSON, JSON whose every known field has an arbitrary type,
 * junk credentials, unknown paths and methods — the gateway answers below 500, with an OpenAI error
 * body whenever it refuses. Every generated request is one that must be refused before routing
 * (its body or its key is bad, or its key may not use any model the generator names), so at the end
 * the fake upstream must have heard nothing, no usage record may exist, and the node must be healthy.
 */
class MalformedInputProperties {

    private static final String CHAT = "/v1/chat/completions";
    /** The only model the restricted key may use; never named by any generator. */
    private static final String LOCKED_MODEL = "locked-model-7f3a9c";
    /** Fields the parser acts on, each of which may appear with an arbitrary value. */
    private static final List<String> FIELDS = List.of("model", "messages", "stream", "stream_options", "max_tokens",
        "max_completion_tokens", "temperature", "top_p", "presence_penalty", "frequency_penalty", "n", "seed", "stop",
        "user", "fallback_models", "enable_thinking", "enable_search", "tools", "tool_choice", "response_format");
    private static final Object ABSENT = new Object();

    static Vertx vertx;
    static FakeOpenAiUpstream upstream;
    static TestGateway gateway;
    /** An active key that may use only {@link #LOCKED_MODEL}. */
    static String restrictedKey;

    @BeforeContainer
    static void start() {
        vertx = Vertx.vertx();
        upstream = new FakeOpenAiUpstream(vertx, "gpt-4o-mini-2024-07-18").start();
        gateway = TestGateway.start("""
            providers:
              - { id: openai, type: openai, base_url: "%s", api_key: provider-secret-key }
            models:
              - id: gpt-4o-mini
                aliases: [mini]
                context_window: 4000
                max_output_tokens: 1000
                default_max_tokens: 100
                capabilities: [tools, structured_output]
                pricing: { input: 0.15, output: 0.60 }
                deployments: [ { provider: openai, model: gpt-4o-mini } ]
              - id: other-model
                pricing: { input: 0.15, output: 0.60 }
                deployments: [ { provider: openai, model: other-model } ]
              - id: %s
                pricing: { input: 0.15, output: 0.60 }
                deployments: [ { provider: openai, model: locked } ]
            """.formatted(upstream.baseUrl(), LOCKED_MODEL), "billing: { signup_credit_usd: 100 }");
        restrictedKey = gateway.newKey(new JsonObject().put("allowed_models", new JsonArray().add(LOCKED_MODEL)))
            .getString("key");
    }

    @AfterContainer
    static void nothingReachedTheUpstreamNothingWasBilledAndTheNodeIsHealthy() {
        try {
            // Given every property above has run
            // Then the upstream never heard a single request
            assertThat(upstream.requests()).as("requests that reached the upstream").isEmpty();

            // And no usage record was written: once a valid request's record is there, any earlier one would be
            String unrestricted = gateway.newKey();
            HttpResponse<String> barrier = gateway.post(CHAT, unrestricted,
                "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}");
            assertThat(barrier.statusCode()).as("a valid request after the properties").isEqualTo(200);
            assertThat(gateway.awaitUsageRecords(1)).as("usage records, the valid request's included").isEqualTo(1);
            String barrierId = barrier.headers().firstValue("X-Request-Id").orElseThrow();
            assertThat(gateway.database().query("SELECT request_id FROM usage_records"))
                .singleElement().satisfies(row -> assertThat(row.get("request_id")).isEqualTo(barrierId));

            // And the node is live and ready
            assertThat(gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/health/live"))))
                .statusCode()).isEqualTo(200);
            assertThat(gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/health/ready"))))
                .statusCode()).isEqualTo(200);
        } finally {
            gateway.close();
            upstream.stop();
            vertx.close();
        }
    }

    // ---------------------------------------------------------------- bodies that are not a request

    @Property(tries = 600)
    void arbitraryBytesAsABodyAreRefusedWithAnOpenAiError(@ForAll("bytes") byte[] body) {
        // Given any bytes, from a client with a real key
        // When they are posted as a chat completion
        HttpResponse<String> response = gateway.send(HttpRequest.newBuilder(URI.create(gateway.url(CHAT)))
            .header("Authorization", "Bearer " + restrictedKey).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofByteArray(body)));

        // Then the refusal is a 4xx in the OpenAI shape
        assertRefused(response);
    }

    @Property(tries = 600)
    void arbitraryTextAsABodyIsRefusedWithAnOpenAiError(@ForAll("jsonishText") String body) {
        // Given any text — much of it almost JSON — from a client with a real key
        // When it is posted as a chat completion
        HttpResponse<String> response = gateway.post(CHAT, restrictedKey, body);

        // Then the refusal is a 4xx in the OpenAI shape
        assertRefused(response);
    }

    // ---------------------------------------------------------------- requests with arbitrary field types

    // Edge cases off: combining those of twenty fields costs more than the requests themselves, and the
    // plausible values below already include the usual edges (0, -1, MIN/MAX, "", null, []).
    @Property(tries = 1000, edgeCases = EdgeCasesMode.NONE)
    void requestWithArbitrarilyTypedFieldsIsRefusedNamingAField(@ForAll("requests") JsonObject request) {
        // Given a JSON object whose known fields are absent, plausible, or of any JSON type,
        // from a key that may use none of the models it names
        // When it is posted
        HttpResponse<String> response = gateway.post(CHAT, restrictedKey, request.encode());

        // Then it is refused in the OpenAI shape, and a named param is one of the request's fields
        JsonObject error = assertRefused(response);
        assertThat(response.statusCode()).as("status for %s: %s", request.encode(), response.body()).isIn(400, 403, 404);
        String param = error.getString("param");
        if (param != null) {
            String root = param.split("[.\\[]", 2)[0];
            assertThat(FIELDS).as("param %s of %s", param, response.body()).contains(root);
        }
    }

    // ---------------------------------------------------------------- junk credentials

    @Property(tries = 600)
    void junkAuthorizationIsA401InTheOpenAiShape(@ForAll("authorizations") String authorization) {
        // Given a perfectly valid request with a credential that is no key of ours
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(gateway.url(CHAT)))
            .header("Content-Type", "application/json")
            .header("Authorization", authorization)
            .POST(HttpRequest.BodyPublishers.ofString(
                "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}"));

        // When it is sent
        HttpResponse<String> response = gateway.send(request);

        // Then it is a 401 invalid_api_key
        OpenAiErrorAssert.assertOpenAiError(response, 401, "invalid_request_error", "invalid_api_key", null);
        assertThat(upstream.requests()).isEmpty();
    }

    // ---------------------------------------------------------------- unknown paths and methods

    @Property(tries = 600)
    void arbitraryPathAndMethodAnswerBelow500InTheOpenAiShape(@ForAll("methods") String method,
                                                              @ForAll("paths") String path,
                                                              @ForAll("junkAuthorizationOrNone") String authorization) {
        // Given any method on any path, without a usable credential
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(gateway.url(path)))
            .header("Content-Type", "application/json")
            .method(method, method.equals("GET") || method.equals("HEAD") ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString("{\"model\": \"gpt-4o-mini\"}"));
        if (!authorization.isEmpty()) {
            request.header("Authorization", authorization);
        }

        // When it is sent
        HttpResponse<String> response = gateway.send(request);

        // Then it is answered below 500 — a refusal in the OpenAI shape unless HEAD forbids a body
        assertThat(response.statusCode()).as("%s %s → %s", method, path, response.body()).isLessThan(500);
        if (response.statusCode() >= 400 && !method.equals("HEAD")) {
            OpenAiErrorAssert.assertOpenAiErrorShape(response.body());
            assertThat(response.headers().firstValue("Content-Type")).hasValueSatisfying(
                ct -> assertThat(ct).startsWith("application/json"));
        }
        assertThat(response.headers().firstValue("X-Request-Id")).isPresent();
        assertThat(upstream.requests()).isEmpty();
    }

    // ---------------------------------------------------------------- generators

    @Provide
    Arbitrary<byte[]> bytes() {
        return Arbitraries.bytes().array(byte[].class).ofMaxSize(2000);
    }

    @Provide
    Arbitrary<String> jsonishText() {
        Arbitrary<String> jsonish = Arbitraries.strings().withChars("{}[]\":,.-+eE0123456789 \n\\tfalsenrumodel")
            .ofMaxLength(300);
        Arbitrary<String> unicode = Arbitraries.strings().all().ofMaxLength(300);
        Arbitrary<String> truncated = requests().map(JsonObject::encode)
            .flatMap(json -> Arbitraries.integers().between(0, Math.max(0, json.length() - 1)).map(
                cut -> json.substring(0, cut)));
        return Arbitraries.oneOf(jsonish, unicode, truncated);
    }

    @Provide
    Arbitrary<JsonObject> requests() {
        List<Arbitrary<Object>> perField = new ArrayList<>();
        for (String field : FIELDS) {
            perField.add(Arbitraries.frequencyOf(
                Tuple.of(3, Arbitraries.just(ABSENT)),
                Tuple.of(4, plausible(field)),
                Tuple.of(3, jsonValue())));
        }
        Arbitrary<List<Object>> values = Combinators.combine(perField).as(list -> list);
        Arbitrary<JsonObject> extra = Arbitraries.maps(Arbitraries.strings().alpha().ofMinLength(1).ofMaxLength(8),
            jsonValue()).ofMaxSize(2).map(JsonObject::new);
        return Combinators.combine(values, extra).as((list, unknownFields) -> {
            JsonObject request = unknownFields.copy();
            for (int i = 0; i < FIELDS.size(); i++) {
                if (list.get(i) != ABSENT) {
                    request.put(FIELDS.get(i), list.get(i));
                }
            }
            return request;
        });
    }

    /** Values of the right type (or nearly): they take a request deep into the checks. */
    private static Arbitrary<Object> plausible(String field) {
        return switch (field) {
            case "model" -> Arbitraries.of("gpt-4o-mini", "mini", "openai/gpt-4o-mini", "other-model", "gpt-99",
                "openai/", "/", "", " ", "GPT-4O-MINI");
            case "messages" -> message().list().ofMaxSize(4).map(JsonArray::new);
            case "stream", "enable_thinking", "enable_search" -> Arbitraries.of(true, false);
            case "stream_options" -> Arbitraries.<Object>of(true, false, 1, "yes").injectNull(0.2)
                .map(v -> new JsonObject().put("include_usage", v));
            case "max_tokens", "max_completion_tokens", "n", "seed" -> Arbitraries.oneOf(
                Arbitraries.integers().between(-10, 5000).map(i -> (Object) i),
                Arbitraries.of(0, Integer.MAX_VALUE, Integer.MIN_VALUE, Long.MAX_VALUE, 2.5, 1e300));
            case "temperature", "top_p", "presence_penalty", "frequency_penalty" -> Arbitraries.oneOf(
                Arbitraries.doubles().between(-3, 3).map(d -> (Object) d),
                Arbitraries.of(0, 1, 2, -0.0, Double.MAX_VALUE, -Double.MAX_VALUE));
            case "stop" -> Arbitraries.oneOf(Arbitraries.strings().ofMaxLength(5).map(s -> (Object) s),
                Arbitraries.strings().ofMaxLength(3).list().ofMaxSize(6).map(JsonArray::new));
            case "user" -> Arbitraries.strings().ofMaxLength(10).map(s -> (Object) s);
            case "fallback_models" -> Arbitraries.of("gpt-4o-mini", "mini", "other-model", "nope")
                .list().ofMaxSize(3).map(JsonArray::new);
            case "tools" -> Arbitraries.of(new JsonArray(), new JsonArray().add(new JsonObject().put("type", "function")
                .put("function", new JsonObject().put("name", "f").put("parameters", new JsonObject()))))
                .map(a -> (Object) a.copy());
            case "tool_choice" -> Arbitraries.of("auto", "none", "required").map(s -> (Object) s);
            case "response_format" -> Arbitraries.of("text", "json_object", "json_schema", "")
                .map(type -> new JsonObject().put("type", type));
            default -> jsonValue();
        };
    }

    private static Arbitrary<Object> message() {
        Arbitrary<Object> role = Arbitraries.oneOf(
            Arbitraries.of("system", "developer", "user", "assistant", "tool", "function", "robot", "").map(r -> (Object) r),
            jsonValue());
        Arbitrary<Object> part = Arbitraries.oneOf(
            Arbitraries.strings().ofMaxLength(10).map(t -> new JsonObject().put("type", "text").put("text", t)),
            Arbitraries.strings().ofMaxLength(10).map(u -> new JsonObject().put("type", "image_url")
                .put("image_url", new JsonObject().put("url", u))),
            jsonValue().map(v -> new JsonObject().put("type", "text").put("text", v)),
            jsonValue().map(v -> new JsonObject().put("type", v)),
            jsonValue());
        Arbitrary<Object> content = Arbitraries.oneOf(
            Arbitraries.strings().ofMaxLength(40).map(s -> (Object) s),
            part.list().ofMaxSize(3).map(JsonArray::new),
            jsonValue());
        return Arbitraries.oneOf(
            Combinators.combine(role, content).as((r, c) -> (Object) new JsonObject().put("role", r).put("content", c)),
            role.map(r -> new JsonObject().put("role", r)),
            content.map(c -> new JsonObject().put("content", c)),
            jsonValue());
    }

    private static final Arbitrary<Object> JSON_VALUE = anyJsonValue();

    /** Any JSON value (null included), nested at most three deep. */
    private static Arbitrary<Object> jsonValue() {
        return JSON_VALUE;
    }

    private static Arbitrary<Object> anyJsonValue() {
        Arbitrary<Object> scalar = Arbitraries.oneOf(
            Arbitraries.of(true, false).map(b -> (Object) b),
            Arbitraries.integers().map(i -> (Object) i),
            Arbitraries.longs().map(l -> (Object) l),
            Arbitraries.doubles().map(d -> (Object) d),
            Arbitraries.strings().ofMaxLength(20).map(s -> (Object) s)).injectNull(0.15);
        return Arbitraries.recursive(() -> scalar, inner -> Arbitraries.oneOf(
            inner,
            inner.list().ofMaxSize(4).map(JsonArray::new),
            Arbitraries.maps(Arbitraries.strings().ofMaxLength(6), inner).ofMaxSize(4).map(JsonObject::new)), 0, 3);
    }

    @Provide
    Arbitrary<String> authorizations() {
        StringArbitrary base62 = Arbitraries.strings().withCharRange('0', '9').withCharRange('A', 'Z')
            .withCharRange('a', 'z');
        Arbitrary<String> token = Arbitraries.oneOf(
            base62.ofMaxLength(31).map(s -> "th-" + s),                            // too short
            base62.ofMinLength(32).ofMaxLength(126).map(s -> "th-" + s),           // well formed, never issued
            base62.ofMinLength(126).ofMaxLength(400).map(s -> "th-" + s),          // too long
            base62.ofMinLength(40).ofMaxLength(40).map(s -> "TH-" + s),            // wrong case of the prefix
            base62.ofMinLength(40).ofMaxLength(40).map(s -> "th_" + s),
            Arbitraries.strings().withChars("-_+/=.~!$%&*").ofMinLength(1).ofMaxLength(40)
                .flatMap(bad -> base62.ofMinLength(40).ofMaxLength(40).map(s -> "th-" + s.substring(0, 20) + bad
                    + s.substring(20))),                                            // charset outside base62
            Arbitraries.strings().all().ofMaxLength(60).map(s -> "th-" + s),       // unicode
            Arbitraries.strings().all().ofMaxLength(60),
            // very long, yet within the limits of both HTTP/1.1 (16 KiB of headers) and HTTP/2 (8 KiB header list),
            // which the java.net.http client upgrades to; headers over the limits are ErrorsIT's business
            base62.ofMinLength(1_000).ofMaxLength(6_000).map(s -> "th-" + s),
            Arbitraries.strings().withCharRange(' ', '~').ofMinLength(1_000).ofMaxLength(6_000));
        Arbitrary<String> scheme = Arbitraries.of("Bearer ", "bearer ", "BEARER  ", "Bearer", "Basic ", "Token ", "",
            " Bearer ", "Bearer th-");
        return Combinators.combine(scheme, token).as((s, t) -> headerValue(s + t))
            .filter(value -> !value.isBlank());
    }

    @Provide
    Arbitrary<String> junkAuthorizationOrNone() {
        return Arbitraries.oneOf(Arbitraries.just(""), authorizations(),
            Arbitraries.just("Bearer " + TestGateway.MASTER_KEY + "-not"));
    }

    @Provide
    Arbitrary<String> methods() {
        return Arbitraries.oneOf(
            Arbitraries.of("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"),
            Arbitraries.strings().withCharRange('A', 'Z').ofMinLength(1).ofMaxLength(10));
    }

    @Provide
    Arbitrary<String> paths() {
        Arbitrary<String> known = Arbitraries.of("v1", "api", "admin", "chat", "completions", "models", "embeddings",
            "rerank", "keys", "accounts", "usage", "logs", "upstreams", "reload", "dashboard", "billing", "health",
            "metrics", "console", "..", ".", "", "gpt-4o-mini", "openai%2Fgpt-4o-mini", "%00", "%2e%2e", "%ff%fe");
        Arbitrary<String> random = Arbitraries.strings().withCharRange('a', 'z').withCharRange('0', '9')
            .withChars("-._~!$&'()*+,;=:@").ofMaxLength(12);
        Arbitrary<String> encoded = Arbitraries.strings().all().ofMaxLength(8)
            .map(s -> java.net.URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20"));
        Arbitrary<String> segment = Arbitraries.frequencyOf(
            Tuple.of(5, known), Tuple.of(3, random), Tuple.of(2, encoded));
        Arbitrary<String> prefix = Arbitraries.of("", "/v1", "/api/v1", "/admin/v1");
        Arbitrary<String> query = Arbitraries.of("", "?", "?limit=-1", "?account_id=%27%3B--", "?cursor=&limit=abc",
            "?a=1&a=2");
        return Combinators.combine(prefix, segment.list().ofMaxSize(5), query)
            .as((p, segments, q) -> p + "/" + String.join("/", segments) + q)
            .filter(MalformedInputProperties::isValidUri);
    }

    // ---------------------------------------------------------------- helpers

    /** A 4xx in the OpenAI error shape, with X-Request-Id, and nothing sent upstream. */
    private static JsonObject assertRefused(HttpResponse<String> response) {
        assertThat(response.statusCode()).as("status, body %s", response.body()).isBetween(400, 499);
        assertThat(response.headers().firstValue("Content-Type")).hasValueSatisfying(
            ct -> assertThat(ct).startsWith("application/json"));
        assertThat(response.headers().firstValue("X-Request-Id")).isPresent();
        JsonObject error = OpenAiErrorAssert.assertOpenAiErrorShape(response.body());
        assertThat(upstream.requests()).as("requests that reached the upstream").isEmpty();
        return error;
    }

    /**
     * What a client puts on the wire for a header: text as UTF-8 bytes, minus the control characters
     * that no HTTP client sends (and java.net.http refuses).
     */
    private static String headerValue(String text) {
        String wire = new String(text.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1);
        StringBuilder out = new StringBuilder(wire.length());
        wire.chars().filter(c -> c >= 0x20 && c != 0x7f || c == '\t').forEach(c -> out.append((char) c));
        return out.toString();
    }

    private static boolean isValidUri(String path) {
        try {
            URI.create("http://127.0.0.1" + path);
            return !path.startsWith("//");
        } catch (IllegalArgumentException e) {
            return false;
        }
    }
}
