package io.tokenhub.billing;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.math.BigDecimal;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The money a customer and a finance person would check (PRODUCT §4, §9), end to end: what each kind
 * of token costs and that every place shows the same amount, fallbacks at the serving model's price,
 * plans, the monthly cap at its edges, no overdraw under concurrency, and credits exact or refused.
 */
class ChargesIT {

    static final String REDIS = System.getenv().getOrDefault("TOKENHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379");

    Vertx vertx;
    FakeOpenAiUpstream upstream;
    FakeOpenAiUpstream broken;
    TestGateway gateway;
    String accountId;
    String key;
    String keyId;

    void start(String counters, double signupUsd) {
        vertx = Vertx.vertx();
        upstream = new FakeOpenAiUpstream(vertx, "up").start();
        broken = new FakeOpenAiUpstream(vertx, "broken").start();
        broken.fault = FakeOpenAiUpstream.Fault.STATUS;
        gateway = TestGateway.start("""
            providers:
              - { id: openai, type: openai, base_url: "%s" }
              - { id: broken, type: openai, base_url: "%s" }
            models:
              - id: full
                context_window: 100000
                max_output_tokens: 4000
                default_max_tokens: 100
                pricing: { input: 0.15, cached_input: 0.075, cache_write: 0.30, output: 0.60 }
                deployments: [ { provider: openai, model: full } ]
              - id: out-only
                context_window: 100000
                max_output_tokens: 4000
                default_max_tokens: 100
                pricing: { input: 0, output: 1 }
                deployments: [ { provider: openai, model: out-only } ]
              - id: pricey-broken
                pricing: { input: 10, output: 10 }
                deployments: [ { provider: broken, model: pricey-broken } ]
              - id: cheap-broken
                pricing: { input: 0.01, output: 0.01 }
                deployments: [ { provider: broken, model: cheap-broken } ]
              - id: embed
                type: embedding
                pricing: { input: 100 }
                deployments: [ { provider: openai, model: embed } ]
              - id: rerank
                type: rerank
                pricing: { per_search: 0.002 }
                deployments: [ { provider: openai, model: rerank } ]
            """.formatted(upstream.baseUrl(), broken.baseUrl()),
            "billing: { signup_credit_usd: " + signupUsd + " }\n", counters.equals("redis") ? REDIS : "none");
        newKey(new JsonObject());
    }

