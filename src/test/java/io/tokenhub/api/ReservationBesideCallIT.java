package io.tokenhub.api;

import static io.tokenhub.testing.OpenAiErrorAssert.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeOpenAiUpstream.Fault;
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
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * With the hot counters in Redis, a request of an account with money to spare (as this node last
 * heard, within the second) calls its upstream while its reservation is on its way, and its answer
 * waits for both. Redis is reached through a network the test can silence, to hold a reservation
 * on its way for as long as it needs.
 */
class ReservationBesideCallIT {

    private static final long WAIT_MS = 20_000;
    private static final String SMALL = """
        {"model": "gpt-4o-mini", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}""";
    private static final String SMALL_STREAM = """
        {"model": "gpt-4o-mini", "max_tokens": 100, "stream": true, "messages": [{"role": "user", "content": "hi"}]}""";
    private static final String EMBEDDING = """
        {"model": "embedder", "input": "hi"}""";

    final RedisCommands redis = RedisCommands.local();
    Vertx vertx;
    FakeOpenAiUpstream upstream;
    TcpProxy network;
    TestGateway gateway;
    String key;
    String accountId;

    @BeforeEach
    void start() {
        vertx = Vertx.vertx();
        upstream = new FakeOpenAiUpstream(vertx, "gpt-4o-mini").start();
        network = new TcpProxy(redis.host(), redis.port());
        gateway = TestGateway.start(upstream.miniCatalog() + """
              - id: embedder
                type: embedding
                pricing: { input: 0.02 }
                deployments: [ { provider: openai, model: text-embedding-3-small } ]
            """, "", "redis://127.0.0.1:" + network.port());
        JsonObject created = gateway.newKey(new JsonObject());
        key = created.getString("key");
        accountId = created.getString("account_id");
    }

