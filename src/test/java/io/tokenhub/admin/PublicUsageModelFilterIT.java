package io.tokenhub.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeUpstreamGateway;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Audit of {@code GET /v1/usage?model=}: a model may be named by id, alias or {@code provider/model}
 * (PRODUCT §2 "Models and routing"); the usage filter should find a request by the name it was sent with.
 */
class PublicUsageModelFilterIT {

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("remote-v1", """
        providers:
          - { id: remote, type: openai, base_url: "%s", api_key: k }
        models:
          - id: remote-embed
            type: embedding
            aliases: [embed-latest]
            pricing: { input: 100.0 }
            deployments: [ { provider: remote, model: text-embedding-3-small } ]
        """, "");

    static TestGateway gateway;
    static String key;

    @BeforeAll
    static void start() {
        gateway = hub.gateway();
        key = gateway.newKey();
    }

    @Test
    void usageFilteredByTheProviderModelNameARequestUsedFindsIt() {
        // Given one embedding requested as provider/model
        HttpResponse<String> sent = gateway.post("/v1/embeddings", key, new JsonObject()
            .put("model", "remote/remote-embed").put("input", "x").encode());
        assertThat(sent.statusCode()).as(sent.body()).isEqualTo(200);

        // When the caller reads its usage by the id, the alias and the name it used
        JsonArray byId = usage("remote-embed");
        JsonArray byAlias = usage("embed-latest");
        JsonArray byPinned = usage("remote%2Fremote-embed");

        // Then each finds the one request
        assertThat(byId).hasSize(1);
        assertThat(byAlias).hasSize(1);
        assertThat(byPinned).as("usage?model=remote/remote-embed").hasSize(1);
    }

    private static JsonArray usage(String model) {
        HttpResponse<String> response = gateway.get("/v1/usage?model=" + model, key);
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return new JsonObject(response.body()).getJsonArray("data");
    }
}