    void newKey(JsonObject fields) {
        JsonObject created = gateway.newKey(fields);
        key = created.getString("key");
        keyId = created.getString("id");
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

    // ------------------------------------------------------------------ cost of one request, end to end

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void everyTokenKindIsPricedOnceAndUsageCostRecordAndBalanceAgree(String counters) {
        start(counters, 1.0);
        // 1000 prompt of which 300 cache reads and 200 cache writes; 500 completion of which 200 reasoning.
        JsonObject usage = FakeOpenAiUpstream.usage(1000, 500, 300, 200);
        usage.getJsonObject("prompt_tokens_details").put("cache_write_tokens", 200);
        upstream.usage = usage;
        // 500 x 0.15 + 300 x 0.075 + 200 x 0.30 + 500 x 0.60 = 75 + 22.5 + 60 + 300 = 457.5 -> 458 micro-USD
        long cost = 458;

        HttpResponse<String> whole = chat("full", false, 100);
        HttpResponse<String> streamed = chat("full", true, 100);

        assertThat(whole.statusCode()).as(whole.body()).isEqualTo(200);
        assertThat(new BigDecimal(new JsonObject(whole.body()).getJsonObject("usage").getValue("cost").toString()))
            .isEqualByComparingTo("0.000458");
        List<JsonObject> chunks = TestGateway.sseChunks(streamed);
        JsonObject last = chunks.get(chunks.size() - 1);
        assertThat(new BigDecimal(last.getJsonObject("usage").getValue("cost").toString()))
            .isEqualByComparingTo("0.000458");
        awaitRecords(2);
        assertThat(gateway.database().count("SELECT sum(cost_micro_usd) FROM usage_records WHERE account_id = ?",
            accountId)).isEqualTo(2 * cost);
        assertThat(balance()).isEqualTo(1_000_000 - 2 * cost);
        assertThat(ledgerSum()).isEqualTo(balance());
        JsonObject report = gateway.adminOk("GET", "/admin/v1/usage?group_by=model&account_id=" + accountId, null);
        assertThat(report.getJsonArray("data").getJsonObject(0).getLong("cost_micro_usd")).isEqualTo(2 * cost);
        JsonObject own = new JsonObject(gateway.get("/v1/usage", key).body());
        assertThat(own.getJsonArray("data").getJsonObject(0).getLong("cost_micro_usd")).isEqualTo(2 * cost);
        JsonObject legacy = new JsonObject(gateway.get("/v1/dashboard/billing/usage", key).body());
        assertThat(new BigDecimal(legacy.getValue("total_usage").toString())).isEqualByComparingTo("0.0916");
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void aProvidersOwnCostFieldIsReplacedByWhatTokenHubCharges(boolean stream) {
        start("none", 1.0);
        // OpenRouter puts its own price in usage.cost; the client must see what TokenHub charged.
        upstream.usage = FakeOpenAiUpstream.usage(1000, 500, 0, 0).put("cost", 0.5);

        HttpResponse<String> response = chat("full", stream, 100);

        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        JsonObject usage;
        if (stream) {
            List<JsonObject> chunks = TestGateway.sseChunks(response);
            usage = chunks.get(chunks.size() - 1).getJsonObject("usage");
            assertThat(response.body().split("\"cost\"", -1)).as(response.body()).hasSize(2);
        } else {
            usage = new JsonObject(response.body()).getJsonObject("usage");
            assertThat(response.body().split("\"cost\"", -1)).as(response.body()).hasSize(2);
        }
        assertThat(new BigDecimal(usage.getValue("cost").toString())).isEqualByComparingTo("0.00045");
    }

    // ------------------------------------------------------------------ fallback price

    @ParameterizedTest
    @ValueSource(strings = {"pricey-broken", "cheap-broken"})
    void aFallbackIsChargedAtTheServingModelsPriceWholeAndStreamed(String requested) {
        start("none", 1.0);
        upstream.usage = FakeOpenAiUpstream.usage(1000, 500, 0, 0);

        HttpResponse<String> whole = gateway.post("/v1/chat/completions", key, body(requested, false, 100)
            .put("fallback_models", new JsonArray().add("full")).encode());
        HttpResponse<String> streamed = gateway.post("/v1/chat/completions", key, body(requested, true, 100)
            .put("fallback_models", new JsonArray().add("full")).encode());

        assertThat(whole.statusCode()).as(whole.body()).isEqualTo(200);
        assertThat(new BigDecimal(new JsonObject(whole.body()).getJsonObject("usage").getValue("cost").toString()))
            .isEqualByComparingTo("0.00045");
        List<JsonObject> chunks = TestGateway.sseChunks(streamed);
        assertThat(new BigDecimal(chunks.get(chunks.size() - 1).getJsonObject("usage").getValue("cost").toString()))
            .isEqualByComparingTo("0.00045");
        awaitRecords(2);
        assertThat(balance()).isEqualTo(1_000_000 - 900);
        assertThat(gateway.database().query("SELECT served_model, cost_micro_usd, fallback FROM usage_records "
            + "WHERE account_id = ?", accountId)).allSatisfy(row -> {
                assertThat(row.get("served_model")).isEqualTo("full");
                assertThat(row.get("cost_micro_usd")).isEqualTo(450L);
                assertThat(row.get("fallback")).isEqualTo(true);
            });
    }

    // ------------------------------------------------------------------ plans

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void aPlanNotYetValidPaysNothingAndTheWalletPays(String counters) {
        start(counters, 1.0);
        upstream.usage = FakeOpenAiUpstream.usage(1000, 500, 0, 0);
        OffsetDateTime now = OffsetDateTime.now(ZoneOffset.UTC);
        JsonObject future = gateway.adminOk("POST", "/admin/v1/accounts/" + accountId + "/plans", new JsonObject()
            .put("tokens", 100_000).put("valid_from", now.plusDays(1).toString())
            .put("valid_until", now.plusDays(30).toString()));

        assertThat(chat("full", false, 100).statusCode()).isEqualTo(200);
        awaitRecords(1);

        assertThat(planRemaining(future.getString("id"))).isEqualTo(100_000);
        assertThat(balance()).isEqualTo(1_000_000 - 450);
        // The account shows active plans only
        JsonObject account = gateway.adminOk("GET", "/admin/v1/accounts/" + accountId, null);
        assertThat(account.getJsonArray("plans")).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void embeddingsAndRerankDrawFromAPlanForTheirModelAndNotFromTheWallet(String counters) {
        start(counters, 0.0);
        OffsetDateTime until = OffsetDateTime.now(ZoneOffset.UTC).plusDays(1);
        JsonObject embedPlan = gateway.adminOk("POST", "/admin/v1/accounts/" + accountId + "/plans", new JsonObject()
            .put("tokens", 1000).put("valid_until", until.toString()).put("models", new JsonArray().add("embed")));
        upstream.usage = FakeOpenAiUpstream.usage(40, 0, 0, 0);

        HttpResponse<String> embedded = gateway.post("/v1/embeddings", key,
            new JsonObject().put("model", "embed").put("input", "some words to embed").encode());

        assertThat(embedded.statusCode()).as(embedded.body()).isEqualTo(200);
        // 40 tokens at 100 USD per 1M = 4000 micro-USD, paid by the plan
        assertThat(new BigDecimal(new JsonObject(embedded.body()).getJsonObject("usage").getValue("cost").toString()))
            .isEqualByComparingTo("0.004");
        awaitRecords(1);
        assertThat(planRemaining(embedPlan.getString("id"))).isEqualTo(960);
        assertThat(balance()).isZero();
        assertThat(ledgerSum()).isEqualTo(balance());

        // A rerank with no plan for its model and an empty wallet is refused
        HttpResponse<String> refused = gateway.post("/v1/rerank", key, new JsonObject().put("model", "rerank")
            .put("query", "q").put("documents", new JsonArray().add("a").add("b")).encode());
        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(429);

        // With money: one search at $0.002
        gateway.adminOk("POST", "/admin/v1/accounts/" + accountId + "/credits", new JsonObject().put("amount_usd", 0.01));
        HttpResponse<String> reranked = gateway.post("/v1/rerank", key, new JsonObject().put("model", "rerank")
            .put("query", "q").put("documents", new JsonArray().add("a").add("b")).encode());
        assertThat(reranked.statusCode()).as(reranked.body()).isEqualTo(200);
        assertThat(new BigDecimal(new JsonObject(reranked.body()).getJsonObject("usage").getValue("cost").toString()))
            .isEqualByComparingTo("0.002");
        awaitRecords(2);
        assertThat(balance()).isEqualTo(10_000 - 2_000);
        assertThat(ledgerSum()).isEqualTo(balance());
    }

    // ------------------------------------------------------------------ monthly cap

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void aRequestWhoseEstimateReachesTheCapExactlyIsAdmittedAndOneMicroUsdMoreIsNot(String counters) {
        start(counters, 1.0);
        // out-only: 1 micro-USD per output token, input free: the estimate is exactly max_tokens micro-USD
        newKey(new JsonObject().put("monthly_cap_micro_usd", 100));
        upstream.usage = FakeOpenAiUpstream.usage(5, 30, 0, 0);

        assertThat(chat("out-only", false, 100).statusCode()).isEqualTo(200);   // 0 + 100 = cap
        awaitRecords(1);
        HttpResponse<String> over = chat("out-only", false, 71);               // 30 + 71 > 100
        HttpResponse<String> exact = chat("out-only", false, 70);              // 30 + 70 = 100

        assertThat(over.statusCode()).as(over.body()).isEqualTo(429);
        assertThat(new JsonObject(over.body()).getJsonObject("error").getString("code")).isEqualTo("monthly_cap_exceeded");
        assertThat(exact.statusCode()).as(exact.body()).isEqualTo(200);
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void theCapCountsTheReservationsInFlight(String counters) throws Exception {
        start(counters, 1.0);
        newKey(new JsonObject().put("monthly_cap_micro_usd", 100));
        upstream.usage = FakeOpenAiUpstream.usage(5, 10, 0, 0);
        upstream.fault = FakeOpenAiUpstream.Fault.PAUSE;
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        CompletableFuture<HttpResponse<String>> first = http.sendAsync(HttpRequest.newBuilder(
                URI.create(gateway.url("/v1/chat/completions"))).header("Authorization", "Bearer " + key)
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body("out-only", true, 60).encode())).build(),
            HttpResponse.BodyHandlers.ofString());
        TestGateway.eventually(() -> upstream.requests().size() == 1, 10_000, "the first request upstream");

        HttpResponse<String> over = chat("out-only", false, 41);   // 60 in flight + 41 > 100
        HttpResponse<String> fits = chat("out-only", false, 40);   // 60 in flight + 40 = 100

        upstream.resume();
        assertThat(first.get(30, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
        assertThat(over.statusCode()).as(over.body()).isEqualTo(429);
        assertThat(new JsonObject(over.body()).getJsonObject("error").getString("code")).isEqualTo("monthly_cap_exceeded");
        assertThat(fits.statusCode()).as(fits.body()).isEqualTo(200);
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void theCapCountsThisUtcMonthFromItsFirstMicrosecondAndNotLastMonth(String counters) {
        start(counters, 1.0);
        // Given a key whose spend last month was large, to its last microsecond
        newKey(new JsonObject().put("monthly_cap_micro_usd", 100));
        insertRecord("date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 microsecond'",
            1_000_000);
        // Then it may spend its whole cap this month
        HttpResponse<String> newMonth = chat("out-only", false, 100);
        assertThat(newMonth.statusCode()).as(newMonth.body()).isEqualTo(200);

        // And given a key that spent 1 micro-USD at the first microsecond of this month
        newKey(new JsonObject().put("monthly_cap_micro_usd", 100));
        insertRecord("date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'", 1);
        HttpResponse<String> capped = chat("out-only", false, 100);
        assertThat(capped.statusCode()).as(capped.body()).isEqualTo(429);
        assertThat(chat("out-only", false, 99).statusCode()).isEqualTo(200);
    }

    /**
     * Each request costs exactly what it reserves (1 micro-USD per output token, the upstream using
     * every one of max_tokens): then "never overdraw by more than the reservations in flight" means
     * never overdraw at all, and a key never spends past its cap.
     */
    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void withExactEstimatesConcurrentRequestsNeverPassTheWalletOrTheCap(String counters) throws Exception {
        start(counters, 0.01);                     // 10 000 micro-USD: exactly 100 requests
        upstream.usage = FakeOpenAiUpstream.usage(5, 100, 0, 0);
        String walletKey = key;
        String walletAccount = accountId;
        newKey(new JsonObject().put("monthly_cap_micro_usd", 5_000));   // 50 requests
        gateway.adminOk("POST", "/admin/v1/accounts/" + accountId + "/credits", new JsonObject().put("amount_usd", 1));
        String cappedKey = key;
        String cappedKeyId = keyId;

        int walletOk = hammer(walletKey, 300);
        int cappedOk = hammer(cappedKey, 300);

        TestGateway.eventually(() -> gateway.database().count("SELECT count(*) FROM usage_records WHERE status = 200")
            >= walletOk + cappedOk, 10_000, "records");
        long walletBalance = gateway.database().count("SELECT balance_micro_usd FROM accounts WHERE id = ?", walletAccount);
        long capSpend = gateway.database().count("SELECT coalesce(sum(cost_micro_usd), 0) FROM usage_records "
            + "WHERE key_id = ?", cappedKeyId);
        assertThat(walletBalance).as("wallet after %s requests", walletOk).isGreaterThanOrEqualTo(0);
        assertThat(walletOk).isEqualTo(100);
        assertThat(capSpend).as("key spend after %s requests", cappedOk).isLessThanOrEqualTo(5_000);
        assertThat(cappedOk).isEqualTo(50);
    }

    /**
     * A busy key (its node holds a share of the account in Redis) whose account an admin then drains
     * to nothing: no request after the credit call answered may be served, and the usage ledger rows
     * add up to the records' wallet payments.
     */
    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void aDrainedAccountServesNothingMoreEvenForABusyKeyAndTheLedgerMatchesTheRecords(String counters)
        throws Exception {
        start(counters, 1.0);
        upstream.usage = FakeOpenAiUpstream.usage(5, 100, 0, 0);
        int served = hammer(key, 100);
        assertThat(served).isEqualTo(100);
        TestGateway.eventually(() -> gateway.database().count("SELECT count(*) FROM usage_records WHERE account_id = ?",
            accountId) >= 100, 10_000, "records");

        JsonObject drained = gateway.adminOk("POST", "/admin/v1/accounts/" + accountId + "/credits",
            new JsonObject().put("amount_micro_usd", -balance()).put("reason", "drain"));
        assertThat(drained.getLong("balance_micro_usd")).isZero();

        int after = hammer(key, 64);
        assertThat(after).as("requests served after the account was drained").isZero();
        assertThat(balance()).isZero();
        long walletPaid = gateway.database().count("SELECT coalesce(sum(wallet_micro_usd), 0) FROM usage_records "
            + "WHERE account_id = ?", accountId);
        long ledgerUsage = gateway.database().count("SELECT coalesce(sum(amount_micro_usd), 0) FROM ledger "
            + "WHERE account_id = ? AND kind = 'usage'", accountId);
        assertThat(ledgerUsage).isEqualTo(-walletPaid).isEqualTo(-10_000);
    }

    private int hammer(String apiKey, int total) throws Exception {
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(32);
        List<java.util.concurrent.Future<Integer>> statuses = new java.util.ArrayList<>();
        for (int i = 0; i < total; i++) {
            statuses.add(pool.submit(() -> gateway.post("/v1/chat/completions", apiKey,
                body("out-only", false, 100).encode()).statusCode()));
        }
        int ok = 0;
        for (var status : statuses) {
            int code = status.get();
            assertThat(code).isIn(200, 429);
            ok += code == 200 ? 1 : 0;
        }
        pool.shutdown();
        return ok;
    }

    // ------------------------------------------------------------------ credits

    @ParameterizedTest
    @ValueSource(strings = {"none", "redis"})
    void aNegativeAdjustmentMayTakeTheBalanceBelowZeroAndThenRequestsAreRefused(String counters) {
        start(counters, 1.0);
        upstream.usage = FakeOpenAiUpstream.usage(1000, 500, 0, 0);
        assertThat(chat("full", false, 100).statusCode()).isEqualTo(200);
        awaitRecords(1);

        JsonObject after = gateway.adminOk("POST", "/admin/v1/accounts/" + accountId + "/credits",
            new JsonObject().put("amount_usd", -2.5).put("reason", "charge-back"));

        assertThat(after.getLong("balance_micro_usd")).isEqualTo(1_000_000 - 450 - 2_500_000);
        assertThat(ledgerSum()).isEqualTo(balance());
        HttpResponse<String> refused = chat("full", false, 100);
        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(429);
        assertThat(new JsonObject(refused.body()).getJsonObject("error").getString("code")).isEqualTo("insufficient_quota");
        // Back above zero by a micro-USD less than needed: still refused; with enough: served
        gateway.adminOk("POST", "/admin/v1/accounts/" + accountId + "/credits",
            new JsonObject().put("amount_micro_usd", 1_500_450L));
        assertThat(balance()).isZero();
        assertThat(chat("full", false, 100).statusCode()).isEqualTo(429);
        gateway.adminOk("POST", "/admin/v1/accounts/" + accountId + "/credits",
            new JsonObject().put("amount_usd", 0.000123));
        assertThat(balance()).isEqualTo(123);
        assertThat(chat("out-only", false, 100).statusCode()).isEqualTo(200);
        awaitRecords(2);
        assertThat(ledgerSum()).isEqualTo(balance());
    }

    @Test
    void creditAmountsAreExactOrRefusedNeverRounded() {
        start("none", 0.0);
        String path = "/admin/v1/accounts/" + accountId + "/credits";

        assertThat(rawAdmin(path, "{\"amount_usd\": 0.0000001}").statusCode()).isEqualTo(400);
        assertThat(rawAdmin(path, "{\"amount_usd\": 12.3456789}").statusCode()).isEqualTo(400);
        assertThat(rawAdmin(path, "{\"amount_micro_usd\": 1.5}").statusCode()).isEqualTo(400);
        assertThat(rawAdmin(path, "{\"amount_usd\": \"5\"}").statusCode()).isEqualTo(400);
        assertThat(rawAdmin(path, "{\"amount_usd\": 1000000000.000001}").statusCode()).isEqualTo(400);
        assertThat(rawAdmin(path, "{\"amount_usd\": 1e300}").statusCode()).isEqualTo(400);
        assertThat(balance()).isZero();
        assertThat(rawAdmin(path, "{\"amount_usd\": 1000000000}").statusCode()).isEqualTo(200);
        assertThat(rawAdmin(path, "{\"amount_usd\": 0.1234560}").statusCode()).isEqualTo(200);
        assertThat(balance()).isEqualTo(1_000_000_000L * 1_000_000 + 123_456);
        // Seventeen significant digits: a finer amount than a micro-USD, to be refused (README), not rounded
        HttpResponse<String> fine = rawAdmin(path, "{\"amount_usd\": 1.0000000000000001}");
        assertThat(fine.statusCode()).as("a 1.0000000000000001 USD credit: %s", fine.body()).isEqualTo(400);
    }

    @Test
    void aMonthlyCapFinerThanAMicroUsdIsRefusedNotRounded() {
        start("none", 0.0);
        HttpResponse<String> created = gateway.send(HttpRequest.newBuilder(URI.create(gateway.url("/admin/v1/keys")))
            .header("Authorization", "Bearer " + TestGateway.MASTER_KEY).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString("{\"account_id\": \"" + accountId
                + "\", \"monthly_cap_usd\": 0.10000000000000001}")));
        assertThat(created.statusCode()).as("a cap of 0.10000000000000001 USD: %s", created.body()).isEqualTo(400);
    }

    // ------------------------------------------------------------------ helpers

    private void insertRecord(String createdAtSql, long cost) {
        gateway.database().query("INSERT INTO usage_records (request_id, created_at, account_id, key_id, requested_model,"
            + " served_model, status, cost_micro_usd) VALUES (?, " + createdAtSql + ", ?, ?, 'out-only', 'out-only', 200, ?)"
            + " RETURNING request_id", "audit-" + System.nanoTime(), accountId, keyId, cost);
    }

    private HttpResponse<String> rawAdmin(String path, String body) {
        return gateway.send(HttpRequest.newBuilder(URI.create(gateway.url(path)))
            .header("Authorization", "Bearer " + TestGateway.MASTER_KEY).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    private static JsonObject body(String model, boolean stream, int maxTokens) {
        JsonObject body = new JsonObject().put("model", model).put("max_tokens", maxTokens)
            .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "hi")));
        if (stream) {
            body.put("stream", true).put("stream_options", new JsonObject().put("include_usage", true));
        }
        return body;
    }

    private HttpResponse<String> chat(String model, boolean stream, int maxTokens) {
        return gateway.post("/v1/chat/completions", key, body(model, stream, maxTokens).encode());
    }

    private long planRemaining(String planId) {
        return gateway.database().count("SELECT tokens_remaining FROM token_plans WHERE id = ?", planId);
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
}