    @AfterEach
    void stop() {
        gateway.close();
        network.close();
        upstream.stop();
        vertx.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"whole", "stream", "embedding"})
    void aCallStartsBesideItsReservationAndIsAnsweredOnceTheReservationIsMade(String kind) throws Exception {
        // Given an account with $100 (the test gateway's signup credit) whose first request this node
        // has seen reserved (62 micro-USD) and settled
        assertThat(gateway.post("/v1/chat/completions", key, SMALL).statusCode()).isEqualTo(200);
        TestGateway.eventually(() -> redis.reservationsHeld(accountId) == 0, WAIT_MS, "the first one settled");

        // When its next request's reservation is held up on its way to Redis
        network.partition();
        CompletableFuture<HttpResponse<String>> answered = CompletableFuture.supplyAsync(() -> post(kind));

        // Then its upstream call is made meanwhile, and its answer waits for the reservation
        TestGateway.eventually(() -> upstream.requests().size() == 2, WAIT_MS, "the second request at the upstream");
        assertThat(answered).isNotDone();
        assertThat(redis.reservationsHeld(accountId)).isZero();
        network.heal();
        HttpResponse<String> response = answered.get(WAIT_MS, TimeUnit.MILLISECONDS);
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        if (kind.equals("stream")) {
            assertThat(response.body()).contains("Hello").endsWith("data: [DONE]\n\n");
        }
        // And it is recorded once, its reservation released
        String requestId = response.headers().firstValue("X-Request-Id").orElseThrow();
        TestGateway.eventually(() -> gateway.database().count(
            "SELECT count(*) FROM usage_records WHERE request_id = ? AND status = 200",
            requestId) == 1, WAIT_MS, "its usage record");
        TestGateway.eventually(() -> redis.reservationsHeld(accountId) == 0, WAIT_MS, "no reservation left in Redis");
        assertThat(upstream.requests()).hasSize(2);
        // And the metrics count it
        assertThat(besideCall("made")).isEqualTo(1.0);
        assertThat(besideCall("refused")).isZero();
    }

    @ParameterizedTest
    @ValueSource(strings = {"whole", "stream", "embedding"})
    void aRequestItsReservationRefusesIsRefusedAndItsCallCancelled(String kind) {
        // Given an account whose first request this node has seen reserved with $100 left, and whose
        // wallet another node then empties
        assertThat(gateway.post("/v1/chat/completions", key, SMALL).statusCode()).isEqualTo(200);
        assertThat(redis.send("HSET", "th:q:{" + accountId + "}", "bal", "0")).isEqualTo(":0");

        // When its next request reaches an upstream that does not answer
        upstream.fault = Fault.HANG;
        HttpResponse<String> refused = post(kind);

        // Then the request gets the reservation's refusal, without waiting for the upstream
        assertOpenAiError(refused, 429, "insufficient_quota", "insufficient_quota", null);
        // And its upstream call, made beside the reservation, is cancelled
        assertThat(upstream.requests()).hasSize(2);
        upstream.awaitAbandoned(WAIT_MS);
        // And it holds nothing and has no record, as a request refused before its call
        assertThat(besideCall("refused")).isEqualTo(1.0);
        gateway.awaitUsageRecords(1);
        assertThat(redis.reservationsHeld(accountId)).isZero();
        assertThat(gateway.database().count("SELECT count(*) FROM usage_records WHERE account_id = ?", accountId))
            .isEqualTo(1);
    }

    @Test
    void aStreamThatStartedBesideAReservationThatRefusesIsCancelledAndNothingOfItRelayed() throws Exception {
        // Given an account whose first request this node has seen reserved and settled, and a
        // reservation held up on its way to Redis
        assertThat(gateway.post("/v1/chat/completions", key, SMALL).statusCode()).isEqualTo(200);
        TestGateway.eventually(() -> redis.reservationsHeld(accountId) == 0, WAIT_MS, "the first one settled");
        network.partition();

        // When a stream's upstream sends its first words and pauses, and the wallet is emptied meanwhile
        upstream.fault = Fault.PAUSE;
        upstream.faultAfter = 2;
        CompletableFuture<HttpResponse<String>> answered = CompletableFuture.supplyAsync(
            () -> gateway.post("/v1/chat/completions", key, SMALL_STREAM));
        TestGateway.eventually(() -> upstream.requests().size() == 2, WAIT_MS, "the stream at the upstream");
        assertThat(redis.send("HSET", "th:q:{" + accountId + "}", "bal", "0")).isEqualTo(":0");
        network.heal();

        // Then the client gets the reservation's refusal, not the stream's words
        assertOpenAiError(answered.get(WAIT_MS, TimeUnit.MILLISECONDS), 429, "insufficient_quota",
            "insufficient_quota", null);
        // And the upstream stream is cancelled, and the request holds nothing and has no record
        upstream.awaitAbandoned(WAIT_MS);
        assertThat(redis.reservationsHeld(accountId)).isZero();
        gateway.awaitUsageRecords(1);
        assertThat(gateway.database().count("SELECT count(*) FROM usage_records WHERE account_id = ?", accountId))
            .isEqualTo(1);
    }

    @Test
    void aClientThatLeavesWhileTheReservationIsOnItsWayIsRecordedOnce() {
        // Given an account whose first request this node has seen reserved, and a reservation held up
        assertThat(gateway.post("/v1/chat/completions", key, SMALL).statusCode()).isEqualTo(200);
        double gone = requestsWithStatus(499);
        network.partition();

        // When the client of a stream whose upstream has started leaves before the reservation is made
        upstream.chunkDelayMs = 60_000;
        try (CancellationIT.RawClient client = CancellationIT.RawClient.send(gateway.hub().apiPort(), key,
            SMALL_STREAM)) {
            TestGateway.eventually(() -> upstream.requests().size() == 2, WAIT_MS, "the request at the upstream");
        }
        upstream.awaitAbandoned(WAIT_MS);
        network.heal();

        // Then the request is recorded once, as the client's disconnect, and its reservation released
        gateway.awaitUsageRecords(2);
        TestGateway.eventually(() -> redis.reservationsHeld(accountId) == 0, WAIT_MS, "no reservation left in Redis");
        assertThat(gateway.database().count(
            "SELECT count(*) FROM usage_records WHERE account_id = ? AND status = 499 AND cost_micro_usd = 0",
            accountId)).isEqualTo(1);
        assertThat(gateway.database().count("SELECT count(*) FROM usage_records WHERE account_id = ?", accountId))
            .isEqualTo(2);
        // As a client's that left: its prompt counted (not charged), and counted once in the metrics too
        // (the primary key would drop a second record, not a second count)
        assertThat(gateway.database().count("SELECT count(*) FROM usage_records WHERE account_id = ? AND status = 499 "
            + "AND prompt_tokens > 0", accountId)).isEqualTo(1);
        assertThat(requestsWithStatus(499) - gone).isEqualTo(1.0);
    }

    /** The {@code tokenhub_requests_total} of one status, summed over models and providers. */
    private double requestsWithStatus(int status) {
        HttpResponse<String> metrics = gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/metrics"))));
        return metrics.body().lines()
            .filter(line -> line.startsWith("tokenhub_requests_total{") && line.contains("status=\"" + status + "\""))
            .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
            .sum();
    }

    @Test
    void moneyAnAdminTakesAwayIsNotSpentOnTheWordOfAnEarlierReservation() {
        // Given an account whose first request this node has seen reserved with $100 left
        assertThat(gateway.post("/v1/chat/completions", key, SMALL).statusCode()).isEqualTo(200);

        // When an admin takes the $100 away
        HttpResponse<String> taken = gateway.admin("POST", "/admin/v1/accounts/" + accountId + "/credits",
            new JsonObject().put("amount_usd", -100));
        assertThat(taken.statusCode()).as(taken.body()).isEqualTo(200);

        // Then its next request is refused before any upstream call
        assertOpenAiError(gateway.post("/v1/chat/completions", key, SMALL), 429, "insufficient_quota",
            "insufficient_quota", null);
        assertThat(upstream.requests()).hasSize(1);
    }

    @Test
    void aKeyThisNodeHasNoWordOfWaitsForItsReservationBeforeItsCall() {
        // Given a key with $100 that has made no request, and Redis silent
        network.partition();

        // When it sends its first request
        HttpResponse<String> refused = gateway.post("/v1/chat/completions", key, SMALL);

        // Then no upstream is called before its reservation, which Redis does not answer in time
        assertOpenAiError(refused, 503, "api_error", "service_unavailable", null);
        assertThat(upstream.requests()).isEmpty();
    }

    /** A small request of that kind: a chat completion answered whole or streamed, or an embedding. */
    private HttpResponse<String> post(String kind) {
        return switch (kind) {
            case "whole" -> gateway.post("/v1/chat/completions", key, SMALL);
            case "stream" -> gateway.post("/v1/chat/completions", key, SMALL_STREAM);
            default -> gateway.post("/v1/embeddings", key, EMBEDDING);
        };
    }

    /** {@code tokenhub_reservations_beside_call_total} with that outcome. */
    private double besideCall(String outcome) {
        String series = "tokenhub_reservations_beside_call_total{outcome=\"" + outcome + "\"}";
        return gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/metrics")))).body().lines()
            .filter(line -> line.startsWith(series))
            .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
            .findFirst().orElseThrow(() -> new AssertionError("no " + series + " in /metrics"));
    }
}
