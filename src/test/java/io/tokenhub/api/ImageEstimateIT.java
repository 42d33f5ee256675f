package io.tokenhub.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.core.TokenCounter;
import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeUpstreamGateway;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What an image not sent at low detail is held for (1 445 tokens of money reserved, beyond what can
 * be counted) reaches the money only: not a usage record the provider sent no counts for, nor the
 * rate limits.
 */
class ImageEstimateIT {

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("gpt-4o", """
        providers:
          - { id: openai, type: openai, base_url: "%s" }
        models:
          - id: seer
            context_window: 128000
            max_output_tokens: 4096
            default_max_tokens: 100
            capabilities: [vision]
            pricing: { input: 2.5, output: 10 }
            deployments: [ { provider: openai, model: gpt-4o } ]
        """, "");

    static JsonObject withImages(int images) {
        JsonArray parts = new JsonArray()
            .add(new JsonObject().put("type", "text").put("text", "What is in these pictures?"));
        for (int i = 0; i < images; i++) {
            parts.add(new JsonObject().put("type", "image_url")
                .put("image_url", new JsonObject().put("url", "https://example.com/cat-" + i + ".png")));
        }
        return new JsonObject().put("model", "seer").put("max_tokens", 100)
            .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", parts)));
    }

    /**
     * PRODUCT §2: where a provider gives no usage, the prompt is counted with a tokenizer and the
     * record marked estimated (a review found an image billed at the 1 445 reserved for it).
     */
    @Test
    void anEstimatedRecordBillsThePromptAsTheTokenizerCountsItNotTheReservation() {
        FakeOpenAiUpstream upstream = hub.upstream();
        upstream.usage = null;
        JsonObject body = withImages(1);
        int counted = TokenCounter.chatPrompt(body.copy());
        String key = hub.gateway().newKey();

        HttpResponse<String> response = hub.gateway().post("/v1/chat/completions", key, body.encode());

        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        Map<String, Object> record = hub.gateway().usageRecordOf(response);
        assertThat(record.get("estimated")).isEqualTo(true);
        assertThat(((Number) record.get("prompt_tokens")).intValue())
            .as("prompt tokens billed for a provider that sent no counts (tokenizer count %d)", counted)
            .isEqualTo(counted);
    }

    /**
     * A key of 10 000 TPM asking about seven pictures with max_tokens 100 (7 x 255 tokens for 512 px
     * pictures) is served: a review found it refused for good ("Request too large") when the rate
     * limits counted each picture at 1 445.
     */
    @Test
    void aKeyOfTenThousandTpmIsServedSevenPictures() {
        FakeOpenAiUpstream upstream = hub.upstream();
        upstream.usage = FakeOpenAiUpstream.usage(7 * 255 + 20, 5, 0, 0);
        String key = hub.gateway().newKey(new JsonObject().put("tpm", 10_000)).getString("key");

        HttpResponse<String> response = hub.gateway().post("/v1/chat/completions", key, withImages(7).encode());

        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    }
}
