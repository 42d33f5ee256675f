package io.tokenhub.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.embeddings.CreateEmbeddingResponse;
import com.openai.models.embeddings.EmbeddingCreateParams;
import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeUpstreamGateway;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.math.BigDecimal;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code POST /v1/embeddings} and {@code POST /v1/rerank} (PRODUCT.md §2, §4, §9): the built-in mock
 * provider and an OpenAI-compatible upstream, string and array input, {@code dimensions},
 * {@code encoding_format}, {@code top_n}, {@code return_documents}, cost in {@code usage}, the
 * checks before any upstream is called, and one usage record per request that reached one.
 */
class EmbeddingsRerankIT {

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("remote-embedder-v2", """
        providers:
          - { id: mock, type: mock }
          - { id: remote, type: openai, base_url: "%s", api_key: remote-secret }
        models:
          - id: chat-model
            deployments: [ { provider: mock, model: mock-chat } ]
          - id: mock-embed
            type: embedding
            pricing: { input: 100.0 }
            deployments: [ { provider: mock, model: mock-embed-v1 } ]
          - id: mock-rerank
            type: rerank
            pricing: { per_search: 0.002 }
            deployments: [ { provider: mock, model: mock-rerank-v1 } ]
          - id: remote-embed
            type: embedding
            aliases: [text-embedding-3-small]
            pricing: { input: 100.0 }
            deployments: [ { provider: remote, model: text-embedding-3-small } ]
          - id: remote-rerank
            type: rerank
            pricing: { per_search: 0.002 }
            deployments: [ { provider: remote, model: jina-reranker-v2 } ]
        """, "");

    static FakeOpenAiUpstream upstream;
    static TestGateway gateway;
    static String key;

    @BeforeAll
    static void start() {
        upstream = hub.upstream();
        gateway = hub.gateway();
        key = gateway.newKey();
    }

    // ---- embeddings, mock provider ---------------------------------------------------------------

    @Test
    void theCatalogShowsEmbeddingAndRerankModelsWithTheirOwnPricesOnly() {
        JsonObject embed = new JsonObject(gateway.get("/v1/models/mock-embed", key).body());
        JsonObject rerank = new JsonObject(gateway.get("/v1/models/mock-rerank", key).body());

        assertThat(embed.getString("type")).isEqualTo("embedding");
        assertThat(embed.containsKey("max_output_tokens")).isTrue();
        assertThat(embed.getValue("max_output_tokens")).isNull();
        assertThat(embed.getJsonObject("pricing")).isEqualTo(new JsonObject().put("input", 100.0)
            .put("unit", "USD per 1M tokens"));
        assertThat(rerank.getValue("max_output_tokens")).isNull();
        assertThat(rerank.getJsonObject("pricing")).isEqualTo(new JsonObject().put("per_search", 0.002));
    }

    @Test
    void embeddingOfAStringThroughTheOpenAiSdkIsPricedPerInputToken() {
        // Given an OpenAI client pointed at the gateway
        OpenAIClient client = OpenAIOkHttpClient.builder().apiKey(key).baseUrl(gateway.baseUrl()).maxRetries(0).build();

        // When it embeds one string
        CreateEmbeddingResponse response = client.embeddings().create(EmbeddingCreateParams.builder()
            .model("mock-embed").input("The quick brown fox").build());

        // Then one vector comes back, labelled with the serving provider, with usage and cost
        assertThat(response.data()).hasSize(1);
        assertThat(response.data().get(0).index()).isZero();
        assertThat(response.data().get(0).embedding()).hasSize(8);
        assertThat(response.model()).isEqualTo("mock/mock-embed-v1");
        long tokens = response.usage().promptTokens();
        assertThat(tokens).isPositive();
        assertThat(response.usage().totalTokens()).isEqualTo(tokens);
        // input: 100 USD per 1M tokens = 100 micro-USD per token
        assertThat(response.usage()._additionalProperties().get("cost").convert(BigDecimal.class))
            .isEqualByComparingTo(BigDecimal.valueOf(tokens * 100).movePointLeft(6));
    }

    @Test
    void anEmbeddingAndARerankCountInTheGatewaysOwnOverhead() {
        // Given the overhead histogram's count
        long before = overheadCount();

        // When one embedding and one rerank are answered
        assertThat(post("/v1/embeddings", new JsonObject().put("model", "mock-embed").put("input", "one"))
            .statusCode()).isEqualTo(200);
        assertThat(post("/v1/rerank", new JsonObject().put("model", "mock-rerank").put("query", "q")
            .put("documents", new JsonArray().add("a").add("b"))).statusCode()).isEqualTo(200);

        // Then both were measured (just after their answers were written)
        TestGateway.eventually(() -> overheadCount() >= before + 2, 5_000, "two more overhead samples");
        assertThat(overheadCount()).isEqualTo(before + 2);
    }

