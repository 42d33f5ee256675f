package io.tokenhub.admin;

import static io.tokenhub.testing.OpenAiErrorAssert.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeUpstreamGateway;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The admin API of PRODUCT.md §5 with the exact JSON of §9: accounts (signup credit, 404, 409), keys
 * (shown once, listed by prefix, paginated), and a key's whole life as the public API sees it —
 * every change takes effect on the very next request.
 */
class KeyLifecycleIT {

    private static final String CHAT = "/v1/chat/completions";
    private static final String MINI = """
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}""";
    private static final String OTHER = """
        {"model": "other-model", "messages": [{"role": "user", "content": "hi"}]}""";

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("gpt-4o-mini-2024-07-18", """
        providers:
          - { id: openai, type: openai, base_url: "%s", api_key: provider-secret-key }
        models:
          - id: gpt-4o-mini
            aliases: [mini]
            pricing: { input: 0.15, output: 0.60 }
            deployments: [ { provider: openai, model: gpt-4o-mini } ]
          - id: other-model
            pricing: { input: 0.15, output: 0.60 }
            deployments: [ { provider: openai, model: other-model } ]
        """, "billing: { signup_credit_usd: 0.5 }");

    static FakeOpenAiUpstream upstream;
    static TestGateway gateway;

    @BeforeAll
    static void start() {
        upstream = hub.upstream();
        gateway = hub.gateway();
    }

    // ---------------------------------------------------------------- accounts

    @Test
    void createdAccountHasTheSignupCreditAndTheSpecifiedShape() {
        // Given a billing.signup_credit_usd of 0.5
        String email = uniqueEmail();

        // When an account is created
        HttpResponse<String> response = gateway.admin("POST", "/admin/v1/accounts",
            new JsonObject().put("name", "Acme").put("email", email).put("password", "correct horse battery"));

        // Then it is 201 with the §9 account JSON and half a dollar in micro-USD
        assertThat(response.statusCode()).isEqualTo(201);
        JsonObject account = new JsonObject(response.body());
        assertThat(account.fieldNames()).contains("id", "name", "email", "status", "balance_micro_usd", "plans",
            "created_at").doesNotContain("password", "password_hash");
        assertThat(account.getString("name")).isEqualTo("Acme");
        assertThat(account.getString("email")).isEqualTo(email);
        assertThat(account.getString("status")).isEqualTo("active");
        assertThat(account.getLong("balance_micro_usd")).isEqualTo(500_000L);
        assertThat(response.body()).as("money is an integer of micro-USD").containsPattern("\"balance_micro_usd\":500000[,}]");
        assertThat(account.getJsonArray("plans")).isEmpty();
        assertThat(Instant.parse(account.getString("created_at"))).isBefore(Instant.now().plusSeconds(60));
        assertThat(response.body()).doesNotContain("correct horse battery");
    }

    @Test
    void accountCanBeReadBackById() {
        // Given an account
        JsonObject created = newAccount();

        // When it is read
        HttpResponse<String> response = gateway.admin("GET", "/admin/v1/accounts/" + created.getString("id"), null);

        // Then it is the same account, with its balance
        assertThat(response.statusCode()).isEqualTo(200);
        JsonObject account = new JsonObject(response.body());
        assertThat(account).isEqualTo(created);
        assertThat(account.getLong("balance_micro_usd")).isEqualTo(500_000L);
    }

    @Test
    void unknownAccountIsA404() {
        // Given no account with this id
        // When it is read
        HttpResponse<String> response = gateway.admin("GET", "/admin/v1/accounts/acct_doesnotexist", null);

        // Then it is a 404 in the OpenAI shape
        JsonObject error = assertOpenAiError(response, 404, "invalid_request_error", "not_found", null);
        assertThat(error.getString("message")).contains("acct_doesnotexist");
    }

    @Test
    void secondAccountWithTheSameEmailIsA409() {
        // Given an account
        JsonObject first = newAccount();

        // When another is created with its email
        HttpResponse<String> response = gateway.admin("POST", "/admin/v1/accounts",
            new JsonObject().put("name", "Copycat").put("email", first.getString("email")));

        // Then it is refused as a conflict on email, and no second account exists
        assertOpenAiError(response, 409, "invalid_request_error", "conflict", "email");
        assertThat(gateway.database().count("SELECT count(*) FROM accounts WHERE email = ?", first.getString("email")))
            .isEqualTo(1);
    }

    // ---------------------------------------------------------------- keys: creation, listing, storage

