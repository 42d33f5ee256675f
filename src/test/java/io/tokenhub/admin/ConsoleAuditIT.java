package io.tokenhub.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeUpstreamGateway;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The console over HTTP: /console/api against /admin/v1 and the gateway (from an audit). */
class ConsoleAuditIT {

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("gpt-4o-mini", """
        providers:
          - { id: mock, type: mock }
          - { id: openai, type: openai, base_url: "%s" }
        models:
          - id: primary
            pricing: { input: 1, output: 2 }
            deployments: [ { provider: openai, model: primary } ]
            fallbacks: [backup]
          - id: backup
            pricing: { input: 5, output: 10 }
            deployments: [ { provider: mock, model: mock-chat-1 } ]
          - id: gpt-4o-mini
            aliases: [mini]
            pricing: { input: 0.15, output: 0.60 }
            deployments: [ { provider: openai, model: gpt-4o-mini } ]
        """, "billing: { signup_credit_usd: 2 }");

    private static final String PASSWORD = "a long enough password";
    private static final String CHAT = "{\"model\":\"mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    @Test
    void aKeyRevokedInTheConsoleIsRefusedAtOnceAndUsageMatchesTheAdminApi() {
        JsonObject account = holder("revoke");
        String session = account.getString("session");
        JsonObject created = new JsonObject(console("POST", "/console/api/keys", session,
            new JsonObject().put("name", "soon-gone")).body());
        for (int i = 0; i < 3; i++) {
            assertThat(hub.gateway().post("/v1/chat/completions", created.getString("key"), CHAT).statusCode()).isEqualTo(200);
        }

        JsonArray mine = new JsonObject(console("GET", "/console/api/usage", session, null).body()).getJsonArray("data");
        JsonArray admins = hub.gateway().adminOk("GET", "/admin/v1/usage?group_by=day,model&account_id="
            + account.getString("id"), null).getJsonArray("data");
        assertThat(mine).isEqualTo(admins);
        JsonObject own = new JsonObject(console("GET", "/console/api/account", session, null).body());
        JsonObject adminView = hub.gateway().adminOk("GET", "/admin/v1/accounts/" + account.getString("id"), null);
        assertThat(own.getLong("balance_micro_usd")).isEqualTo(adminView.getLong("balance_micro_usd"))
            .isEqualTo(2_000_000 - mine.getJsonObject(0).getLong("cost_micro_usd"));

        assertThat(console("DELETE", "/console/api/keys/" + created.getString("id"), session, null).statusCode())
            .isEqualTo(200);
        assertThat(hub.gateway().post("/v1/chat/completions", created.getString("key"), CHAT).statusCode()).isEqualTo(401);
    }

    @Test
    void theModelTheUsagePageChargesARequestToFindsItInTheLogs() {
        // Given a holder whose request to "primary" fell back to "backup" (primary's provider failing)
        JsonObject account = holder("fallback");
        String session = account.getString("session");
        String key = new JsonObject(console("POST", "/console/api/keys", session,
            new JsonObject().put("name", "k")).body()).getString("key");
        hub.upstream().fault = io.tokenhub.testing.FakeOpenAiUpstream.Fault.STATUS;
        hub.upstream().status = 500;
        HttpResponse<String> chat = hub.gateway().post("/v1/chat/completions", key,
            "{\"model\":\"primary\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertThat(chat.statusCode()).as(chat.body()).isEqualTo(200);

        // When the holder reads the usage page (cost by model) and filters the logs by that model
        JsonArray usage = new JsonObject(console("GET", "/console/api/usage", session, null).body()).getJsonArray("data");
        assertThat(usage).hasSize(1);
        String chargedModel = usage.getJsonObject(0).getString("model");
        JsonArray logs = new JsonObject(console("GET", "/console/api/logs?model=" + chargedModel, session, null).body())
            .getJsonArray("data");
        JsonArray adminLogs = hub.gateway().adminOk("GET", "/admin/v1/logs?account_id=" + account.getString("id")
            + "&model=" + chargedModel, null).getJsonArray("data");

        // Then the request charged to that model is found by it
        assertThat(chargedModel).isEqualTo("backup");
        assertThat(logs).as("console logs filtered by the model usage charged, " + chargedModel).hasSize(1);
        assertThat(adminLogs).as("admin logs filtered by the model usage charged").hasSize(1);
    }

    private static HttpResponse<String> console(String method, String path, String bearer, JsonObject body) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(hub.gateway().url(path)))
            .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(body.encode()))
            .header("Content-Type", "application/json");
        if (bearer != null) {
            request.header("Authorization", "Bearer " + bearer);
        }
        return hub.gateway().send(request);
    }

    /** A new account with a password, signed in to the console: the admin API's account plus its {@code session}. */
    private static JsonObject holder(String name) {
        String email = name + "-" + System.nanoTime() + "@example.com";
        JsonObject account = hub.gateway().adminOk("POST", "/admin/v1/accounts",
            new JsonObject().put("name", name).put("email", email).put("password", PASSWORD));
        return account.put("session", new JsonObject(console("POST", "/console/api/login", null,
            new JsonObject().put("email", email).put("password", PASSWORD)).body()).getString("token"));
    }
}
