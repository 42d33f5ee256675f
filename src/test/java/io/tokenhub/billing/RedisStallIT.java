package io.tokenhub.billing;

import static io.tokenhub.testing.OpenAiErrorAssert.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.RedisCommands;
import io.tokenhub.testing.TcpProxy;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Redis, holding the hot counters, stops answering with its connections open (a network that drops
 * everything). Requests are refused at once as a passing outage instead of waiting for as long as it
 * lasts; a request already answered still gets its usage record, paid from the wallet in
 * PostgreSQL; and once Redis answers again, so does the gateway.
 */
class RedisStallIT {

    private static final long WAIT_MS = 20_000;
    private static final String BODY = """
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}""";
    private static final String SMALL = """
        {"model": "gpt-4o-mini", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}""";

    Vertx vertx;
    FakeOpenAiUpstream upstream;
    TcpProxy network;
    TestGateway gateway;
    final RedisCommands redis = RedisCommands.local();
    String key;
    String accountId;

    void start(String extraYaml) {
        vertx = Vertx.vertx();
        upstream = new FakeOpenAiUpstream(vertx, "gpt-4o-mini").start();
        network = new TcpProxy(redis.host(), redis.port());
        gateway = TestGateway.start(upstream.miniCatalog(), extraYaml, "redis://127.0.0.1:" + network.port());
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
        network.close();
        upstream.stop();
        vertx.close();
    }

    @Test
    void aSilentRedisRefusesRequestsAtOnceAndLosesNoRecord() throws Exception {
        start("");
        assertThat(gateway.post("/v1/chat/completions", key, BODY).statusCode()).isEqualTo(200);

        // Given a request that reserved its estimate and waits on a slow upstream
        upstream.firstByteDelayMs = 1_000;
        CompletableFuture<HttpResponse<String>> answered = CompletableFuture.supplyAsync(
            () -> gateway.post("/v1/chat/completions", key, BODY));
        TestGateway.eventually(() -> upstream.requests().size() == 2, WAIT_MS, "the second request at the upstream");
        // (its call may start before its reservation is made, for an account with money to spare)
        TestGateway.eventually(() -> redis.reservationsHeld(accountId) == 1, WAIT_MS, "its reservation");

        // When Redis goes silent before that request settles
        network.partition();

        // Then it is answered, and its usage record is written all the same (paid from the wallet)
        HttpResponse<String> response = answered.get(WAIT_MS, TimeUnit.MILLISECONDS);
        assertThat(response.statusCode()).isEqualTo(200);
        String requestId = response.headers().firstValue("X-Request-Id").orElseThrow();
        TestGateway.eventually(() -> gateway.database().count(
            "SELECT count(*) FROM usage_records WHERE request_id = ?", requestId) == 1, WAIT_MS, "its usage record");
        // And a new request is refused as a passing outage, with a Retry-After, not held until Redis returns
        upstream.firstByteDelayMs = 0;
        HttpResponse<String> refused = gateway.post("/v1/chat/completions", key, BODY);
        assertOpenAiError(refused, 503, "api_error", "service_unavailable", null);
        assertThat(refused.headers().firstValue("Retry-After")).isPresent();
        assertThat(upstream.requests()).hasSize(2);

        // When Redis answers again, then so does the gateway
        network.heal();
        TestGateway.eventually(() -> gateway.post("/v1/chat/completions", key, BODY).statusCode() == 200, WAIT_MS,
            "a request answered again");
        // And the reservation Redis made late for the refused request is handed back, not held for 15 minutes
        TestGateway.eventually(() -> redis.reservationsHeld(accountId) == 0, WAIT_MS, "no reservation left in Redis");
    }