    private static long overheadCount() {
        HttpResponse<String> metrics = gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/metrics")))
            .GET());
        return metrics.body().lines().filter(l -> l.startsWith("tokenhub_overhead_seconds_count"))
            .mapToLong(l -> (long) Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }

    @Test
    void embeddingsOfAnArrayHonourDimensions() {
        // When an array of three strings is embedded with dimensions 16
        HttpResponse<String> response = post("/v1/embeddings", new JsonObject().put("model", "mock-embed")
            .put("input", new JsonArray().add("alpha").add("beta").add("alpha")).put("dimensions", 16));

        // Then there is one 16-dimensional unit vector per input, in order, equal inputs alike
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("mock");
        JsonObject body = new JsonObject(response.body());
        assertThat(body.getString("object")).isEqualTo("list");
        JsonArray data = body.getJsonArray("data");
        assertThat(data).hasSize(3);
        for (int i = 0; i < 3; i++) {
            JsonObject item = data.getJsonObject(i);
            assertThat(item.getString("object")).isEqualTo("embedding");
            assertThat(item.getInteger("index")).isEqualTo(i);
            assertThat(item.getJsonArray("embedding")).hasSize(16);
            assertThat(norm(item.getJsonArray("embedding"))).isCloseTo(1.0, within(1e-9));
        }
        assertThat(data.getJsonObject(0).getJsonArray("embedding")).isEqualTo(data.getJsonObject(2).getJsonArray("embedding"));
        assertThat(data.getJsonObject(0).getJsonArray("embedding")).isNotEqualTo(data.getJsonObject(1).getJsonArray("embedding"));
        assertThat(body.getJsonObject("usage").getInteger("prompt_tokens")).isPositive();
    }

    @Test
    void base64EncodingFormatReturnsLittleEndianFloat32Vectors() {
        // When the floats are asked for as base64 (the OpenAI SDKs' default on the wire)
        HttpResponse<String> floats = post("/v1/embeddings", new JsonObject().put("model", "mock-embed")
            .put("input", "same text").put("dimensions", 4));
        HttpResponse<String> packed = post("/v1/embeddings", new JsonObject().put("model", "mock-embed")
            .put("input", "same text").put("dimensions", 4).put("encoding_format", "base64"));

        // Then each embedding is a base64 string of float32 values, the same vector as the float answer
        assertThat(packed.statusCode()).isEqualTo(200);
        Object encoded = new JsonObject(packed.body()).getJsonArray("data").getJsonObject(0).getValue("embedding");
        assertThat(encoded).isInstanceOf(String.class);
        ByteBuffer bytes = ByteBuffer.wrap(Base64.getDecoder().decode((String) encoded)).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(bytes.remaining()).isEqualTo(4 * 4);
        JsonArray expected = new JsonObject(floats.body()).getJsonArray("data").getJsonObject(0).getJsonArray("embedding");
        for (int i = 0; i < 4; i++) {
            assertThat(bytes.getFloat()).isCloseTo(expected.getDouble(i).floatValue(), within(1e-6f));
        }
    }

    // ---- embeddings, OpenAI-compatible upstream --------------------------------------------------

