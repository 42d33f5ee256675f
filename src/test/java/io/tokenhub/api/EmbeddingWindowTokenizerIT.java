package io.tokenhub.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.EncodingType;
import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeUpstreamGateway;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * OpenAI's embedding models count an input's tokens with cl100k_base (text-embedding-3-*, ada-002)
 * and take up to 8 191 of them: k8s/configmap.yaml catalogs text-embedding-3-small with
 * context_window 8191. The gateway's window check (afc26c5) counts with o200k, which counts some
 * text well above cl100k (mathematical notation: 1.25 to 1.5 times): an input OpenAI embeds is
 * refused with 400 context_length_exceeded, where before it was passed on.
 */
class EmbeddingWindowTokenizerIT {

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("remote-v1", """
        providers:
          - { id: openai, type: openai, base_url: "%s", api_key: remote-secret }
        models:
          - id: text-embedding-3-small
            type: embedding
            context_window: 8191
            pricing: { input: 0.02 }
            deployments: [ { provider: openai, model: text-embedding-3-small } ]
        """, "server: { port: 0, management_port: 0, instances: 1, shutdown_grace_ms: 5000 }");

    @Test
    void aMathInputWithinOpenAisLimitIsEmbedded() {
        FakeOpenAiUpstream upstream = hub.upstream();
        TestGateway gateway = hub.gateway();
        String key = gateway.newKey();
        String input = "∀x ∈ ℝ, ∃y: x ≤ y ⟹ ⟨x, y⟩ ⟶ f(x); ".repeat(300);
        int cl100k = Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.CL100K_BASE).countTokensOrdinary(input);
        int o200k = Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.O200K_BASE).countTokensOrdinary(input);
        // Given an input within text-embedding-3-small's 8 191 tokens as OpenAI counts them
        assertThat(cl100k).as("cl100k_base tokens (o200k: %d)", o200k).isLessThanOrEqualTo(8191);
        upstream.fault = FakeOpenAiUpstream.Fault.STATUS;
        upstream.status = 200;
        upstream.errorBody = new JsonObject().put("model", "text-embedding-3-small").put("usage",
            new JsonObject().put("prompt_tokens", cl100k).put("total_tokens", cl100k)).put("data", new JsonArray()
            .add(new JsonObject().put("object", "embedding").put("index", 0).put("embedding", new JsonArray().add(0.5))));

        // When it is embedded through the gateway
        HttpResponse<String> response = gateway.post("/v1/embeddings", key,
            new JsonObject().put("model", "text-embedding-3-small").put("input", input).encode());

        // Then it reaches OpenAI, which embeds it
        assertThat(response.statusCode()).as("cl100k %d, o200k %d: %s", cl100k, o200k, response.body()).isEqualTo(200);
        assertThat(upstream.requests()).hasSize(1);
    }
}