    @Test
    void createdKeyIsShownOnceWithItsPrefixAndTheSpecifiedShape() {
        // Given an account
        String accountId = newAccount().getString("id");

        // When a key is created for it
        HttpResponse<String> response = gateway.admin("POST", "/admin/v1/keys",
            new JsonObject().put("account_id", accountId).put("name", "ci"));

        // Then the key is th- and 32 or more base62 characters, listed by a prefix of itself
        assertThat(response.statusCode()).isEqualTo(201);
        JsonObject created = new JsonObject(response.body());
        assertThat(created.fieldNames()).contains("id", "key", "prefix", "name", "account_id", "status",
            "allowed_models", "rpm", "tpm", "monthly_cap_micro_usd", "expires_at", "created_at");
        String key = created.getString("key");
        assertThat(key).matches("th-[0-9A-Za-z]{32,}");
        String prefix = created.getString("prefix");
        assertThat(prefix).isNotBlank();
        assertThat(key).startsWith(prefix);
        assertThat(prefix.length()).isLessThan(key.length() - 16);
        assertThat(created.getString("name")).isEqualTo("ci");
        assertThat(created.getString("account_id")).isEqualTo(accountId);
        assertThat(created.getString("status")).isEqualTo("active");
        assertThat(created.getValue("expires_at")).isNull();
        // The key works at once.
        assertThat(gateway.post(CHAT, key, MINI).statusCode()).isEqualTo(200);
    }

    @Test
    void listingShowsOnlyPrefixesAndPaginatesWithACursor() {
        // Given an account with three keys
        String accountId = newAccount().getString("id");
        List<JsonObject> created = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            created.add(gateway.adminOk("POST", "/admin/v1/keys",
                new JsonObject().put("account_id", accountId).put("name", "k" + i)));
        }

        // When they are listed two at a time
        HttpResponse<String> firstResponse = gateway.admin("GET", "/admin/v1/keys?account_id=" + accountId + "&limit=2",
            null);
        JsonObject first = new JsonObject(firstResponse.body());
        String cursor = first.getString("next_cursor");
        HttpResponse<String> secondResponse = gateway.admin("GET",
            "/admin/v1/keys?account_id=" + accountId + "&limit=2&cursor=" + cursor, null);
        JsonObject second = new JsonObject(secondResponse.body());

