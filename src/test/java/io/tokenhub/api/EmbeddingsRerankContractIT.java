package io.tokenhub.api;

import static io.tokenhub.testing.OpenAiErrorAssert.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeUpstreamGateway;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.math.BigDecimal;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code POST /v1/embeddings}, {@code POST /v1/rerank} and the catalog cards of those models against
 * PRODUCT.md §2, §9, the README's pricing rule and OpenAI's, Cohere's and Jina's wire formats: what
 * OpenAI refuses is refused before any provider hears of it, and a rerank's results have Cohere's
 * shape whatever the provider's defaults (from an audit: each of these failed before its fix).
 */
class EmbeddingsRerankContractIT {

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("remote-v1", """
        providers:
          - { id: mock, type: mock }
          - { id: remote, type: openai, base_url: "%s", api_key: remote-secret }
        models:
          - id: short-embed
            type: embedding
            context_window: 50
            pricing: { input: 100.0 }
            deployments: [ { provider: remote, model: text-embedding-3-small } ]
          - id: remote-embed
            type: embedding
            pricing: { input: 100.0 }
            deployments: [ { provider: remote, model: text-embedding-3-small } ]
          - id: remote-rerank
            type: rerank
            pricing: { per_search: 0.002 }
            deployments: [ { provider: remote, model: jina-reranker-v2 } ]
          - id: tokened-rerank
            type: rerank
            pricing: { per_search: 0.002, input: 1000 }
            deployments: [ { provider: mock, model: mock-rerank-v1 } ]
        """, "server: { port: 0, management_port: 0, instances: 1, max_body_bytes: 262144, shutdown_grace_ms: 5000 }");

    static FakeOpenAiUpstream upstream;
    static TestGateway gateway;
    static String key;

    @BeforeAll
    static void start() {
        upstream = hub.upstream();
        gateway = hub.gateway();
        key = gateway.newKey();
    }

    // ---- embeddings: what OpenAI refuses is refused before any provider hears of it ----------------

    @Test
    void anEmbeddingInputLongerThanTheModelsContextWindowIsRefusedBeforeTheUpstream() {
        // Given an embedding model whose catalog card says context_window 50
        assertThat(new JsonObject(gateway.get("/v1/models/short-embed", key).body()).getInteger("context_window"))
            .isEqualTo(50);

        // When an input of about 300 tokens is embedded with it
        HttpResponse<String> response = post("/v1/embeddings", new JsonObject().put("model", "short-embed")
            .put("input", "word ".repeat(300)));

        // Then it is a 400 context_length_exceeded naming input (as OpenAI answers an input over 8192
        // tokens, and as PRODUCT §2 says of a prompt over the window), and the provider was not called
        assertOpenAiError(response, 400, "invalid_request_error", "context_length_exceeded", "input");
        assertThat(upstream.requests()).isEmpty();
    }

    @Test
    void anInputOfMoreBytesThanTheWindowButFewerTokensIsEmbeddedAndALongOneIsCountedOffTheLoop() {
        upstreamAnswers(new JsonObject().put("model", "text-embedding-3-small").put("usage",
            new JsonObject().put("prompt_tokens", 30).put("total_tokens", 30)).put("data", new JsonArray()
            .add(new JsonObject().put("object", "embedding").put("index", 0).put("embedding", new JsonArray().add(0.5)))));

        // 150 bytes, 30 tokens, in a window of 50: tokenized to know, and it fits
        HttpResponse<String> fits = post("/v1/embeddings", new JsonObject().put("model", "short-embed")
            .put("input", "word ".repeat(30)));
        // 70 KB, 14 000 tokens, in the default window of 8 192: tokenized on a worker, and refused
        HttpResponse<String> tooLong = post("/v1/embeddings", new JsonObject().put("model", "remote-embed")
            .put("input", new JsonArray().add("short").add("word ".repeat(14_000))));

        assertThat(fits.statusCode()).as(fits.body()).isEqualTo(200);
        assertOpenAiError(tooLong, 400, "invalid_request_error", "context_length_exceeded", "input");
        assertThat(new JsonObject(tooLong.body()).getJsonObject("error").getString("message"))
            .contains("maximum context length is 8192 tokens").contains("requested 14001 tokens");
        assertThat(upstream.requests()).hasSize(1);
    }