    @Test
    void embeddingsArePassedToAnOpenAiCompatibleUpstreamAndPricedFromItsUsage() {
        // Given the upstream reports 11 prompt tokens
        upstream.usage = FakeOpenAiUpstream.usage(11, 0, 0, 0);

        // When a string and then an array are embedded with dimensions, through the model's alias
        HttpResponse<String> single = post("/v1/embeddings", new JsonObject().put("model", "text-embedding-3-small")
            .put("input", "hello").put("dimensions", 3));
        HttpResponse<String> batch = post("/v1/embeddings", new JsonObject().put("model", "remote-embed")
            .put("input", new JsonArray().add("a").add("b")).put("dimensions", 5));

        // Then the upstream got the deployment's model and the client's fields, with the provider key
        assertThat(single.statusCode()).isEqualTo(200);
        assertThat(batch.statusCode()).isEqualTo(200);
        FakeOpenAiUpstream.Recorded first = upstream.requests().get(0);
        assertThat(first.body().getString("model")).isEqualTo("text-embedding-3-small");
        assertThat(first.body().getString("input")).isEqualTo("hello");
        assertThat(first.body().getInteger("dimensions")).isEqualTo(3);
        assertThat(first.headers().get("Authorization")).isEqualTo("Bearer remote-secret");
        assertThat(upstream.lastRequest().body().getJsonArray("input")).isEqualTo(new JsonArray().add("a").add("b"));
        // And an explicit null is the field's default, as for chat: it does not go on (some providers refuse it)
        assertThat(post("/v1/embeddings", new JsonObject().put("model", "remote-embed").put("input", "c")
            .putNull("dimensions").putNull("encoding_format").putNull("user")).statusCode()).isEqualTo(200);
        assertThat(upstream.lastRequest().body().fieldNames()).containsExactlyInAnyOrder("model", "input");
        // And the client got the vectors, the provider's model label and the cost of 11 tokens
        JsonObject one = new JsonObject(single.body());
        assertThat(one.getString("model")).isEqualTo("remote/remote-embedder-v2");
        assertThat(one.getJsonArray("data")).hasSize(1);
        assertThat(one.getJsonArray("data").getJsonObject(0).getJsonArray("embedding")).hasSize(3);
        JsonObject two = new JsonObject(batch.body());
        assertThat(two.getJsonArray("data")).hasSize(2);
        assertThat(two.getJsonArray("data").getJsonObject(1).getJsonArray("embedding")).hasSize(5);
        JsonObject usage = one.getJsonObject("usage");
        assertThat(usage.getInteger("prompt_tokens")).isEqualTo(11);
        assertThat(usage.getInteger("total_tokens")).isEqualTo(11);
        assertThat(new BigDecimal(usage.getValue("cost").toString())).isEqualByComparingTo("0.0011");
        Map<String, Object> row = usageRecord(single);
        assertThat(row.get("provider")).isEqualTo("remote");
        assertThat(row.get("deployment")).isEqualTo("text-embedding-3-small");
        assertThat(row.get("prompt_tokens")).isEqualTo(11);
        assertThat(row.get("cost_micro_usd")).isEqualTo(1100L);
    }

    @Test
    void base64AskedOfAProviderThatAnswersFloatsIsBase64AsTheSdksDecodeIt() {
        // Given a provider that ignores encoding_format, as several self-hosted servers do, and a client
        // asking for base64 (both official SDKs do by default; the Node one decodes whatever comes)
        HttpResponse<String> response = post("/v1/embeddings", new JsonObject().put("model", "remote-embed")
            .put("input", new JsonArray().add("a").add("b")).put("dimensions", 3).put("encoding_format", "base64"));

        // Then each vector comes as little-endian float32, base64-encoded
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        String encoded = new JsonObject(response.body()).getJsonArray("data").getJsonObject(1).getString("embedding");
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.wrap(java.util.Base64.getDecoder().decode(encoded))
            .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        assertThat(bytes.remaining()).isEqualTo(3 * Float.BYTES);
        assertThat(new float[] {bytes.getFloat(), bytes.getFloat(), bytes.getFloat()}).containsExactly(1.0f, 1.1f, 1.2f);
    }

    @Test
    void anEmbeddingOrRerankWhoseUsageCountsNothingIsBilledForTheInputWeCount() {
        // Given a provider whose usage is {} (some self-hosted servers answer so)
        upstream.usage = new JsonObject();

        HttpResponse<String> embedding = post("/v1/embeddings", new JsonObject().put("model", "remote-embed")
            .put("input", "the quick brown fox jumps over the lazy dog"));
        HttpResponse<String> rerank = post("/v1/rerank", new JsonObject().put("model", "remote-rerank")
            .put("query", "the quick brown fox").put("documents", new JsonArray().add("the lazy dog")));

        // Then each is billed for the input as we count it, marked estimated, not for nothing
        assertThat(embedding.statusCode()).as(embedding.body()).isEqualTo(200);
        JsonObject usage = new JsonObject(embedding.body()).getJsonObject("usage");
        assertThat(usage.getInteger("prompt_tokens")).isPositive();
        assertThat(usage.getBoolean("estimated")).isTrue();
        Map<String, Object> row = usageRecord(embedding);
        assertThat(row.get("estimated")).isEqualTo(true);
        assertThat((Integer) row.get("prompt_tokens")).isPositive();
        assertThat((Long) row.get("cost_micro_usd")).isPositive();
        assertThat(rerank.statusCode()).as(rerank.body()).isEqualTo(200);
        assertThat(usageRecord(rerank).get("estimated")).isEqualTo(true);
        assertThat((Integer) usageRecord(rerank).get("prompt_tokens")).isPositive();
    }

