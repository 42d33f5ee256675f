package io.tokenhub.api;

import static io.tokenhub.testing.OpenAiErrorAssert.assertOpenAiErrorShape;
import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Many concurrent connections from one key beyond its RPM: the refusals are 429s in the OpenAI
 * shape with Retry-After, only the admitted requests are recorded, and nothing stays reserved: the
 * account can afterwards reserve all but a little of its balance.
 */
class RateLimitBurstIT {

    static TestGateway gateway;

    @BeforeAll
    static void start() {
        gateway = TestGateway.start("""
            providers: [ { id: mock, type: mock } ]
            models:
              - id: mock-chat
                context_window: 200000
                max_output_tokens: 100000
                pricing: { input: 1000, output: 1000 }
                deployments: [ { provider: mock, model: mock-chat-1 } ]
            """, "");
    }

    @AfterAll
    static void stop() {
        gateway.close();
    }

    @Test
    void aBurstBeyondRpmIsRefusedCheaplyAndLeaksNothing() throws Exception {
        JsonObject limited = gateway.newKey(new JsonObject().put("rpm", 5));
        String accountId = limited.getString("account_id");
        int burst = 300;
        // One connection per request.
        List<CompletableFuture<HttpResponse<String>>> sent = new ArrayList<>();
        List<HttpClient> clients = new ArrayList<>();
        String body = "{\"model\":\"mock-chat\",\"max_tokens\":10,\"stream\":%s,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        for (int i = 0; i < burst; i++) {
            HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10)).build();
            clients.add(client);
            sent.add(client.sendAsync(HttpRequest.newBuilder(URI.create(gateway.url("/v1/chat/completions")))
                .timeout(Duration.ofSeconds(60)).header("Authorization", "Bearer " + limited.getString("key"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.formatted(i % 2 == 0))).build(),
                HttpResponse.BodyHandlers.ofString()));
        }
        Map<Integer, Integer> statuses = new TreeMap<>();
        List<String> odd = new ArrayList<>();
        for (CompletableFuture<HttpResponse<String>> f : sent) {
            HttpResponse<String> r = f.get(90, TimeUnit.SECONDS);
            statuses.merge(r.statusCode(), 1, Integer::sum);
            if (r.statusCode() == 429) {
                JsonObject error = assertOpenAiErrorShape(r.body());
                if (!"rate_limit_exceeded".equals(error.getString("code"))
                    || r.headers().firstValue("Retry-After").isEmpty()) {
                    odd.add(r.body() + " " + r.headers().map());
                }
            } else if (r.statusCode() != 200) {
                odd.add(r.statusCode() + " " + r.body());
            }
        }
        assertThat(odd).as("answers other than 200 or a proper 429").isEmpty();
        assertThat(statuses).containsEntry(200, 5).containsEntry(429, burst - 5);
        gateway.awaitUsageRecords(5);
        assertThat(gateway.database().count("SELECT count(*) FROM usage_records WHERE account_id = ?", accountId))
            .isEqualTo(5);
        // Nothing left reserved: another key of the account can reserve nearly all of its balance.
        long balance = gateway.adminOk("GET", "/admin/v1/accounts/" + accountId, null).getLong("balance_micro_usd");
        JsonObject other = gateway.adminOk("POST", "/admin/v1/keys", new JsonObject().put("account_id", accountId)
            .put("name", "other"));
        // 1000 micro-USD a token: max_tokens to hold all but ~20 000 micro-USD of the balance.
        long maxTokens = balance / 1000 - 20;
        HttpResponse<String> big = gateway.post("/v1/chat/completions", other.getString("key"),
            "{\"model\":\"mock-chat\",\"max_tokens\":" + maxTokens
                + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertThat(big.statusCode()).as("a request reserving all but a little of the balance %d: %s", balance,
            big.body()).isEqualTo(200);
        clients.clear();
    }
}