    @Test
    void moreThan2048InputsAreRefusedNamingInput() {
        // Given 2049 strings (OpenAI: "any array must be 2048 dimensions or less")
        JsonArray inputs = new JsonArray();
        for (int i = 0; i < 2049; i++) {
            inputs.add("a");
        }

        // When they are embedded in one request
        HttpResponse<String> response = post("/v1/embeddings", new JsonObject().put("model", "remote-embed")
            .put("input", inputs));

        // Then it is refused with param input before any provider hears of it
        assertOpenAiError(response, 400, "invalid_request_error", "invalid_request_error", "input");
        assertThat(upstream.requests()).isEmpty();
    }

    // ---- rerank: the Cohere shape whatever the provider answers --------------------------------------

    @Test
    void rerankWithoutReturnDocumentsHasNoDocumentsEvenWhenTheProviderDefaultsToReturningThem() {
        // Given a provider that returns documents unless told otherwise (Jina's default is
        // return_documents: true; vLLM's /rerank always sends them)
        upstreamAnswers(new JsonObject().put("model", "jina-reranker-v2").put("usage", new JsonObject().put("total_tokens", 5))
            .put("results", new JsonArray()
                .add(new JsonObject().put("index", 1).put("relevance_score", 0.9).put("document", new JsonObject().put("text", "d1")))
                .add(new JsonObject().put("index", 0).put("relevance_score", 0.1).put("document", new JsonObject().put("text", "d0")))));

        // When a client reranks without return_documents (Cohere's default: false)
        HttpResponse<String> response = post("/v1/rerank", new JsonObject().put("model", "remote-rerank").put("query", "q")
            .put("documents", new JsonArray().add("d0").add("d1")));

        // Then the results carry index and relevance_score only, as the mock provider answers
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        JsonArray results = new JsonObject(response.body()).getJsonArray("results");
        assertThat(results).hasSize(2);
        assertThat(results).allSatisfy(r -> assertThat(((JsonObject) r).containsKey("document"))
            .as("document in %s", r).isFalse());
    }

    @Test
    void rerankAnswersAtMostTopNResultsWhateverTheProviderSends() {
        // Given a provider that ranks every document whatever top_n says
        upstreamAnswers(new JsonObject().put("model", "jina-reranker-v2").put("usage", new JsonObject().put("total_tokens", 5))
            .put("results", new JsonArray()
                .add(new JsonObject().put("index", 2).put("relevance_score", 0.9))
                .add(new JsonObject().put("index", 0).put("relevance_score", 0.5))
                .add(new JsonObject().put("index", 1).put("relevance_score", 0.1))));

        // When a client asks for the best one
        HttpResponse<String> response = post("/v1/rerank", new JsonObject().put("model", "remote-rerank").put("query", "q")
            .put("documents", new JsonArray().add("d0").add("d1").add("d2")).put("top_n", 1));

        // Then one result comes back, the best
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        JsonArray results = new JsonObject(response.body()).getJsonArray("results");
        assertThat(results).hasSize(1);
        assertThat(results.getJsonObject(0).getInteger("index")).isEqualTo(2);
    }

    // ---- the catalog card shows the prices a request is charged at -----------------------------------

    @Test
    void theRerankCardShowsEveryPriceARerankIsChargedAt() {
        // Given a rerank model priced per search and per input token (README: cost = token sum "plus
        // per_search for rerank")
        HttpResponse<String> response = post("/v1/rerank", new JsonObject().put("model", "tokened-rerank")
            .put("query", "hello world").put("documents", new JsonArray().add("hello there world")));
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        JsonObject usage = new JsonObject(response.body()).getJsonObject("usage");
        long tokens = usage.getLong("total_tokens");
        // The charge: $0.002 per search + $1000 per 1M tokens (1000 micro-USD a token)
        assertThat(new BigDecimal(usage.getValue("cost").toString()))
            .isEqualByComparingTo(BigDecimal.valueOf(2000 + tokens * 1000, 6));

        // When the key reads the model's card
        JsonObject pricing = new JsonObject(gateway.get("/v1/models/tokened-rerank", key).body()).getJsonObject("pricing");

        // Then the card names the per-token price it was just charged, not only per_search
        assertThat(pricing.getValue("per_search")).isEqualTo(0.002);
        assertThat(pricing.getValue("input")).as("pricing of the card: %s", pricing).isEqualTo(1000.0);
    }

    // ---- helpers ------------------------------------------------------------------------------

    /** The fake upstream answers 200 with this JSON body to any request. */
    private static void upstreamAnswers(JsonObject body) {
        upstream.fault = FakeOpenAiUpstream.Fault.STATUS;
        upstream.status = 200;
        upstream.errorBody = body;
    }

    private static HttpResponse<String> post(String path, JsonObject body) {
        return gateway.post(path, key, body.encode());
    }
}