    // ---- rerank -------------------------------------------------------------------------------

    @Test
    void rerankWithTopNAndDocumentsCostsOneSearch() {
        // When three documents are reranked, top 2 with their documents
        HttpResponse<String> response = post("/v1/rerank", new JsonObject().put("model", "mock-rerank")
            .put("query", "capital of France")
            .put("documents", new JsonArray().add("Berlin is in Germany").add("Paris is the capital of France")
                .add("France borders Spain"))
            .put("top_n", 2).put("return_documents", true));

        // Then the two best come back, best first, with their text, and the search is priced at per_search
        assertThat(response.statusCode()).isEqualTo(200);
        JsonObject body = new JsonObject(response.body());
        JsonArray results = body.getJsonArray("results");
        assertThat(results).hasSize(2);
        assertThat(results.getJsonObject(0).getInteger("index")).isEqualTo(1);
        assertThat(results.getJsonObject(0).getJsonObject("document").getString("text"))
            .isEqualTo("Paris is the capital of France");
        assertThat(results.getJsonObject(0).getDouble("relevance_score"))
            .isGreaterThanOrEqualTo(results.getJsonObject(1).getDouble("relevance_score"));
        assertThat(results.getJsonObject(1).getInteger("index")).isEqualTo(2);
        assertThat(body.getString("model")).isEqualTo("mock/mock-rerank-v1");
        JsonObject usage = body.getJsonObject("usage");
        assertThat(new BigDecimal(usage.getValue("cost").toString())).isEqualByComparingTo("0.002");
        assertThat(usage.getInteger("search_units")).isEqualTo(1);
        Map<String, Object> row = usageRecord(response);
        assertThat(row.get("cost_micro_usd")).isEqualTo(2000L);
        assertThat(row.get("requested_model")).isEqualTo("mock-rerank");
        assertThat(row.get("status")).isEqualTo(200);
    }

    @Test
    void rerankWithoutReturnDocumentsOmitsThem() {
        // When documents are reranked without return_documents
        HttpResponse<String> response = post("/v1/rerank", new JsonObject().put("model", "mock-rerank")
            .put("query", "fox").put("documents", new JsonArray().add("a fox").add(new JsonObject().put("text", "a dog"))));

        // Then every document is ranked, without its text
        assertThat(response.statusCode()).isEqualTo(200);
        JsonArray results = new JsonObject(response.body()).getJsonArray("results");
        assertThat(results).hasSize(2);
        assertThat(results.getJsonObject(0).getInteger("index")).isZero();
        assertThat(results).allSatisfy(r -> assertThat(((JsonObject) r).containsKey("document")).isFalse());
    }

    @Test
    void rerankIsPassedToAnOpenAiCompatibleUpstream() {
        // Given the upstream counts 11 tokens
        upstream.usage = FakeOpenAiUpstream.usage(11, 0, 0, 0);

        // When documents are reranked through it
        HttpResponse<String> response = post("/v1/rerank", new JsonObject().put("model", "remote-rerank")
            .put("query", "q").put("documents", new JsonArray().add("d0").add("d1").add("d2"))
            .put("top_n", 2).put("return_documents", true));

        // Then the upstream got the fields and the client the Cohere/Jina shape, priced per search
        assertThat(response.statusCode()).isEqualTo(200);
        JsonObject sent = upstream.lastRequest().body();
        assertThat(sent.getString("model")).isEqualTo("jina-reranker-v2");
        assertThat(sent.getInteger("top_n")).isEqualTo(2);
        assertThat(sent.getBoolean("return_documents")).isTrue();
        assertThat(post("/v1/rerank", new JsonObject().put("model", "remote-rerank").put("query", "q")
            .put("documents", new JsonArray().add("d0")).putNull("top_n")).statusCode()).isEqualTo(200);
        assertThat(upstream.lastRequest().body().fieldNames()).doesNotContain("top_n");
        JsonObject body = new JsonObject(response.body());
        assertThat(body.getString("model")).isEqualTo("remote/remote-embedder-v2");
        // the upstream named its answer nothing (as vLLM's may not): the request's id names it, not null
        assertThat(body.getString("id")).isEqualTo("rerank-" + response.headers().firstValue("X-Request-Id").orElseThrow());
        JsonArray results = body.getJsonArray("results");
        assertThat(results).hasSize(2);
        assertThat(results.getJsonObject(0).getJsonObject("document").getString("text")).isEqualTo("d0");
        JsonObject usage = body.getJsonObject("usage");
        assertThat(new BigDecimal(usage.getValue("cost").toString())).isEqualByComparingTo("0.002");
        assertThat(usage.getInteger("total_tokens")).isEqualTo(11);
    }

