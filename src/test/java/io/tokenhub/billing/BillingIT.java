package io.tokenhub.billing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.errors.RateLimitException;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Money end to end, with the hot counters in this process and in the real Redis: exact costs,
 * plans before wallet, refusals, the overdraw bound under concurrency, and Redis losing its
 * counters mid-run. PostgreSQL is the real local server.
 */
class BillingIT {

    static final String REDIS = System.getenv().getOrDefault("TOKENHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379");
    /** 1000 prompt + 500 completion tokens at 0.15 / 0.60 USD per 1M = 150 + 300 micro-USD. */
    static final long COST = 450;

    Vertx vertx;
    FakeOpenAiUpstream upstream;
    /** Answers every request with a 500: its model "failing" falls back to what a request names. */
    FakeOpenAiUpstream broken;
    TestGateway gateway;
    String accountId;
    String key;

    void start(String redis, double signupUsd) {
        start(redis, signupUsd, "");
    }

    /** @param extraYaml more configuration (say, an accounting section) */
    void start(String redis, double signupUsd, String extraYaml) {
        vertx = Vertx.vertx();
        upstream = new FakeOpenAiUpstream(vertx, "gpt-4o-mini").start();
        upstream.usage = FakeOpenAiUpstream.usage(1000, 500, 0, 0);
        broken = new FakeOpenAiUpstream(vertx, "failing").start();
        broken.fault = FakeOpenAiUpstream.Fault.STATUS;
        gateway = TestGateway.start("""
            providers:
              - { id: openai, type: openai, base_url: "%s" }
              - { id: broken, type: openai, base_url: "%s" }
            models:
              - id: failing
                pricing: { input: 0.15, output: 0.60 }
                deployments: [ { provider: broken, model: failing } ]
              - id: gpt-4o-mini
                context_window: 100000
                max_output_tokens: 4000
                default_max_tokens: 100
                pricing: { input: 0.15, cache_write: 0.30, output: 0.60 }
                deployments: [ { provider: openai, model: gpt-4o-mini } ]
              - id: cache-priced
                pricing: { input: 0.15, cached_input: 0.015, output: 0.60 }
                deployments: [ { provider: openai, model: cache-priced } ]
              - id: other
                pricing: { input: 1, output: 1 }
                deployments: [ { provider: openai, model: other } ]
              - id: tiny
                pricing: { input: 0.000001, output: 0.000001 }
                deployments: [ { provider: openai, model: tiny } ]
              - id: free
                pricing: { input: 0, output: 0 }
                deployments: [ { provider: openai, model: free } ]
              - id: once-a-minute
                pricing: { input: 0.15, output: 0.60 }
                limits: { rpm: 1 }
                deployments: [ { provider: openai, model: once-a-minute } ]
              - id: tpm-limited
                pricing: { input: 0.15, output: 0.60 }
                limits: { tpm: 2000 }
                deployments: [ { provider: openai, model: tpm-limited } ]
            """.formatted(upstream.baseUrl(), broken.baseUrl()), "billing: { signup_credit_usd: " + signupUsd + " }\n"
            + extraYaml, redis);
        newKey(new JsonObject());
    }

    void newKey(JsonObject fields) {
        JsonObject created = gateway.newKey(fields);
        key = created.getString("key");
        accountId = created.getString("account_id");
    }