    @Test
    void aRequestPaidFromTheWalletWhileRedisWasSilentStillCountsWhenTheCountersAreRebuilt() throws Exception {
        // Given usage written to PostgreSQL once a minute, so that it waits in memory, and a key whose
        // monthly cap lets five requests of 1 000 prompt and 500 completion tokens through (450 micro-USD each)
        // (a request asking for 100 tokens reserves about 62)
        start("accounting: { batch_size: 100, flush_ms: 60000 }");
        upstream.usage = FakeOpenAiUpstream.usage(1000, 500, 0, 0);
        newKey(new JsonObject().put("monthly_cap_micro_usd", 5 * 450 + 50));
        for (int i = 0; i < 4; i++) {
            assertThat(gateway.post("/v1/chat/completions", key, SMALL).statusCode()).isEqualTo(200);
        }

        // When the fifth settles while Redis is silent (so it is paid from the wallet in PostgreSQL alone)
        upstream.firstByteDelayMs = 1_000;
        CompletableFuture<HttpResponse<String>> fifth = CompletableFuture.supplyAsync(
            () -> gateway.post("/v1/chat/completions", key, SMALL));
        TestGateway.eventually(() -> upstream.requests().size() == 5, WAIT_MS, "the fifth request at the upstream");
        TestGateway.eventually(() -> redis.reservationsHeld(accountId) == 1, WAIT_MS, "its reservation");
        network.partition();
        assertThat(fifth.get(WAIT_MS, TimeUnit.MILLISECONDS).statusCode()).isEqualTo(200);
        TestGateway.eventually(() -> usageQueueDepth() == 5, WAIT_MS, "the fifth's record, settled without Redis");
        // And Redis, once it answers again and has run what it held, loses its counters
        network.heal();
        TestGateway.eventually(() -> redis.reservationsHeld(accountId) == 0, WAIT_MS, "the held settlement run by Redis");
        redis.send("FLUSHALL");
        assertThat(gateway.database().count("SELECT count(*) FROM usage_records")).isZero();

        // Then the counters rebuilt from PostgreSQL count the fifth's spend too: the cap refuses a sixth
        upstream.firstByteDelayMs = 0;
        HttpResponse<String> sixth = gateway.post("/v1/chat/completions", key, SMALL);
        assertOpenAiError(sixth, 429, "insufficient_quota", "monthly_cap_exceeded", null);
        assertThat(upstream.requests()).hasSize(5);
    }

    @Test
    void aCreditAddedWhileRedisIsSilentCountsOnceRedisAnswersAgain() throws Exception {
        // Given an account with no money, whose counters Redis holds
        start("billing: { signup_credit_usd: 0 }");
        assertOpenAiError(gateway.post("/v1/chat/completions", key, SMALL), 429, "insufficient_quota",
            "insufficient_quota", null);

        // When an admin adds a dollar while Redis is silent, and the connection that held the
        // counters' update is lost
        network.partition();
        HttpResponse<String> credited = gateway.admin("POST", "/admin/v1/accounts/" + accountId + "/credits",
            new JsonObject().put("amount_usd", 1));
        assertThat(credited.statusCode()).as(credited.body()).isEqualTo(200);
        network.dropConnections();
        network.heal();

        // Then the dollar reaches the counters all the same, and once: requests are admitted on it
        TestGateway.eventually(() -> gateway.post("/v1/chat/completions", key, SMALL).statusCode() == 200, WAIT_MS,
            "a request paid from the credit");
        // (what the counters hold and what the admitted requests cost add up to the dollar, not two)
        TestGateway.eventually(() -> Long.parseLong(redis.bulk("HGET", "th:q:{" + accountId + "}", "bal"))
            + gateway.database().count("SELECT coalesce(sum(cost_micro_usd), 0) FROM usage_records WHERE account_id = ?",
                accountId) == 1_000_000, WAIT_MS, "the counters holding the dollar once, less what was spent");
    }

    private double usageQueueDepth() {
        return gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/metrics")))).body().lines()
            .filter(line -> line.startsWith("tokenhub_usage_queue_depth"))
            .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
            .findFirst().orElseThrow(() -> new AssertionError("no tokenhub_usage_queue_depth in /metrics"));
    }
}
