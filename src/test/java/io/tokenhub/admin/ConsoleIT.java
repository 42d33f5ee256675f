package io.tokenhub.admin;

import static io.tokenhub.testing.OpenAiErrorAssert.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeUpstreamGateway;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.ArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The web console: its page, and the account holder's API behind it (sign in, own account, own
 * keys, own usage and records, the catalog), against the real gateway and PostgreSQL.
 */
class ConsoleIT {

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("gpt-4o-mini", """
        providers:
          - { id: openai, type: openai, base_url: "%s" }
        models:
          - id: gpt-4o-mini
            aliases: [mini]
            pricing: { input: 0.15, output: 0.60 }
            deployments: [ { provider: openai, model: gpt-4o-mini } ]
        """, "billing: { signup_credit_usd: 2 }");

    private static final String PASSWORD = "a long enough password";

    @Test
    void theConsolePageAndItsScriptAreServed() {
        TestGateway gateway = hub.gateway();

        HttpResponse<String> bare = gateway.send(HttpRequest.newBuilder(URI.create(gateway.url("/console"))).GET());
        HttpResponse<String> page = gateway.get("/console/", null);
        HttpResponse<String> script = gateway.get("/console/console.js", null);

        assertThat(bare.statusCode()).isEqualTo(302);
        assertThat(bare.headers().firstValue("Location")).hasValue("/console/");
        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.headers().firstValue("Content-Type")).hasValueSatisfying(t -> assertThat(t).startsWith("text/html"));
        assertThat(page.body()).contains("<title>TokenHub console</title>", "console.js");
        assertThat(script.statusCode()).isEqualTo(200);
        assertThat(script.body()).contains("/console/api/login", "/admin/v1/accounts");
        assertThat(page.headers().firstValue("Content-Security-Policy"))
            .hasValueSatisfying(csp -> assertThat(csp).contains("default-src 'self'", "frame-ancestors 'none'"));
        assertOpenAiError(gateway.get("/console/secret.txt", null), 404, "invalid_request_error", "not_found", null);
    }

    @Test
    void signInAttemptsForOneEmailAreLimitedAndASessionTokenIsNeverCached() {
        // Given an account holder
        String email = "limited-" + System.nanoTime() + "@example.com";
        hub.gateway().adminOk("POST", "/admin/v1/accounts",
            new JsonObject().put("name", "Guessed").put("email", email).put("password", PASSWORD));

        // When someone tries passwords for it, more than the minute allows, and the holder then signs in
        HttpResponse<String> last = null;
        for (int i = 0; i <= ConsoleApi.ATTEMPTS_PER_MINUTE; i++) {
            last = login(email, "guess " + i);
        }
        HttpResponse<String> holder = login(email, PASSWORD);

        // Then the attempts beyond the limit, the right one included, are refused until the minute passes
        assertOpenAiError(last, 429, "rate_limit_error", "rate_limit_exceeded", null);
        assertThat(last.headers().firstValue("Retry-After")).isPresent();
        assertThat(holder.statusCode()).isEqualTo(429);
        HttpResponse<String> other = login(holderEmail(), PASSWORD);
        assertThat(other.statusCode()).isEqualTo(200);
        assertThat(other.headers().firstValue("Cache-Control")).hasValue("no-store");
        // And a letter PostgreSQL lowers to the address's own but Java does not (U+0130) finds no way round
        HttpResponse<String> dotted = login(email.replaceFirst("i", "\u0130"), PASSWORD);
        assertThat(dotted.statusCode()).isIn(401, 429);
    }

    @Test
    void aSignInIsAJsonBodyWhichAPageElsewhereCannotMakeABrowserSendUnasked() {
        String email = holderEmail();
        String credentials = new JsonObject().put("email", email).put("password", PASSWORD).encode();
        for (String type : new String[] {"text/plain", "application/x-www-form-urlencoded"}) {
            HttpResponse<String> form = hub.gateway().send(HttpRequest.newBuilder(
                    URI.create(hub.gateway().url("/console/api/login")))
                .header("Content-Type", type).POST(HttpRequest.BodyPublishers.ofString(credentials)));
            assertOpenAiError(form, 400, "invalid_request_error", "invalid_request_error", null);
        }
        assertThat(login(email, PASSWORD).statusCode()).isEqualTo(200);
    }

    @Test
    void anAccountHolderSignsInManagesOwnKeysAndSeesOwnUsageAndRecords() {
        TestGateway gateway = hub.gateway();
        // Given an account with a password, made by the operator
        String email = "holder-" + System.nanoTime() + "@example.com";
        JsonObject account = gateway.adminOk("POST", "/admin/v1/accounts",
            new JsonObject().put("name", "Holder").put("email", email).put("password", PASSWORD));

        // When its holder signs in (with the email in other case), creates a key and uses it once
        HttpResponse<String> wrong = login(email, "not the password");
        HttpResponse<String> right = login(email.toUpperCase(), PASSWORD);
        String session = new JsonObject(right.body()).getString("token");
        HttpResponse<String> createdResponse = console("POST", "/console/api/keys", session,
            new JsonObject().put("name", "laptop"));
        String key = new JsonObject(createdResponse.body()).getString("key");
        HttpResponse<String> chat = gateway.post("/v1/chat/completions", key,
            "{\"model\":\"mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        // Then the wrong password is a 401, and the session sees the account, the key, the request and its cost
        assertOpenAiError(wrong, 401, "invalid_request_error", "invalid_api_key", null);
        assertThat(right.statusCode()).isEqualTo(200);
        assertThat(session).startsWith("ths-");
        assertThat(right.body()).doesNotContain(PASSWORD);
        assertThat(createdResponse.statusCode()).isEqualTo(201);
        assertThat(key).startsWith("th-");
        assertThat(chat.statusCode()).isEqualTo(200);

        JsonObject own = new JsonObject(console("GET", "/console/api/account", session, null).body());
        JsonArray keys = new JsonObject(console("GET", "/console/api/keys", session, null).body()).getJsonArray("data");
        JsonArray usage = new JsonObject(console("GET", "/console/api/usage", session, null).body()).getJsonArray("data");
        JsonArray logs = new JsonObject(console("GET", "/console/api/logs?model=mini", session, null).body())
            .getJsonArray("data");
        JsonArray models = new JsonObject(console("GET", "/console/api/models", session, null).body())
            .getJsonArray("data");

        assertThat(own.getString("id")).isEqualTo(account.getString("id"));
        assertThat(own.getLong("balance_micro_usd")).isLessThan(2_000_000);
        assertThat(keys).extracting(k -> ((JsonObject) k).getString("name")).containsExactly("laptop");
        assertThat(keys.encode()).doesNotContain(key);
        assertThat(usage).hasSize(1);
        assertThat(usage.getJsonObject(0).getString("model")).isEqualTo("gpt-4o-mini");
        assertThat(usage.getJsonObject(0).getLong("requests")).isEqualTo(1);
        assertThat(logs).hasSize(1);
        assertThat(logs.getJsonObject(0).getString("request_id")).isEqualTo(chat.headers().firstValue("X-Request-Id").orElseThrow());
        assertThat(models).extracting(m -> ((JsonObject) m).getString("id")).containsExactly("gpt-4o-mini");
        assertThat(models.getJsonObject(0).getJsonObject("pricing").getDouble("output")).isEqualTo(0.60);
    }

    @Test
    void aSessionReachesOnlyItsOwnAccountAndEndsWithSignOut() {
        TestGateway gateway = hub.gateway();
        // Given two account holders, each signed in, the second with a key
        String session = signedInHolder("first");
        String other = signedInHolder("second");
        JsonObject othersKey = new JsonObject(console("POST", "/console/api/keys", other,
            new JsonObject().put("name", "theirs")).body());
        assertThat(gateway.post("/v1/chat/completions", othersKey.getString("key"),
            "{\"model\":\"mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")
            .statusCode()).isEqualTo(200);

        // When the first tries to revoke the second's key, and lists keys with the second's account id
        HttpResponse<String> revoke = console("DELETE", "/console/api/keys/" + othersKey.getString("id"), session, null);
        JsonArray listed = new JsonObject(console("GET", "/console/api/keys?account_id="
            + othersKey.getString("account_id"), session, null).body()).getJsonArray("data");
        JsonArray logs = new JsonObject(console("GET", "/console/api/logs?account_id="
            + othersKey.getString("account_id"), session, null).body()).getJsonArray("data");

        // Then that key is unknown to it and still works, and nothing of the second account shows
        assertOpenAiError(revoke, 404, "invalid_request_error", "not_found", null);
        assertThat(gateway.adminOk("GET", "/admin/v1/keys?account_id=" + othersKey.getString("account_id"), null)
            .getJsonArray("data").getJsonObject(0).getString("status")).isEqualTo("active");
        assertThat(listed).isEmpty();
        assertThat(logs).isEmpty();
        assertThat(new JsonObject(console("GET", "/console/api/logs", other, null).body()).getJsonArray("data"))
            .as("the second account's own records").hasSize(1);

        // And its own revoke works, and after signing out the session is refused
        String ownKey = new JsonObject(console("POST", "/console/api/keys", session,
            new JsonObject().put("name", "mine")).body()).getString("id");
        assertThat(console("DELETE", "/console/api/keys/" + ownKey, session, null).statusCode()).isEqualTo(200);
        assertThat(console("POST", "/console/api/logout", session, null).statusCode()).isEqualTo(200);
        assertOpenAiError(console("GET", "/console/api/account", session, null), 401, "invalid_request_error",
            "invalid_api_key", null);
    }

    @Test
    void withoutASessionOrWithAnApiKeyTheConsoleApiIsA401ButTheAdminKeyMayReadTheCatalog() {
        TestGateway gateway = hub.gateway();
        String apiKey = gateway.newKey();

        HttpResponse<String> none = console("GET", "/console/api/account", null, null);
        HttpResponse<String> withApiKey = console("GET", "/console/api/keys", apiKey, null);
        HttpResponse<String> catalog = console("GET", "/console/api/models", TestGateway.MASTER_KEY, null);
        HttpResponse<String> accounts = gateway.admin("GET", "/admin/v1/accounts?limit=500", null);
        HttpResponse<String> unknownCursor = gateway.admin("GET", "/admin/v1/accounts?cursor=acct_nope", null);

        assertOpenAiError(none, 401, "invalid_request_error", "invalid_api_key", null);
        assertOpenAiError(withApiKey, 401, "invalid_request_error", "invalid_api_key", null);
        assertThat(catalog.statusCode()).isEqualTo(200);
        assertThat(accounts.statusCode()).isEqualTo(200);
        assertThat(new JsonObject(accounts.body()).getJsonArray("data")).isNotEmpty()
            .allSatisfy(a -> assertThat(((JsonObject) a).fieldNames()).contains("id", "name", "email", "status",
                "balance_micro_usd", "plans", "created_at"));
        assertOpenAiError(unknownCursor, 400, "invalid_request_error", "invalid_request_error", "cursor");
    }

    @Test
    void onesKeysArePagedWithACursorOfOnesOwnAndAnotherAccountsKeyIsNoCursor() {
        // Given a holder with three keys, and another holder's key
        String session = signedInHolder("pager");
        List<String> made = new ArrayList<>();
        for (String name : List.of("one", "two", "three")) {
            made.add(new JsonObject(console("POST", "/console/api/keys", session, new JsonObject().put("name", name))
                .body()).getString("id"));
        }
        String othersKey = new JsonObject(console("POST", "/console/api/keys", signedInHolder("other"),
            new JsonObject().put("name", "theirs")).body()).getString("id");

        // When the keys are read two at a time
        JsonObject first = new JsonObject(console("GET", "/console/api/keys?limit=2", session, null).body());
        JsonObject second = new JsonObject(console("GET", "/console/api/keys?limit=2&cursor="
            + first.getString("next_cursor"), session, null).body());

        // Then the pages hold all three in order, and the last says there is no more
        List<String> listed = new ArrayList<>();
        for (JsonObject page : List.of(first, second)) {
            page.getJsonArray("data").forEach(k -> listed.add(((JsonObject) k).getString("id")));
        }
        assertThat(listed).isEqualTo(made);
        assertThat(second.getValue("next_cursor")).isNull();
        // And another account's key, or a made-up one, is no cursor
        assertOpenAiError(console("GET", "/console/api/keys?cursor=" + othersKey, session, null), 400,
            "invalid_request_error", "invalid_request_error", "cursor");
        assertOpenAiError(console("GET", "/console/api/keys?cursor=key_nope", session, null), 400,
            "invalid_request_error", "invalid_request_error", "cursor");
    }

    /** The email of a new account holder with the usual password. */
    private static String holderEmail() {
        String email = "other-" + System.nanoTime() + "@example.com";
        hub.gateway().adminOk("POST", "/admin/v1/accounts",
            new JsonObject().put("name", "Other").put("email", email).put("password", PASSWORD));
        return email;
    }

    private static String signedInHolder(String name) {
        String email = name + "-" + System.nanoTime() + "@example.com";
        hub.gateway().adminOk("POST", "/admin/v1/accounts",
            new JsonObject().put("name", name).put("email", email).put("password", PASSWORD));
        HttpResponse<String> login = login(email, PASSWORD);
        assertThat(login.statusCode()).isEqualTo(200);
        return new JsonObject(login.body()).getString("token");
    }

    private static HttpResponse<String> login(String email, String password) {
        return console("POST", "/console/api/login", null, new JsonObject().put("email", email).put("password", password));
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
}