    @AfterEach
    void stop() {
        if (gateway != null) {
            gateway.close();
        }
        if (upstream != null) {
            upstream.stop();
        }
        if (broken != null) {
            broken.stop();
        }
        if (vertx != null) {
            vertx.close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void eachRequestIsChargedItsExactCostOnceAndTheLedgerAddsUpToTheBalance(String counters) {
        start(counters(counters), 1.0);

        for (int i = 0; i < 3; i++) {
            assertThat(chat("gpt-4o-mini").statusCode()).isEqualTo(200);
        }
        awaitRecords(3);

        assertThat(balance()).isEqualTo(1_000_000 - 3 * COST);
        assertThat(ledgerSum()).isEqualTo(balance());
        assertThat(gateway.database().count("SELECT count(*) FROM ledger WHERE account_id = ? AND kind = 'signup_credit'",
            accountId)).isEqualTo(1);
        assertThat(gateway.database().count("SELECT sum(cost_micro_usd) FROM usage_records WHERE account_id = ?",
            accountId)).isEqualTo(3 * COST);
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void eachOfNChoicesIsReservedItsWholeOutputLimit(String counters) {
        // $0.001: 1000 output tokens at 0.60 per 1M (600 micro-USD) fit once, not twice.
        start(counters(counters), 0.001);
        String oneChoice = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":1000,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        String twoChoices = oneChoice.replace("\"max_tokens\":1000", "\"max_tokens\":1000,\"n\":2");

        HttpResponse<String> refused = gateway.post("/v1/chat/completions", key, twoChoices);

        assertThat(refused.statusCode()).isEqualTo(429);
        assertThat(new JsonObject(refused.body()).getJsonObject("error").getString("code")).isEqualTo("insufficient_quota");
        assertThat(upstream.requests()).isEmpty();
        assertThat(gateway.post("/v1/chat/completions", key, oneChoice).statusCode()).isEqualTo(200);
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void cacheWritesReportedUpstreamAreChargedAtTheCacheWritePriceWholeAndStreamed(String counters) {
        start(counters(counters), 1.0);
        // An OpenRouter-style upstream: 1000 prompt tokens of which 400 were written to its cache.
        upstream.usage.getJsonObject("prompt_tokens_details").put("cache_write_tokens", 400);
        // 600 × 0.15 + 400 × 0.30 + 500 × 0.60 = 90 + 120 + 300 micro-USD
        long cost = 510;

        assertThat(chat("gpt-4o-mini").statusCode()).isEqualTo(200);
        HttpResponse<String> streamed = gateway.post("/v1/chat/completions", key, """
            {"model": "gpt-4o-mini", "max_tokens": 100, "stream": true,
             "messages": [{"role": "user", "content": "hi"}]}""");
        assertThat(streamed.statusCode()).isEqualTo(200);
        awaitRecords(2);

        assertThat(balance()).isEqualTo(1_000_000 - 2 * cost);
        assertThat(ledgerSum()).isEqualTo(balance());
        assertThat(gateway.database().count("SELECT sum(cost_micro_usd) FROM usage_records WHERE account_id = ?",
            accountId)).isEqualTo(2 * cost);
        assertThat(gateway.database().count("SELECT sum(cache_write_tokens) FROM usage_records WHERE account_id = ?",
            accountId)).isEqualTo(800);
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void theRateLimitHeadersSayWhatARefusalForMoneyGaveBackAndWhatAFallbacksLimitsLeave(String counters) {
        // Given an empty wallet and a key of 1 000 tokens a minute
        start(counters(counters), 0);
        newKey(new JsonObject().put("tpm", 1_000));

        // When a request is admitted on the key's TPM, then refused for the money
        HttpResponse<String> broke = chat("gpt-4o-mini");

        // Then its headers say the tokens are the key's again (they said 893 were left)
        assertThat(broke.statusCode()).isEqualTo(429);
        assertThat(broke.headers().firstValue("x-ratelimit-limit-tokens")).hasValue("1000");
        assertThat(broke.headers().firstValue("x-ratelimit-remaining-tokens")).hasValue("1000");

        // And given money, a request answered by a fallback whose model allows one request a minute
        gateway.adminOk("POST", "/admin/v1/accounts/" + accountId + "/credits", new JsonObject().put("amount_usd", 1));
        HttpResponse<String> fellBack = chatWithFallback("failing", "once-a-minute");

        // Then its headers describe that limit, the tightest it was admitted on (they described the key's alone)
        assertThat(fellBack.statusCode()).as(fellBack.body()).isEqualTo(200);
        assertThat(fellBack.headers().firstValue("x-ratelimit-limit-requests")).hasValue("1");
        assertThat(fellBack.headers().firstValue("x-ratelimit-remaining-requests")).hasValue("0");
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void aFreeModelTakesNoPlanTokens(String counters) {
        // Given a plan for every model
        start(counters(counters), 1.0);
        JsonObject plan = plan(100_000, OffsetDateTime.now(ZoneOffset.UTC).plusDays(1), null);

        // When a model priced at nothing serves 1 500 tokens
        assertThat(chat("free").statusCode()).isEqualTo(200);
        awaitRecords(1);

        // Then the plan keeps every token (it lost 1 500 to a request that cost $0), and the wallet its money
        assertThat(planRemaining(plan)).isEqualTo(100_000);
        assertThat(balance()).isEqualTo(1_000_000);
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void plansArePaidFromBeforeTheWalletEarliestExpiryFirstAndOnlyForTheirModels(String counters) {
        start(counters(counters), 1.0);
        OffsetDateTime now = OffsetDateTime.now(ZoneOffset.UTC);
        JsonObject late = plan(3000, now.plusDays(30), null);
        JsonObject early = plan(1000, now.plusDays(1), null);
        JsonObject otherModel = plan(100_000, now.plusHours(1), "other");
        JsonObject expired = plan(100_000, now.minusDays(1), null);

        // 1500 tokens: 1000 from the early plan, 500 from the late one; the wallet pays nothing.
        assertThat(chat("gpt-4o-mini").statusCode()).isEqualTo(200);
        awaitRecords(1);
        assertThat(planRemaining(early)).isZero();
        assertThat(planRemaining(late)).isEqualTo(2500);
        assertThat(balance()).isEqualTo(1_000_000);

        // 1500 more from the late plan (1000 left); then 1500 with 1000 left: a third of the cost from the wallet.
        chat("gpt-4o-mini");
        chat("gpt-4o-mini");
        awaitRecords(3);
        assertThat(planRemaining(late)).isZero();
        assertThat(balance()).isEqualTo(1_000_000 - 150);
        assertThat(planRemaining(otherModel)).isEqualTo(100_000);
        assertThat(expired).isNull();
        assertThat(ledgerSum()).isEqualTo(balance());
        // And each log record says how its cost was paid, newest first
        JsonArray logs = gateway.adminOk("GET", "/admin/v1/logs?account_id=" + accountId, null).getJsonArray("data");
        assertThat(logs.stream().map(r -> ((JsonObject) r).getLong("plan_tokens"))).containsExactly(1000L, 1500L, 1500L);
        assertThat(logs.stream().map(r -> ((JsonObject) r).getLong("wallet_micro_usd"))).containsExactly(150L, 0L, 0L);
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void aFallbackToAnotherModelIsPaidByThatModelsPlansAndAtItsPriceNotByThePlansOfTheModelAskedFor(String counters) {
        // Given a wallet and a plan that covers only the model asked for, whose upstream fails
        start(counters(counters), 1.0);
        JsonObject failingPlan = plan(100_000, OffsetDateTime.now(ZoneOffset.UTC).plusDays(1), "failing");

        // When the request falls back to gpt-4o-mini
        HttpResponse<String> response = chatWithFallback("failing", "gpt-4o-mini");

        // Then gpt-4o-mini served it, and the wallet paid its price; the other model's plan paid nothing
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).contains("openai");
        awaitRecords(1);
        assertThat(planRemaining(failingPlan)).isEqualTo(100_000);
        assertThat(balance()).isEqualTo(1_000_000 - COST);
        assertThat(ledgerSum()).isEqualTo(balance());
        assertThat(gateway.database().query("SELECT served_model, fallback, cost_micro_usd FROM usage_records"
            + " WHERE account_id = ?", accountId)).singleElement().satisfies(row -> {
                assertThat(row.get("served_model")).isEqualTo("gpt-4o-mini");
                assertThat(row.get("fallback")).isEqualTo(true);
                assertThat(row.get("cost_micro_usd")).isEqualTo(COST);
            });
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void aFallbackTheAccountCannotPayForIsNotCalledAndTheWalletIsNotOverdrawn(String counters) {
        // Given an empty wallet and a plan that covers only the model asked for, whose upstream fails
        start(counters(counters), 0.0);
        JsonObject failingPlan = plan(2_000, OffsetDateTime.now(ZoneOffset.UTC).plusDays(1), "failing");

        // When the request names a fallback that only the wallet could pay for
        HttpResponse<String> response = chatWithFallback("failing", "gpt-4o-mini");

        // Then the fallback is passed over: the client hears of the failure of the model it asked for,
        // and that the fallback was not tried
        assertThat(response.statusCode()).isEqualTo(502);
        JsonObject error = new JsonObject(response.body()).getJsonObject("error");
        assertThat(error.getString("code")).isEqualTo("provider_error");
        assertThat(error.getString("message")).contains("The fallback model 'gpt-4o-mini' was not tried");
        assertThat(upstream.requests()).isEmpty();
        // And nothing was charged: the wallet is still at zero, the plan untouched
        awaitRecords(1);
        assertThat(balance()).isZero();
        assertThat(planRemaining(failingPlan)).isEqualTo(2_000);
        assertThat(ledgerSum()).isEqualTo(balance());
        // And nothing is still held: once its upstream is back, one request can reserve the whole plan
        // (a short prompt and 1 950 output tokens; what the first request held was over 100 tokens)
        broken.fault = FakeOpenAiUpstream.Fault.NONE;
        HttpResponse<String> wholePlan = gateway.post("/v1/chat/completions", key,
            "{\"model\":\"failing\",\"max_tokens\":1950,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertThat(wholePlan.statusCode()).as(wholePlan.body()).isEqualTo(200);
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void aFallbacksReservationReplacesTheFirstOneSoAWalletThatHoldsOneEstimateIsEnough(String counters) {
        // Given a wallet of 100 micro-USD: one estimate of a short prompt and 100 output tokens at
        // 0.15 / 0.60 USD per 1M (about 61 micro-USD), not two
        start(counters(counters), 0.0001);

        // When the request falls back to a model of the same price
        HttpResponse<String> response = chatWithFallback("failing", "gpt-4o-mini");

        // Then the fallback's reservation took the place of the first one, and it was served
        assertThat(response.statusCode()).isEqualTo(200);
        awaitRecords(1);
        assertThat(balance()).isEqualTo(100 - COST);
        assertThat(ledgerSum()).isEqualTo(balance());
    }

    @Test
    void aFallbackCountsAgainstTheAccountsRateLimitsOnTheModelThatServesIt() {
        start("none", 1.0);
        int[] calledBefore = new int[1];

        // When a request falls back to a model its account may call once a minute, then another
        // one does, and then one asks for that model
        List<HttpResponse<String>> responses = inOneWindow(() -> {
            calledBefore[0] = upstream.requests().size();
            return List.of(chatWithFallback("failing", "once-a-minute"),
                chatWithFallback("failing", "once-a-minute"), chat("once-a-minute"));
        });

        // Then the first fallback is served; the second is not tried, and the client is told why
        assertThat(responses.get(0).statusCode()).isEqualTo(200);
        assertThat(responses.get(1).statusCode()).isEqualTo(502);
        assertThat(new JsonObject(responses.get(1).body()).getJsonObject("error").getString("message"))
            .contains("The fallback model 'once-a-minute' was not tried: Rate limit reached");
        assertThat(upstream.requests().size() - calledBefore[0]).as("calls to once-a-minute").isEqualTo(1);
        // And the fallback used the account's minute on that model
        assertThat(responses.get(2).statusCode()).isEqualTo(429);
        assertThat(new JsonObject(responses.get(2).body()).getJsonObject("error").getString("code"))
            .isEqualTo("rate_limit_exceeded");
    }

    @Test
    void theTokensOfAFallbackCountOnTheTokenLimitOfTheModelThatServedIt() {
        start("none", 1.0);

        // When a request falls back to a model with 2 000 tokens a minute for the account, and uses
        // 1 500 of them (the upstream's usage), then a request asks that model for up to 600 more
        List<HttpResponse<String>> responses = inOneWindow(() -> List.of(
            chatWithFallback("failing", "tpm-limited"),
            gateway.post("/v1/chat/completions", key, "{\"model\":\"tpm-limited\",\"max_tokens\":600,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")));

        // Then the fallback is served, and the request for 600 more is over the model's minute
        assertThat(responses.get(0).statusCode()).isEqualTo(200);
        assertThat(responses.get(1).statusCode()).as(responses.get(1).body()).isEqualTo(429);
        assertThat(new JsonObject(responses.get(1).body()).getJsonObject("error").getString("message"))
            .contains("tokens per minute");
    }

    /**
     * Sends requests whose checks need one one-minute rate-limit window: if a minute ended while they
     * ran, once more with a new account (a whole minute is then ahead).
     */
    private <T> T inOneWindow(Supplier<T> requests) {
        long minute = System.currentTimeMillis() / 60_000;
        T sent = requests.get();
        if (System.currentTimeMillis() / 60_000 == minute) {
            return sent;
        }
        newKey(new JsonObject());
        return requests.get();
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void rechargeAndAdjustmentMoveTheBalanceWithOneLedgerRowEach(String counters) {
        start(counters(counters), 0.0);
        assertThat(chat("gpt-4o-mini").statusCode()).isEqualTo(429);

        JsonObject after = gateway.adminOk("POST", "/admin/v1/accounts/" + accountId + "/credits",
            new JsonObject().put("amount_usd", 0.01).put("reason", "top-up"));
        assertThat(after.getLong("balance_micro_usd")).isEqualTo(10_000);
        assertThat(chat("gpt-4o-mini").statusCode()).isEqualTo(200);
        awaitRecords(1);
        gateway.adminOk("POST", "/admin/v1/accounts/" + accountId + "/credits",
            new JsonObject().put("amount_usd", -0.002).put("reason", "goodwill reversal"));

        assertThat(balance()).isEqualTo(10_000 - COST - 2_000);
        assertThat(ledgerSum()).isEqualTo(balance());
        assertThat(gateway.database().query("SELECT kind, reason FROM ledger WHERE account_id = ? ORDER BY id", accountId))
            .extracting(row -> row.get("kind")).containsExactly("credit", "usage", "adjustment");
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void noBalanceIsRefusedWith429InsufficientQuotaAndTheSdkDoesNotRetry(String counters) {
        start(counters(counters), 0.0);
        long before = serverRequests();
        OpenAIClient client = OpenAIOkHttpClient.builder().apiKey(key).baseUrl(gateway.baseUrl()).maxRetries(3).build();

        assertThatThrownBy(() -> client.chat().completions().create(ChatCompletionCreateParams.builder()
            .model("gpt-4o-mini").addUserMessage("hi").build()))
            .isInstanceOfSatisfying(RateLimitException.class, e -> {
                assertThat(e.statusCode()).isEqualTo(429);
                assertThat(e.headers().values("x-should-retry")).containsExactly("false");
                assertThat(e.code()).hasValue("insufficient_quota");
            });
        TestGateway.eventually(() -> serverRequests() - before >= 1, 5_000, "the refused request counted");
        assertThat(serverRequests() - before).isEqualTo(1);
        assertThat(upstream.requests()).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void aKeyPastItsMonthlyCapIsRefusedWithMonthlyCapExceeded(String counters) {
        start(counters(counters), 1.0);
        // Estimate per request: 10 prompt tokens × 0.15 + 100 × 0.60 ≈ 62 micro-USD; real cost 450.
        newKey(new JsonObject().put("monthly_cap_usd", 0.0009));

        assertThat(chat("gpt-4o-mini").statusCode()).isEqualTo(200);
        assertThat(chat("gpt-4o-mini").statusCode()).isEqualTo(200);
        HttpResponse<String> refused = chat("gpt-4o-mini");

        assertThat(refused.statusCode()).isEqualTo(429);
        assertThat(refused.headers().firstValue("x-should-retry")).hasValue("false");
        assertThat(new JsonObject(refused.body()).getJsonObject("error").getString("code"))
            .isEqualTo("monthly_cap_exceeded");
        assertThat(upstream.requests()).hasSize(2);
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void anEmptyWalletIsRefusedEvenWhenTheEstimateRoundsToNothingButAFreeModelIsServed(String counters) {
        // 110 tokens at $0.000001 per 1M: far below one micro-USD.
        start(counters(counters), 0.0);

        HttpResponse<String> refused = chat("tiny");
        HttpResponse<String> free = chat("free");

        assertThat(refused.statusCode()).isEqualTo(429);
        assertThat(new JsonObject(refused.body()).getJsonObject("error").getString("code"))
            .isEqualTo("insufficient_quota");
        assertThat(free.statusCode()).as(free.body()).isEqualTo(200);
        assertThat(upstream.requests()).hasSize(1);
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void requestsRefusedForQuotaDoNotUseUpTheKeysTokensPerMinute(String counters) {
        // Each request takes about 110 tokens of TPM at admission (a short prompt and max_tokens 100).
        start(counters(counters), 0.0);
        newKey(new JsonObject().put("tpm", 250));

        assertThat(chat("gpt-4o-mini").statusCode()).isEqualTo(429);
        assertThat(chat("gpt-4o-mini").statusCode()).isEqualTo(429);
        gateway.adminOk("POST", "/admin/v1/accounts/" + accountId + "/credits", new JsonObject().put("amount_usd", 1));
        HttpResponse<String> paid = chat("gpt-4o-mini");

        assertThat(paid.statusCode()).as(paid.body()).isEqualTo(200);
    }

    @Test
    void aTokensPerMinuteRefusalSaysWhatIsLeftAndOneLargerThanTheWholeLimitIsNotToBeRetried() {
        // Given a key of 250 tokens a minute, and a request that takes about 110 of them at admission
        // and 16 once the provider's counts correct it
        start("none", 1.0);
        upstream.usage = FakeOpenAiUpstream.usage(11, 5, 0, 0);
        newKey(new JsonObject().put("tpm", 250));
        assertThat(chat("gpt-4o-mini").statusCode()).isEqualTo(200);

        // When a request needs more than is left of the minute (about 250: a short prompt, max_tokens 240)
        HttpResponse<String> later = chatWithMaxTokens(240);

        // Then it is refused until the window is over, and the headers say what is left: not nothing
        assertThat(later.statusCode()).isEqualTo(429);
        assertThat(later.headers().firstValue("Retry-After")).isPresent();
        assertThat(later.headers().firstValue("x-should-retry")).isEmpty();
        assertThat(Long.parseLong(later.headers().firstValue("x-ratelimit-remaining-tokens").orElseThrow()))
            .isBetween(1L, 249L);

        // When a request needs more than the whole limit (max_tokens 1000)
        HttpResponse<String> never = chatWithMaxTokens(1000);

        // Then it is refused as one no minute will admit: told when the window resets (every
        // rate_limit_exceeded has a Retry-After, PRODUCT §3), and not to be retried
        assertThat(never.statusCode()).isEqualTo(429);
        JsonObject error = new JsonObject(never.body()).getJsonObject("error");
        assertThat(error.getString("code")).isEqualTo("rate_limit_exceeded");
        assertThat(error.getString("message")).startsWith("Request too large for this API key").contains("250 tokens");
        assertThat(Long.parseLong(never.headers().firstValue("Retry-After").orElseThrow())).isBetween(1L, 60L);
        assertThat(never.headers().firstValue("x-should-retry")).hasValue("false");
        assertThat(upstream.requests()).hasSize(1);
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void aMonthlyCapOfZeroLetsTheKeySpendNothingAndACapMayBeGivenInMicroUsd(String counters) {
        start(counters(counters), 1.0);

        newKey(new JsonObject().put("monthly_cap_usd", 0));
        HttpResponse<String> refused = chat("gpt-4o-mini");
        JsonObject capped = gateway.newKey(new JsonObject().put("monthly_cap_micro_usd", 1_000));

        assertThat(refused.statusCode()).isEqualTo(429);
        assertThat(new JsonObject(refused.body()).getJsonObject("error").getString("code"))
            .isEqualTo("monthly_cap_exceeded");
        assertThat(upstream.requests()).isEmpty();
        assertThat(capped.getLong("monthly_cap_micro_usd")).isEqualTo(1_000);
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void readsStraightAfterEachRequestShowItsChargeItsRecordAndItsUsage(String counters) {
        start(counters(counters), 1.0);

        for (int i = 1; i <= 5; i++) {
            assertThat(chat("gpt-4o-mini").statusCode()).isEqualTo(200);

            JsonObject account = gateway.adminOk("GET", "/admin/v1/accounts/" + accountId, null);
            JsonObject logs = gateway.adminOk("GET", "/admin/v1/logs?account_id=" + accountId, null);
            JsonObject usage = gateway.adminOk("GET", "/admin/v1/usage?account_id=" + accountId + "&group_by=model", null);
            JsonObject own = new JsonObject(gateway.get("/v1/usage", key).body());

            assertThat(account.getLong("balance_micro_usd")).as("balance after %d requests", i)
                .isEqualTo(1_000_000 - i * COST);
            assertThat(logs.getJsonArray("data")).as("records after %d requests", i).hasSize(i);
            assertThat(usage.getJsonArray("data").getJsonObject(0).getLong("requests")).isEqualTo(i);
            assertThat(own.getJsonArray("data").getJsonObject(0).getLong("requests")).isEqualTo(i);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void hundredsOfConcurrentRequestsNeverOverdrawBeyondTheReservationsInFlight(String counters) throws Exception {
        // $0.01 buys 22 requests at 450 micro-USD; each reserves only ~62, so reservations alone let more in.
        start(counters(counters), 0.01);
        int parallel = 32;
        int total = 300;
        ExecutorService pool = Executors.newFixedThreadPool(parallel);
        List<Future<Integer>> statuses = new ArrayList<>();
        for (int i = 0; i < total; i++) {
            statuses.add(pool.submit(() -> chat("gpt-4o-mini").statusCode()));
        }
        int ok = 0;
        for (Future<Integer> status : statuses) {
            int code = status.get();
            assertThat(code).isIn(200, 429);
            ok += code == 200 ? 1 : 0;
        }
        pool.shutdown();
        awaitRecords(ok);

        long estimate = 62;
        assertThat(balance()).isEqualTo(10_000 - ok * COST);
        // Documented bound: the wallet goes below zero by at most what the requests in flight underestimated.
        assertThat(balance()).isGreaterThanOrEqualTo(-(long) parallel * (COST - estimate + 1));
        assertThat(ledgerSum()).isEqualTo(balance());
        assertThat(ok).isLessThan(total);
    }

    @ParameterizedTest
    @ValueSource(strings = {"redis"})
    void countersLostInRedisAreRebuiltFromPostgresWithNothingLost(String counters) throws IOException {
        start(counters(counters), 1.0);
        for (int i = 0; i < 5; i++) {
            assertThat(chat("gpt-4o-mini").statusCode()).isEqualTo(200);
        }
        awaitRecords(5);

        flushRedis();
        for (int i = 0; i < 5; i++) {
            assertThat(chat("gpt-4o-mini").statusCode()).isEqualTo(200);
        }
        awaitRecords(10);

        assertThat(balance()).isEqualTo(1_000_000 - 10 * COST);
        assertThat(ledgerSum()).isEqualTo(balance());
        // The rebuilt counters refuse exactly when PostgreSQL says the money is gone.
        gateway.adminOk("POST", "/admin/v1/accounts/" + accountId + "/credits",
            new JsonObject().put("amount_usd", -((1_000_000 - 10 * COST) / 1e6)).put("reason", "drain"));
        assertThat(chat("gpt-4o-mini").statusCode()).isEqualTo(429);
    }

    @Test
    void aKeysSpendNotInPostgresYetStillCountsTowardsItsCapWhenTheCountersAreRebuilt() throws IOException {
        // Given usage written to PostgreSQL once a minute, so that it waits in memory, and a key whose
        // monthly cap lets five requests through
        start(REDIS, 1.0, "accounting: { batch_size: 100, flush_ms: 60000 }");
        newKey(new JsonObject().put("monthly_cap_micro_usd", 5 * COST + 50));
        for (int i = 0; i < 5; i++) {
            assertThat(chat("gpt-4o-mini").statusCode()).isEqualTo(200);
        }
        assertThat(gateway.database().count("SELECT count(*) FROM usage_records")).isZero();

        // When Redis loses its counters, and they are rebuilt from PostgreSQL, which has none of that spend
        flushRedis();
        HttpResponse<String> sixth = chat("gpt-4o-mini");

        // Then the key's spend still counts what is on its way to PostgreSQL: the cap refuses the sixth
        assertThat(sixth.statusCode()).as(sixth.body()).isEqualTo(429);
        assertThat(new JsonObject(sixth.body()).getJsonObject("error").getString("code"))
            .isEqualTo("monthly_cap_exceeded");
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void deepSeeksCacheHitsAreChargedAtTheCachedPrice(boolean stream) {
        // Given a provider that counts its cache hits as DeepSeek does (prompt_cache_hit_tokens at the
        // top of usage, no prompt_tokens_details): 800 of the 1 000 prompt tokens
        start("none", 1.0);
        upstream.usage = new JsonObject().put("prompt_tokens", 1000).put("completion_tokens", 500)
            .put("total_tokens", 1500).put("prompt_cache_hit_tokens", 800).put("prompt_cache_miss_tokens", 200);

        // When a request is answered, whole or streamed
        String body = "{\"model\":\"cache-priced\",\"max_tokens\":100,\"stream\":" + stream
            + (stream ? ",\"stream_options\":{\"include_usage\":true}" : "")
            + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key, body);
        assertThat(response.statusCode()).isEqualTo(200);
        awaitRecords(1);
        // And the client sees them as OpenAI's cached_tokens too
        String usage = stream ? response.body().lines().filter(l -> l.contains("\"cost\"")).findFirst().orElseThrow()
            .substring("data: ".length()) : response.body();
        assertThat(new JsonObject(usage).getJsonObject("usage").getJsonObject("prompt_tokens_details")
            .getLong("cached_tokens")).isEqualTo(800);

        // Then the hits are cached tokens at the cached price: 200 x 0.15 + 800 x 0.015 + 500 x 0.60
        long cost = 200 * 150 / 1000 + 800 * 15 / 1000 + 500 * 600 / 1000;
        assertThat(gateway.database().count("SELECT cached_tokens FROM usage_records WHERE account_id = ?",
            accountId)).isEqualTo(800);
        assertThat(gateway.database().count("SELECT cost_micro_usd FROM usage_records WHERE account_id = ?",
            accountId)).isEqualTo(cost);
        assertThat(balance()).isEqualTo(1_000_000 - cost);
    }

    @Test
    void absurdCountsFromTheProviderAreBoundedAndTheRequestIsStillAnsweredAndRecorded() {
        start("none", 10_000.0);
        // A provider bug: counts no context window holds, whose price no long holds.
        long absurd = Long.MAX_VALUE / 2;
        upstream.usage = new JsonObject().put("prompt_tokens", absurd).put("completion_tokens", absurd)
            .put("total_tokens", Long.MAX_VALUE);

        HttpResponse<String> whole = chat("gpt-4o-mini");
        HttpResponse<String> streamed = gateway.post("/v1/chat/completions", key, "{\"model\":\"gpt-4o-mini\","
            + "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\","
            + "\"content\":\"hi\"}]}");

        // Each count is bounded to 2^31 - 1 tokens: at 0.15 and 0.60 USD per 1M, 1 610.612735 USD.
        assertThat(whole.statusCode()).isEqualTo(200);
        assertThat(new JsonObject(whole.body()).getJsonObject("usage").getValue("cost").toString())
            .isEqualTo("1610.612735");
        assertThat(streamed.statusCode()).isEqualTo(200);
        assertThat(streamed.body()).contains("\"cost\":1610.612735").endsWith("data: [DONE]\n\n");
        awaitRecords(2);
        assertThat(gateway.database().count("SELECT sum(cost_micro_usd) FROM usage_records WHERE account_id = ?"
            + " AND prompt_tokens = 2147483647", accountId)).isEqualTo(2 * 1_610_612_735L);
        assertThat(ledgerSum()).isEqualTo(balance());
    }

    private String counters(String kind) {
        return kind.equals("redis") ? REDIS : "none";
    }

    private HttpResponse<String> chat(String model) {
        return gateway.post("/v1/chat/completions", key,
            "{\"model\":\"" + model + "\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    }

    private HttpResponse<String> chatWithMaxTokens(int maxTokens) {
        return gateway.post("/v1/chat/completions", key, "{\"model\":\"gpt-4o-mini\",\"max_tokens\":" + maxTokens
            + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    }

    private HttpResponse<String> chatWithFallback(String model, String fallback) {
        return gateway.post("/v1/chat/completions", key, "{\"model\":\"" + model + "\",\"fallback_models\":[\""
            + fallback + "\"],\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    }

    private JsonObject plan(long tokens, OffsetDateTime until, String model) {
        JsonObject body = new JsonObject().put("tokens", tokens).put("valid_until", until.toString());
        if (until.isBefore(OffsetDateTime.now())) {
            body.put("valid_from", until.minusDays(2).toString());
            HttpResponse<String> response = gateway.admin("POST", "/admin/v1/accounts/" + accountId + "/plans", body);
            assertThat(response.statusCode()).isEqualTo(201);
            return null;
        }
        if (model != null) {
            body.put("models", new io.vertx.core.json.JsonArray().add(model));
        }
        return gateway.adminOk("POST", "/admin/v1/accounts/" + accountId + "/plans", body);
    }

    private long planRemaining(JsonObject plan) {
        return gateway.database().count("SELECT tokens_remaining FROM token_plans WHERE id = ?", plan.getString("id"));
    }

    private long balance() {
        return gateway.database().count("SELECT balance_micro_usd FROM accounts WHERE id = ?", accountId);
    }

    private long ledgerSum() {
        return gateway.database().count("SELECT coalesce(sum(amount_micro_usd), 0) FROM ledger WHERE account_id = ?",
            accountId);
    }

    private void awaitRecords(long n) {
        TestGateway.eventually(() -> gateway.database().count(
            "SELECT count(*) FROM usage_records WHERE account_id = ?", accountId) >= n, 10_000, n + " usage records");
    }

    private long serverRequests() {
        HttpResponse<String> metrics = gateway.send(java.net.http.HttpRequest.newBuilder(
            java.net.URI.create(gateway.managementUrl("/metrics"))).GET());
        return metrics.body().lines().filter(l -> l.startsWith("vertx_http_server_requests_total{")
                && l.contains("code=\"429\""))
            .mapToLong(l -> (long) Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }

    private static void flushRedis() throws IOException {
        java.net.URI uri = java.net.URI.create(REDIS);
        try (Socket socket = new Socket(uri.getHost(), uri.getPort() < 0 ? 6379 : uri.getPort())) {
            OutputStream out = socket.getOutputStream();
            out.write("*1\r\n$8\r\nFLUSHALL\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            byte[] reply = new byte[5];
            assertThat(in.readNBytes(reply, 0, 5)).isEqualTo(5);
            assertThat(new String(reply, StandardCharsets.US_ASCII)).isEqualTo("+OK\r\n");
        }
    }
}