        // Then the first page is full with a cursor, the second has the rest and none, and no page shows a key
        assertThat(firstResponse.statusCode()).isEqualTo(200);
        assertThat(first.fieldNames()).containsExactlyInAnyOrder("data", "next_cursor");
        assertThat(first.getJsonArray("data")).hasSize(2);
        assertThat(cursor).isNotBlank();
        assertThat(secondResponse.statusCode()).isEqualTo(200);
        assertThat(second.getJsonArray("data")).hasSize(1);
        assertThat(second.containsKey("next_cursor")).isTrue();
        assertThat(second.getValue("next_cursor")).isNull();
        List<String> listed = new ArrayList<>();
        for (JsonObject page : List.of(first, second)) {
            for (Object item : page.getJsonArray("data")) {
                JsonObject listedKey = (JsonObject) item;
                assertThat(listedKey.containsKey("key")).isFalse();
                assertThat(listedKey.getString("prefix")).isNotBlank();
                assertThat(listedKey.getString("account_id")).isEqualTo(accountId);
                listed.add(listedKey.getString("id"));
            }
        }
        assertThat(listed).as("in the order they were created")
            .containsExactlyElementsOf(created.stream().map(k -> k.getString("id")).toList());
        assertOpenAiError(gateway.admin("GET", "/admin/v1/keys?account_id=" + accountId + "&cursor=key_nope", null),
            400, "invalid_request_error", "invalid_request_error", "cursor");
        for (JsonObject key : created) {
            assertThat(firstResponse.body() + secondResponse.body()).doesNotContain(key.getString("key"));
        }
    }

    @Test
    void onlyTheSha256OfAKeyIsStored() throws Exception {
        // Given a newly created key
        JsonObject created = gateway.newKey(new JsonObject().put("name", "stored"));
        String key = created.getString("key");

        // When the database is inspected
        List<Map<String, Object>> rows = gateway.database().query(
            "SELECT * FROM api_keys WHERE id = ?", created.getString("id"));

        // Then key_hash is the 32-byte SHA-256 of the key, and neither the key nor its secret part is anywhere
        assertThat(rows).hasSize(1);
        Map<String, Object> row = rows.get(0);
        assertThat(row.get("key_hash")).isInstanceOf(byte[].class);
        assertThat((byte[]) row.get("key_hash")).hasSize(32).isEqualTo(sha256(key));
        String hidden = key.substring(created.getString("prefix").length());
        for (Map.Entry<String, Object> column : row.entrySet()) {
            String value = column.getValue() instanceof byte[] bytes
                ? new String(bytes, StandardCharsets.ISO_8859_1) : String.valueOf(column.getValue());
            assertThat(value).as("column %s", column.getKey()).doesNotContain(key).doesNotContain(hidden);
        }
        List<Map<String, Object>> tables = gateway.database().query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'");
        for (Map<String, Object> table : tables) {
            String name = (String) table.get("table_name");
            assertThat(gateway.database().count("SELECT count(*) FROM \"" + name + "\" t WHERE t::text LIKE ?",
                "%" + hidden + "%")).as("rows of %s holding the key", name).isZero();
        }
    }

    // ---------------------------------------------------------------- keys: the lifecycle

    @Test
    void keyLifecycleTakesEffectOnTheVeryNextRequest() {
        // Given a new key that works
        JsonObject created = gateway.newKey(new JsonObject().put("name", "lifecycle"));
        String key = created.getString("key");
        String path = "/admin/v1/keys/" + created.getString("id");
        assertThat(gateway.post(CHAT, key, MINI).statusCode()).isEqualTo(200);

        // When it is disabled, then the next request is refused at once
        JsonObject disabled = gateway.adminOk("PATCH", path, new JsonObject().put("status", "disabled"));
        assertThat(disabled.getString("status")).isEqualTo("disabled");
        assertThat(disabled.containsKey("key")).isFalse();
        assertOpenAiError(gateway.post(CHAT, key, MINI), 401, "invalid_request_error", "invalid_api_key", null);

        // When it is enabled again, then it works at once
        assertThat(gateway.adminOk("PATCH", path, new JsonObject().put("status", "active")).getString("status"))
            .isEqualTo("active");
        assertThat(gateway.post(CHAT, key, MINI).statusCode()).isEqualTo(200);

        // When it is revoked, then it is refused at once
        HttpResponse<String> revoked = gateway.admin("DELETE", path, null);
        assertThat(revoked.statusCode()).isEqualTo(200);
        assertThat(new JsonObject(revoked.body()).getString("status")).isEqualTo("revoked");
        assertOpenAiError(gateway.post(CHAT, key, MINI), 401, "invalid_request_error", "invalid_api_key", null);

        // And a revoked key can never be made active again
        assertOpenAiError(gateway.admin("PATCH", path, new JsonObject().put("status", "active")),
            409, "invalid_request_error", "conflict", "status");
        assertOpenAiError(gateway.admin("PATCH", path, new JsonObject().put("status", "disabled")),
            409, "invalid_request_error", "conflict", "status");
        assertOpenAiError(gateway.post(CHAT, key, MINI), 401, "invalid_request_error", "invalid_api_key", null);
        String sql = "SELECT status, revoked_at FROM api_keys WHERE id = ?";
        Map<String, Object> row = gateway.database().query(sql, created.getString("id")).get(0);
        assertThat(row.get("status")).isEqualTo("revoked");
        assertThat(row.get("revoked_at")).isNotNull();
        // And revoking it again changes nothing, its revocation time included
        assertThat(gateway.admin("DELETE", path, null).statusCode()).isEqualTo(200);
        assertThat(gateway.database().query(sql, created.getString("id")).get(0)).isEqualTo(row);
    }

    @Test
    void overLongStringsAreRefusedNamingTheField() {
        assertOpenAiError(gateway.admin("POST", "/admin/v1/accounts", new JsonObject().put("name", "n")
            .put("email", "x".repeat(3000) + "@example.com")), 400, "invalid_request_error", "invalid_request_error",
            "email");
        assertOpenAiError(gateway.admin("POST", "/admin/v1/accounts", new JsonObject().put("name", "n".repeat(2000))
            .put("email", "long-name@example.com")), 400, "invalid_request_error", "invalid_request_error", "name");
    }

    @Test
    void keyCreatedWithAnExpiryInThePastIsRefused() {
        // Given a key that expired yesterday
        String key = gateway.newKey(new JsonObject()
            .put("expires_at", Instant.now().minus(1, ChronoUnit.DAYS).truncatedTo(ChronoUnit.SECONDS).toString()))
            .getString("key");

        // When it is used
        HttpResponse<String> response = gateway.post(CHAT, key, MINI);

        // Then it is a 401 that says why
        JsonObject error = assertOpenAiError(response, 401, "invalid_request_error", "invalid_api_key", null);
        assertThat(error.getString("message")).contains("expired");
        assertThat(upstream.requests()).isEmpty();
    }

    @Test
    void expiryPatchedIntoThePastTakesEffectAtOnce() {
        // Given a key in use that expires next year
        JsonObject created = gateway.newKey(new JsonObject()
            .put("expires_at", Instant.now().plus(365, ChronoUnit.DAYS).truncatedTo(ChronoUnit.SECONDS).toString()));
        String key = created.getString("key");
        assertThat(gateway.post(CHAT, key, MINI).statusCode()).isEqualTo(200);

        // When its expiry is moved into the past
        gateway.adminOk("PATCH", "/admin/v1/keys/" + created.getString("id"),
            new JsonObject().put("expires_at", "2020-01-01T00:00:00Z"));

        // Then the next request is refused
        assertOpenAiError(gateway.post(CHAT, key, MINI), 401, "invalid_request_error", "invalid_api_key", null);
    }

    @Test
    void patchedAllowedModelsRestrictTheKeyAtOnce() {
        // Given a key that may use every model
        JsonObject created = gateway.newKey(new JsonObject());
        String key = created.getString("key");
        assertThat(gateway.post(CHAT, key, OTHER).statusCode()).isEqualTo(200);

        // When it is restricted to gpt-4o-mini (given by its alias)
        JsonObject patched = gateway.adminOk("PATCH", "/admin/v1/keys/" + created.getString("id"),
            new JsonObject().put("allowed_models", new JsonArray().add("mini")));

        // Then the alias is stored as the model id, other models are 403 and the allowed one still works
        assertThat(patched.getJsonArray("allowed_models")).containsExactly("gpt-4o-mini");
        assertOpenAiError(gateway.post(CHAT, key, OTHER), 403, "permission_error", "model_not_allowed", "model");
        assertThat(gateway.post(CHAT, key, MINI).statusCode()).isEqualTo(200);
        assertThat(gateway.post(CHAT, key, MINI.replace("gpt-4o-mini", "openai/gpt-4o-mini")).statusCode())
            .isEqualTo(200);

        // And an empty list lifts the restriction again
        gateway.adminOk("PATCH", "/admin/v1/keys/" + created.getString("id"),
            new JsonObject().put("allowed_models", new JsonArray()));
        assertThat(gateway.post(CHAT, key, OTHER).statusCode()).isEqualTo(200);
    }

    @Test
    void patchingALimitToNullLiftsItAtOnce() {
        // Given a key with every limit set, held back by its monthly cap
        JsonObject created = gateway.newKey(new JsonObject().put("rpm", 7).put("tpm", 70_000)
            .put("monthly_cap_usd", 0.000001).put("allowed_models", new JsonArray().add("gpt-4o-mini"))
            .put("expires_at", "2099-01-01T00:00:00Z"));
        String key = created.getString("key");
        assertOpenAiError(gateway.post(CHAT, key, MINI), 429, "insufficient_quota", "monthly_cap_exceeded", null);

        // When each limit is patched to null
        JsonObject patched = gateway.adminOk("PATCH", "/admin/v1/keys/" + created.getString("id"), new JsonObject()
            .putNull("rpm").putNull("tpm").putNull("monthly_cap_usd").putNull("allowed_models").putNull("expires_at"));

        // Then the key has none left, and the next requests are neither capped, restricted nor rate limited
        assertThat(patched.getValue("rpm")).isNull();
        assertThat(patched.getValue("tpm")).isNull();
        assertThat(patched.getValue("monthly_cap_micro_usd")).isNull();
        assertThat(patched.getValue("expires_at")).isNull();
        assertThat(patched.getJsonArray("allowed_models")).isEmpty();
        HttpResponse<String> response = gateway.post(CHAT, key, MINI);
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("x-ratelimit-limit-requests")).isEmpty();
        assertThat(gateway.post(CHAT, key, OTHER).statusCode()).isEqualTo(200);
    }

    @Test
    void omittedFieldsOfAPatchStayAsTheyAre() {
        // Given a key with limits
        JsonObject created = gateway.newKey(new JsonObject().put("rpm", 7).put("tpm", 70_000)
            .put("monthly_cap_usd", 2).put("expires_at", "2099-01-01T00:00:00Z"));

        // When only its name is patched
        JsonObject patched = gateway.adminOk("PATCH", "/admin/v1/keys/" + created.getString("id"),
            new JsonObject().put("name", "renamed"));

        // Then every limit is as it was
        assertThat(patched.getString("name")).isEqualTo("renamed");
        assertThat(patched.getInteger("rpm")).isEqualTo(7);
        assertThat(patched.getInteger("tpm")).isEqualTo(70_000);
        assertThat(patched.getLong("monthly_cap_micro_usd")).isEqualTo(2_000_000L);
        assertThat(patched.getString("expires_at")).isEqualTo("2099-01-01T00:00:00Z");
    }

    @Test
    void timestampsInRfc3339sOtherSpellingsAreTakenToo() {
        // RFC 3339 allows a lower-case t and z, and a space instead of the T
        JsonObject created = gateway.newKey(new JsonObject().put("expires_at", "2099-06-01t12:30:00z"));
        JsonObject plan = gateway.adminOk("POST", "/admin/v1/accounts/" + created.getString("account_id") + "/plans",
            new JsonObject().put("tokens", 1000).put("valid_from", "2026-01-01 00:00:00+01:00")
                .put("valid_until", "2099-01-01T00:00:00Z"));

        assertThat(created.getString("expires_at")).isEqualTo("2099-06-01T12:30:00Z");
        assertThat(plan.getString("valid_from")).isEqualTo("2025-12-31T23:00:00Z");
    }

    @Test
    void aDateAloneEndsAKeyOrAPlanAfterThatDayAndBeginsAPlanAtItsStart() {
        // Given a key expiring on a date, and a plan running from one date until another
        JsonObject created = gateway.newKey(new JsonObject().put("expires_at", "2099-06-01"));
        JsonObject plan = gateway.adminOk("POST", "/admin/v1/accounts/" + created.getString("account_id") + "/plans",
            new JsonObject().put("tokens", 1000).put("valid_from", "2026-01-01").put("valid_until", "2098-12-31"));

        // Then each lasts through its last date, as a usage query's "to" date does (UTC)
        assertThat(created.getString("expires_at")).isEqualTo("2099-06-02T00:00:00Z");
        assertThat(plan.getString("valid_from")).isEqualTo("2026-01-01T00:00:00Z");
        assertThat(plan.getString("valid_until")).isEqualTo("2099-01-01T00:00:00Z");
    }

    @Test
    void aYearPostgresCannotHoldIsRefusedNamingTheField() {
        JsonObject created = gateway.newKey(new JsonObject());
        String plans = "/admin/v1/accounts/" + created.getString("account_id") + "/plans";

        assertOpenAiError(gateway.admin("POST", plans, new JsonObject().put("tokens", 1000)
            .put("valid_until", "+300000-01-01T00:00:00Z")), 400, "invalid_request_error", "invalid_request_error",
            "valid_until");
        assertOpenAiError(gateway.admin("POST", plans, new JsonObject().put("tokens", 1000)
            .put("valid_from", "-0001-01-01T00:00:00Z").put("valid_until", "2099-01-01T00:00:00Z")), 400,
            "invalid_request_error", "invalid_request_error", "valid_from");
        assertOpenAiError(gateway.admin("POST", "/admin/v1/keys", new JsonObject()
            .put("account_id", created.getString("account_id")).put("expires_at", "10000-01-01")), 400,
            "invalid_request_error", "invalid_request_error", "expires_at");
        assertThat(gateway.adminOk("GET", "/admin/v1/accounts/" + created.getString("account_id"), null)
            .getJsonArray("plans")).isEmpty();
    }

    @Test
    void timestampsAreRfc3339WithSecondsEvenWhenTheyAreZero() {
        // Given a key expiring, and a plan running, from one midnight to another
        JsonObject created = gateway.newKey(new JsonObject().put("expires_at", "2099-06-01T00:00:00Z"));
        String accountId = created.getString("account_id");

        // When they are created and read back
        JsonObject plan = gateway.adminOk("POST", "/admin/v1/accounts/" + accountId + "/plans", new JsonObject()
            .put("tokens", 1000).put("valid_from", "2026-01-01T00:00:00Z").put("valid_until", "2099-01-01T00:00:00Z"));
        JsonObject listed = gateway.adminOk("GET", "/admin/v1/keys?account_id=" + accountId, null)
            .getJsonArray("data").getJsonObject(0);
        JsonObject account = gateway.adminOk("GET", "/admin/v1/accounts/" + accountId, null);

        // Then each is written with its seconds (2099-06-01T00:00Z is not RFC 3339)
        assertThat(created.getString("expires_at")).isEqualTo("2099-06-01T00:00:00Z");
        assertThat(listed.getString("expires_at")).isEqualTo("2099-06-01T00:00:00Z");
        assertThat(plan.getString("valid_from")).isEqualTo("2026-01-01T00:00:00Z");
        assertThat(plan.getString("valid_until")).isEqualTo("2099-01-01T00:00:00Z");
        assertThat(account.getJsonArray("plans").getJsonObject(0).getString("valid_until"))
            .isEqualTo("2099-01-01T00:00:00Z");
        for (String createdAt : List.of(created.getString("created_at"), account.getString("created_at"))) {
            assertThat(createdAt).matches("\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z");
        }
    }

    @Test
    void aShortPasswordIsAccepted() {
        // Given an account body with a two-character password (the API sets no minimum)
        // When it is posted
        HttpResponse<String> response = gateway.admin("POST", "/admin/v1/accounts",
            new JsonObject().put("name", "Short").put("email", uniqueEmail()).put("password", "pw"));

        // Then the account exists
        assertThat(response.statusCode()).isEqualTo(201);
    }

    @Test
    void creditsMayBeGivenInMicroUsdAndAnAmountTooLargeOrTooFineIsA400ThatChangesNothing() {
        // Given an account with half a dollar
        String accountId = newAccount().getString("id");
        String path = "/admin/v1/accounts/" + accountId + "/credits";

        // When it is credited in micro-USD, then with an amount no balance can hold, then with both fields
        JsonObject credited = gateway.adminOk("POST", path, new JsonObject().put("amount_micro_usd", 250_000));
        HttpResponse<String> huge = gateway.admin("POST", path, new JsonObject().put("amount_usd", 1e20));
        HttpResponse<String> both = gateway.admin("POST", path,
            new JsonObject().put("amount_usd", 1).put("amount_micro_usd", 1));
        HttpResponse<String> hugeMicro = gateway.admin("POST", path,
            new JsonObject().put("amount_micro_usd", Long.MAX_VALUE));
        // and in USD down to the micro-USD, then finer than that, which is not rounded into another amount
        JsonObject exact = gateway.adminOk("POST", path, new JsonObject().put("amount_usd", 0.000001));
        HttpResponse<String> fine = gateway.admin("POST", path, new JsonObject().put("amount_usd", 0.0000005));

        // Then the first moved the balance, the others are 400s naming the field and moved nothing
        assertThat(credited.getLong("balance_micro_usd")).isEqualTo(750_000);
        assertOpenAiError(huge, 400, "invalid_request_error", "invalid_request_error", "amount_usd");
        assertOpenAiError(both, 400, "invalid_request_error", "invalid_request_error", "amount_micro_usd");
        assertOpenAiError(hugeMicro, 400, "invalid_request_error", "invalid_request_error", "amount_micro_usd");
        assertThat(exact.getLong("balance_micro_usd")).isEqualTo(750_001);
        assertOpenAiError(fine, 400, "invalid_request_error", "invalid_request_error", "amount_usd");
        assertThat(gateway.adminOk("GET", "/admin/v1/accounts/" + accountId, null).getLong("balance_micro_usd"))
            .isEqualTo(750_001);
    }

    @Test
    void aPlanWithAnUnknownModelIsA400NamingModelsAndAFuturePlanIsNotActiveYet() {
        // Given an account
        String accountId = newAccount().getString("id");
        String path = "/admin/v1/accounts/" + accountId + "/plans";

        // When a plan names a model that does not exist, and another starts next year
        HttpResponse<String> unknown = gateway.admin("POST", path, new JsonObject().put("tokens", 1000)
            .put("valid_until", "2099-01-01T00:00:00Z").put("models", new JsonArray().add("gpt-99")));
        String nextYear = Instant.now().plus(366, ChronoUnit.DAYS).toString();
        JsonObject future = gateway.adminOk("POST", path, new JsonObject().put("tokens", 1000)
            .put("valid_from", nextYear).put("valid_until", "2099-01-01T00:00:00Z"));
        JsonObject current = gateway.adminOk("POST", path, new JsonObject().put("tokens", 2000)
            .put("valid_until", "2099-01-01T00:00:00Z"));

        // Then the first is a 400 naming models, and the account shows only the plan already running
        assertOpenAiError(unknown, 400, "invalid_request_error", "invalid_request_error", "models");
        JsonObject account = gateway.adminOk("GET", "/admin/v1/accounts/" + accountId, null);
        assertThat(account.getJsonArray("plans")).extracting(p -> ((JsonObject) p).getString("id"))
            .containsExactly(current.getString("id")).doesNotContain(future.getString("id"));
    }

    @Test
    void unknownKeyIdIsA404ForPatchAndDelete() {
        // Given no key with this id
        // When it is changed or revoked
        HttpResponse<String> patch = gateway.admin("PATCH", "/admin/v1/keys/key_doesnotexist",
            new JsonObject().put("status", "disabled"));
        HttpResponse<String> delete = gateway.admin("DELETE", "/admin/v1/keys/key_doesnotexist", null);

        // Then both are 404
        assertOpenAiError(patch, 404, "invalid_request_error", "not_found", null);
        assertOpenAiError(delete, 404, "invalid_request_error", "not_found", null);
    }

    // ---------------------------------------------------------------- admin authentication

    static Stream<Arguments> badAdminCredentials() {
        return Stream.of(
            Arguments.of("no Authorization header", null),
            Arguments.of("a wrong admin key", "Bearer wrong-master-key-0123456789"),
            Arguments.of("the master key with one character changed", "Bearer " + TestGateway.MASTER_KEY + "x"),
            Arguments.of("the master key without Bearer", TestGateway.MASTER_KEY),
            Arguments.of("an ordinary API key", "Bearer th-" + "A".repeat(40)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badAdminCredentials")
    void adminCallWithoutTheAdminKeyIsA401AndChangesNothing(String why, String authorization) {
        // Given an admin request without a valid admin credential
        long accountsBefore = gateway.database().count("SELECT count(*) FROM accounts");
        List<HttpResponse<String>> responses = new ArrayList<>();

        // When it reads, creates and lists
        responses.add(adminAs(authorization, "POST", "/admin/v1/accounts",
            new JsonObject().put("name", "Intruder").put("email", uniqueEmail()).encode()));
        responses.add(adminAs(authorization, "GET", "/admin/v1/keys", null));
        responses.add(adminAs(authorization, "GET", "/admin/v1/accounts/acct_whatever", null));
        responses.add(adminAs(authorization, "DELETE", "/admin/v1/keys/key_whatever", null));

        // Then every call is a 401 and nothing was created
        for (HttpResponse<String> response : responses) {
            assertOpenAiError(response, 401, "invalid_request_error", "invalid_api_key", null);
        }
        assertThat(gateway.database().count("SELECT count(*) FROM accounts")).isEqualTo(accountsBefore);
    }

    @Test
    void apiKeyOfAnAccountCannotCallTheAdminApi() {
        // Given a real, active API key
        String key = gateway.newKey();

        // When it is used on the admin API
        HttpResponse<String> response = adminAs("Bearer " + key, "GET", "/admin/v1/keys", null);

        // Then it is a 401
        assertOpenAiError(response, 401, "invalid_request_error", "invalid_api_key", null);
    }

    // ---------------------------------------------------------------- admin input validation

    static Stream<Arguments> badKeyFields() {
        return Stream.of(
            Arguments.of(new JsonObject().put("rpm", -1), "rpm"),
            Arguments.of(new JsonObject().put("rpm", "sixty"), "rpm"),
            Arguments.of(new JsonObject().put("tpm", -5), "tpm"),
            Arguments.of(new JsonObject().put("expires_at", "tomorrow"), "expires_at"),
            Arguments.of(new JsonObject().put("expires_at", 1_700_000_000), "expires_at"),
            Arguments.of(new JsonObject().put("allowed_models", new JsonArray().add("gpt-4o-mini").add("gpt-99")),
                "allowed_models"),
            Arguments.of(new JsonObject().put("allowed_models", "gpt-4o-mini"), "allowed_models"),
            Arguments.of(new JsonObject().put("monthly_cap_usd", -1), "monthly_cap_usd"),
            Arguments.of(new JsonObject().put("monthly_cap_usd", 1e20), "monthly_cap_usd"),
            Arguments.of(new JsonObject().put("monthly_cap_micro_usd", 1.5), "monthly_cap_micro_usd"),
            Arguments.of(new JsonObject().put("monthly_cap_usd", 1).put("monthly_cap_micro_usd", 1), "monthly_cap_micro_usd"),
            Arguments.of(new JsonObject().put("rpm", 0), "rpm"),
            Arguments.of(new JsonObject().put("tpm", 0), "tpm"),
            Arguments.of(new JsonObject().put("name", 7), "name"));
    }

    @ParameterizedTest(name = "create with {0} → param {1}")
    @MethodSource("badKeyFields")
    void badFieldOnKeyCreationIsA400NamingIt(JsonObject fields, String param) {
        // Given an account and a key body with one bad field
        String accountId = newAccount().getString("id");

        // When the key is created
        HttpResponse<String> response = gateway.admin("POST", "/admin/v1/keys",
            fields.copy().put("account_id", accountId));

        // Then it is a 400 naming that field, and no key was created
        assertOpenAiError(response, 400, "invalid_request_error", "invalid_request_error", param);
        assertThat(gateway.database().count("SELECT count(*) FROM api_keys WHERE account_id = ?", accountId)).isZero();
    }

    @ParameterizedTest(name = "patch with {0} → param {1}")
    @MethodSource("badKeyFields")
    void badFieldOnKeyPatchIsA400NamingItAndChangesNothing(JsonObject fields, String param) {
        // Given a key
        JsonObject created = gateway.newKey(new JsonObject().put("name", "unchanged"));
        String path = "/admin/v1/keys/" + created.getString("id");

        // When it is patched with one bad field
        HttpResponse<String> response = gateway.admin("PATCH", path, fields);

        // Then it is a 400 naming that field, and the key is as it was
        assertOpenAiError(response, 400, "invalid_request_error", "invalid_request_error", param);
        Map<String, Object> row = gateway.database().query(
            "SELECT name, status, rpm, tpm, allowed_models, expires_at FROM api_keys WHERE id = ?",
            created.getString("id")).get(0);
        assertThat(row.get("name")).isEqualTo("unchanged");
        assertThat(row.get("status")).isEqualTo("active");
        assertThat(row.get("rpm")).isNull();
        assertThat(row.get("allowed_models")).isNull();
        assertThat(row.get("expires_at")).isNull();
    }

    @Test
    void badStatusOnPatchIsA400NamingIt() {
        // Given a key
        JsonObject created = gateway.newKey(new JsonObject());

        // When its status is set to something that is not a status
        HttpResponse<String> response = gateway.admin("PATCH", "/admin/v1/keys/" + created.getString("id"),
            new JsonObject().put("status", "paused"));

        // Then it is a 400 naming status
        assertOpenAiError(response, 400, "invalid_request_error", "invalid_request_error", "status");
    }

    @Test
    void keyForAMissingOrUnknownAccountIsA400NamingAccountId() {
        // Given key bodies without an account, and with one that does not exist
        // When they are posted
        HttpResponse<String> missing = gateway.admin("POST", "/admin/v1/keys", new JsonObject().put("name", "x"));
        HttpResponse<String> unknown = gateway.admin("POST", "/admin/v1/keys",
            new JsonObject().put("account_id", "acct_doesnotexist"));

        // Then both are 400 naming account_id
        assertOpenAiError(missing, 400, "invalid_request_error", "invalid_request_error", "account_id");
        assertOpenAiError(unknown, 400, "invalid_request_error", "invalid_request_error", "account_id");
    }

    static Stream<Arguments> badAccountBodies() {
        return Stream.of(
            Arguments.of(new JsonObject().put("email", "a@example.com"), "name"),
            Arguments.of(new JsonObject().put("name", "No email"), "email"),
            Arguments.of(new JsonObject().put("name", "Bad email").put("email", "not-an-email"), "email"),
            Arguments.of(new JsonObject().put("name", 5).put("email", "b@example.com"), "name"),
            Arguments.of(new JsonObject().put("name", "Empty").put("email", "c@example.com").put("password", ""),
                "password"),
            Arguments.of(new JsonObject().put("name", "Numeric").put("email", "d@example.com").put("password", 1234),
                "password"));
    }

    @ParameterizedTest(name = "{0} → param {1}")
    @MethodSource("badAccountBodies")
    void badAccountBodyIsA400NamingTheField(JsonObject body, String param) {
        // Given an account body with one bad or missing field
        // When it is posted
        HttpResponse<String> response = gateway.admin("POST", "/admin/v1/accounts", body);

        // Then it is a 400 naming the field
        assertOpenAiError(response, 400, "invalid_request_error", "invalid_request_error", param);
    }

    @Test
    void malformedAdminJsonIsA400WithNullParam() {
        // Given a body that is not JSON
        // When it is posted to the admin API
        HttpResponse<String> response = adminAs("Bearer " + TestGateway.MASTER_KEY, "POST", "/admin/v1/accounts",
            "{\"name\": ");

        // Then it is a 400 with no param
        assertOpenAiError(response, 400, "invalid_request_error", "invalid_request_error", null);
    }

    @Test
    void listLimitOutOfRangeIsA400NamingLimit() {
        // Given a list request asking for no keys at all
        // When it is sent
        HttpResponse<String> response = gateway.admin("GET", "/admin/v1/keys?limit=0", null);

        // Then it is a 400 naming limit
        assertOpenAiError(response, 400, "invalid_request_error", "invalid_request_error", "limit");
    }

    // ---------------------------------------------------------------- helpers

    @Test
    void edgesOfTheAdminApiAnAuditFoundAre400sOrTakenAsWritten() {
        JsonObject account = newAccount();
        JsonObject body = new JsonObject().put("account_id", account.getString("id")).put("name", "k");

        // group_by of commas alone: a 400 naming it (it was a 500)
        HttpResponse<String> commas = gateway.admin("GET", "/admin/v1/usage?group_by=,", null);
        assertThat(commas.statusCode()).as(commas.body()).isEqualTo(400);
        assertThat(new JsonObject(commas.body()).getJsonObject("error").getString("param")).isEqualTo("group_by");

        // the last day RFC 3339 writes, as an end, lasts through it (it was refused); an offset that
        // carries a time past year 9999 or before year 1 in UTC is refused (it was stored as year 10000 or 0)
        HttpResponse<String> lastDay = gateway.admin("POST", "/admin/v1/keys", body.copy().put("expires_at", "9999-12-31"));
        assertThat(lastDay.statusCode()).as(lastDay.body()).isEqualTo(201);
        assertThat(new JsonObject(lastDay.body()).getString("expires_at")).startsWith("9999-12-31T23:59:59");
        for (String past : new String[] {"9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"}) {
            HttpResponse<String> refused = gateway.admin("POST", "/admin/v1/keys", body.copy().put("expires_at", past));
            assertThat(refused.statusCode()).as(past).isEqualTo(400);
        }

        // a cap cleared and set in one PATCH is refused and changes nothing (the value was dropped)
        JsonObject capped = gateway.adminOk("POST", "/admin/v1/keys", body.copy().put("monthly_cap_usd", 3));
        HttpResponse<String> both = gateway.admin("PATCH", "/admin/v1/keys/" + capped.getString("id"),
            new JsonObject().putNull("monthly_cap_usd").put("monthly_cap_micro_usd", 5));
        assertThat(both.statusCode()).as(both.body()).isEqualTo(400);
        assertThat(gateway.adminOk("GET", "/admin/v1/keys?account_id=" + account.getString("id"), null)
            .getJsonArray("data").stream().map(k -> (JsonObject) k)
            .filter(k -> k.getString("id").equals(capped.getString("id"))).findFirst().orElseThrow()
            .getLong("monthly_cap_micro_usd")).isEqualTo(3_000_000L);
    }

    private static JsonObject newAccount() {
        return gateway.adminOk("POST", "/admin/v1/accounts",
            new JsonObject().put("name", "Account").put("email", uniqueEmail()));
    }

    private static String uniqueEmail() {
        return "user-" + System.nanoTime() + "@example.com";
    }

    private static HttpResponse<String> adminAs(String authorization, String method, String path, String body) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(gateway.url(path)))
            .header("Content-Type", "application/json")
            .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        return gateway.send(request);
    }

    private static byte[] sha256(String text) throws NoSuchAlgorithmException {
        return MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
    }
}
