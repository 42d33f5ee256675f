package io.tokenhub.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeUpstreamGateway;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A hostile client puts its bulk where the gateway's prompt estimate does not look: the deprecated
 * {@code functions}, {@code response_format.json_schema}, or content parts that are not text. The
 * provider counts (and bills) all of it as prompt, so the reservation made from the estimate is no
 * bound: an account with $1 is served a request that costs many times that, where the same bytes
 * in {@code tools} or in a message are refused with insufficient_quota (PRODUCT §4: reserved
 * before, "can never overdraw by more than the reservations in flight").
 */
class WholePromptReservedIT {

    /** About 60 KB of schema text: ~15 000 tokens as a provider counts it (~4 bytes a token). */
    static final int BULK_BYTES = 60_000;
    static final int PROVIDER_PROMPT_TOKENS = BULK_BYTES / 4;

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("gpt-4o-mini", """
        providers:
          - { id: openai, type: openai, base_url: "%s" }
        models:
          - id: pricey
            context_window: 200000
            max_output_tokens: 1000
            default_max_tokens: 10
            capabilities: [tools, structured_output]
            pricing: { input: 1000, output: 1000 }
            deployments: [ { provider: openai, model: gpt-4o-mini } ]
        """, """
        server: { port: 0, management_port: 0, instances: 1, max_body_bytes: 1048576, shutdown_grace_ms: 5000 }
        billing: { signup_credit_usd: 1 }
        """);

    static JsonObject schema() {
        JsonObject properties = new JsonObject();
        int i = 0;
        while (properties.encode().length() < BULK_BYTES) {
            properties.put("field_" + i++, new JsonObject().put("type", "string")
                .put("description", "a description of the field that takes some room " + i));
        }
        return new JsonObject().put("type", "object").put("properties", properties);
    }

    static JsonObject base() {
        return new JsonObject().put("model", "pricey").put("max_tokens", 10)
            .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "hi")));
    }

    HttpResponse<String> send(String key, JsonObject body) {
        FakeOpenAiUpstream upstream = hub.upstream();
        upstream.usage = FakeOpenAiUpstream.usage(PROVIDER_PROMPT_TOKENS, 5, 0, 0);
        return hub.gateway().post("/v1/chat/completions", key, body.encode());
    }

    long balance(TestGateway gateway, String accountId) {
        return gateway.adminOk("GET", "/admin/v1/accounts/" + accountId, null).getLong("balance_micro_usd");
    }

    @Test
    void sameBulkInToolsIsRefusedForWantOfMoney() {
        JsonObject key = hub.gateway().newKey(new JsonObject());
        JsonObject body = base().put("tools", new JsonArray().add(new JsonObject().put("type", "function")
            .put("function", new JsonObject().put("name", "f").put("parameters", schema()))));
        HttpResponse<String> response = send(key.getString("key"), body);
        assertThat(response.statusCode()).as(response.body()).isEqualTo(429);
        assertThat(response.body()).contains("insufficient_quota");
    }

    @Test
    void bulkInDeprecatedFunctionsIsReservedForOrRefused() {
        JsonObject body = base().put("functions", new JsonArray().add(new JsonObject().put("name", "f")
            .put("parameters", schema())));
        assertReservedOrRefused(body, "functions");
    }

    @Test
    void bulkInJsonSchemaIsReservedForOrRefused() {
        JsonObject body = base().put("response_format", new JsonObject().put("type", "json_schema")
            .put("json_schema", new JsonObject().put("name", "s").put("schema", schema())));
        assertReservedOrRefused(body, "response_format.json_schema");
    }

    @Test
    void bulkInAFilePartIsReservedForOrRefused() {
        String data = "A".repeat(BULK_BYTES);
        JsonObject body = base().put("messages", new JsonArray().add(new JsonObject().put("role", "user")
            .put("content", new JsonArray().add(new JsonObject().put("type", "text").put("text", "read this"))
                .add(new JsonObject().put("type", "file").put("file", new JsonObject().put("filename", "a.txt")
                    .put("file_data", "data:text/plain;base64," + data))))));
        assertReservedOrRefused(body, "messages[0].content[1] (file part)");
    }

    private void assertReservedOrRefused(JsonObject body, String where) {
        TestGateway gateway = hub.gateway();
        JsonObject key = gateway.newKey(new JsonObject());
        String accountId = key.getString("account_id");
        long before = balance(gateway, accountId);
        HttpResponse<String> response = send(key.getString("key"), body);
        if (response.statusCode() == 429) {
            return; // refused, as the same bytes in tools are
        }
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        java.util.Map<String, Object> record = gateway.usageRecordOf(response);
        long cost = ((Number) record.get("cost_micro_usd")).longValue();
        gateway.eventually(() -> balance(gateway, accountId) == before - cost, 10_000, "the charge applied");
        long after = balance(gateway, accountId);
        assertThat(after)
            .as("balance of an account that had %d micro-USD, after one request with %d bytes in %s that the "
                + "provider billed %d micro-USD for (the gateway reserved from an estimate that ignores it)",
                before, BULK_BYTES, where, cost)
            .isGreaterThanOrEqualTo(0);
    }
}