    // ---- checks before the upstream ---------------------------------------------------------------

    @Test
    void chatModelForEmbeddingsIsRefusedNamingTheModelParam() {
        HttpResponse<String> response = post("/v1/embeddings", new JsonObject().put("model", "chat-model")
            .put("input", "hello"));

        assertInvalid(response, "model");
    }

    @Test
    void rerankModelForEmbeddingsAndEmbeddingModelForRerankAreRefused() {
        assertInvalid(post("/v1/embeddings", new JsonObject().put("model", "mock-rerank").put("input", "x")), "model");
        assertInvalid(post("/v1/rerank", new JsonObject().put("model", "mock-embed").put("query", "q")
            .put("documents", new JsonArray().add("d"))), "model");
    }

    @Test
    void tokenArraysArePassedToTheUpstreamAsTheyCame() {
        // Given one token array, and two of them
        JsonArray one = new JsonArray().add(15339).add(1917);
        JsonArray two = new JsonArray().add(new JsonArray().add(15339)).add(new JsonArray().add(1917).add(0));

        // When each is embedded upstream
        for (JsonArray input : List.of(one, two)) {
            HttpResponse<String> response = post("/v1/embeddings", new JsonObject().put("model", "remote-embed")
                .put("input", input));

            // Then it is accepted and sent on unchanged
            assertThat(response.statusCode()).as(input.encode()).isEqualTo(200);
            assertThat(upstream.lastRequest().body().getJsonArray("input")).isEqualTo(input);
        }
    }

    @Test
    void missingOrMalformedFieldsAreRefusedNamingThem() {
        assertInvalid(post("/v1/embeddings", new JsonObject().put("model", "mock-embed")), "input");
        assertInvalid(post("/v1/embeddings", new JsonObject().put("model", "mock-embed").put("input", new JsonArray())), "input");
        // OpenAI takes strings, one token array or token arrays, but not a mix of them, nor fractions.
        assertInvalid(post("/v1/embeddings", new JsonObject().put("model", "mock-embed")
            .put("input", new JsonArray().add("text").add(42))), "input");
        assertInvalid(post("/v1/embeddings", new JsonObject().put("model", "mock-embed")
            .put("input", new JsonArray().add(new JsonArray().add(1)).add(2))), "input");
        assertInvalid(post("/v1/embeddings", new JsonObject().put("model", "mock-embed")
            .put("input", new JsonArray().add(1.5))), "input");
        assertInvalid(post("/v1/embeddings", new JsonObject().put("model", "mock-embed")
            .put("input", new JsonArray().add(new JsonArray()))), "input");
        assertInvalid(post("/v1/embeddings", new JsonObject().put("model", "mock-embed").put("input", "")), "input");
        assertInvalid(post("/v1/embeddings", new JsonObject().put("model", "mock-embed")
            .put("input", new JsonArray().add("text").add(""))), "input");
        assertInvalid(post("/v1/embeddings", new JsonObject().put("model", "mock-embed").put("input", "x")
            .put("dimensions", "many")), "dimensions");
        assertInvalid(post("/v1/embeddings", new JsonObject().put("model", "mock-embed").put("input", "x")
            .put("encoding_format", "int8")), "encoding_format");
        assertInvalid(post("/v1/rerank", new JsonObject().put("model", "mock-rerank")
            .put("documents", new JsonArray().add("d"))), "query");
        assertInvalid(post("/v1/rerank", new JsonObject().put("model", "mock-rerank").put("query", "q")), "documents");
        assertInvalid(post("/v1/rerank", new JsonObject().put("model", "mock-rerank").put("query", "q")
            .put("documents", new JsonArray().add("d")).put("top_n", 0)), "top_n");
        assertThat(upstream.requests()).isEmpty();
    }

    @Test
    void anExplicitNullForAnOptionalFieldIsTheDefaultAndTheRequestIsRecordedAndSettled() {
        // When an optional field is sent as null, as SDKs built from typed models do
        HttpResponse<String> embedded = post("/v1/embeddings", new JsonObject()
            .put("model", "mock-embed").put("input", "x").put("dimensions", (Object) null));
        HttpResponse<String> reranked = post("/v1/rerank", new JsonObject().put("model", "mock-rerank")
            .put("query", "q").put("documents", new JsonArray().add("a").add("b")).put("top_n", (Object) null));

        // Then it is the default (before: a 500 that kept the reservation and wrote no record)
        assertThat(embedded.statusCode()).as(embedded.body()).isEqualTo(200);
        assertThat(new JsonObject(embedded.body()).getJsonArray("data").getJsonObject(0).getJsonArray("embedding"))
            .hasSize(8);
        assertThat(reranked.statusCode()).as(reranked.body()).isEqualTo(200);
        assertThat(new JsonObject(reranked.body()).getJsonArray("results")).hasSize(2);
        assertThat(usageRecord(embedded).get("status")).isEqualTo(200);
        assertThat(usageRecord(reranked).get("status")).isEqualTo(200);
    }

    @Test
    void unknownModelIs404() {
        HttpResponse<String> response = post("/v1/embeddings", new JsonObject().put("model", "no-such-embedder")
            .put("input", "x"));

        assertThat(response.statusCode()).isEqualTo(404);
        assertThat(new JsonObject(response.body()).getJsonObject("error").getString("code")).isEqualTo("model_not_found");
    }

    // ---- usage records ------------------------------------------------------------------------

    @Test
    void everyServedRequestLeavesExactlyOneUsageRecordAndRefusedOnesNone() {
        // When two embeddings and two reranks are served, and two requests are refused
        List<String> served = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            served.add(requestId(post("/v1/embeddings", new JsonObject().put("model", "mock-embed").put("input", "x" + i))));
            served.add(requestId(post("/v1/rerank", new JsonObject().put("model", "mock-rerank").put("query", "q")
                .put("documents", new JsonArray().add("d")))));
        }
        String refused = requestId(post("/v1/embeddings", new JsonObject().put("model", "chat-model").put("input", "x")));
        String refusedToo = requestId(post("/v1/rerank", new JsonObject().put("model", "mock-rerank")));

        // Then each served request has one record with its status, and the refused ones none
        for (String id : served) {
            TestGateway.eventually(() -> gateway.database().count(
                "SELECT count(*) FROM usage_records WHERE request_id = ?", id) > 0, 10_000, "the usage record of " + id);
        }
        for (String id : served) {
            List<Map<String, Object>> rows = gateway.database().query(
                "SELECT * FROM usage_records WHERE request_id = ?", id);
            assertThat(rows).as("usage records of %s", id).hasSize(1);
            assertThat(rows.get(0).get("status")).isEqualTo(200);
            assertThat(rows.get(0).get("provider")).isEqualTo("mock");
            assertThat(rows.get(0).get("stream")).isEqualTo(false);
        }
        assertThat(gateway.database().count("SELECT count(*) FROM usage_records WHERE request_id IN (?, ?)",
            refused, refusedToo)).isZero();
    }

    // ---- helpers ------------------------------------------------------------------------------

    private static HttpResponse<String> post(String path, JsonObject body) {
        return gateway.post(path, key, body.encode());
    }

    private static void assertInvalid(HttpResponse<String> response, String param) {
        assertThat(response.statusCode()).as(response.body()).isEqualTo(400);
        JsonObject error = new JsonObject(response.body()).getJsonObject("error");
        assertThat(error.getString("type")).isEqualTo("invalid_request_error");
        assertThat(error.getString("param")).isEqualTo(param);
    }

    private static String requestId(HttpResponse<String> response) {
        return response.headers().firstValue("X-Request-Id").orElseThrow();
    }

    private static double norm(JsonArray vector) {
        double sum = 0;
        for (int i = 0; i < vector.size(); i++) {
            sum += vector.getDouble(i) * vector.getDouble(i);
        }
        return Math.sqrt(sum);
    }

    private static Map<String, Object> usageRecord(HttpResponse<String> response) {
        String requestId = requestId(response);
        TestGateway.eventually(() -> !gateway.database().query(
            "SELECT request_id FROM usage_records WHERE request_id = ?", requestId).isEmpty(), 10_000,
            "the usage record of " + requestId);
        List<Map<String, Object>> rows = gateway.database().query(
            "SELECT * FROM usage_records WHERE request_id = ?", requestId);
        assertThat(rows).hasSize(1);
        return rows.get(0);
    }
}
