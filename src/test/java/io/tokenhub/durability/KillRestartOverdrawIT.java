package io.tokenhub.durability;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.GatewayProcess;
import io.tokenhub.testing.TestDatabase;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A one-node gateway with in-process counters ({@code redis: none}, the embedded way to run it) is
 * killed with SIGKILL while its answered requests' records are in the journal only, then started
 * again on the same data directory. PRODUCT §4: concurrent requests can never overdraw by more than
 * the reservations in flight; here requests are sent one at a time, so the wallet may never go
 * below zero by more than one request's estimate.
 */
class KillRestartOverdrawIT {

    private static final String CATALOG = """
        providers: [ { id: mock, type: mock } ]
        models: [ { id: mock-chat, pricing: { input: 1000, output: 1000 }, deployments: [ { provider: mock, model: mock-chat-1 } ] } ]
        """;
    private static final String CHAT = """
        {"model": "mock-chat", "max_tokens": 10, "messages": [{"role": "user", "content": "Hello %d"}]}""";

    @TempDir
    Path dir;

    @org.junit.jupiter.params.ParameterizedTest(name = "paid from {0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"wallet", "plan"})
    void countersLoadedAfterAKillDoNotLetTheWalletBeSpentTwice(String paidFrom) throws Exception {
        boolean plan = paidFrom.equals("plan");
        try (TestDatabase db = TestDatabase.create()) {
            Path data = dir.resolve("data");
            Path config = dir.resolve("tokenhub.yaml");
            Files.writeString(config, """
                server: { port: 0, management_port: 0, instances: 1, shutdown_grace_ms: 5000 }
                admin: { master_key: "%s", bootstrap: false }
                storage: { postgres: "%s", redis: none, data_dir: "%s", pool_size: 4 }
                accounting: { flush_ms: 60000, batch_size: 10000 }
                billing: { signup_credit_usd: %s }
                %s
                """.formatted(TestGateway.MASTER_KEY, db.url(), data, plan ? "0" : "1.00", CATALOG));

            // Given a node whose account spent its whole wallet, its records in the journal only
            GatewayProcess first = GatewayProcess.start(config, data);
            String accountId;
            String key;
            int firstAnswered = 0;
            try {
                JsonObject created = first.newAccountKey();
                accountId = created.getString("account_id");
                key = created.getString("key");
                if (plan) {
                    HttpResponse<String> granted = first.admin("POST", "/admin/v1/accounts/" + accountId + "/plans",
                        new JsonObject().put("tokens", 1000).put("valid_until",
                            java.time.Instant.now().plus(java.time.Duration.ofDays(2)).toString()).encode());
                    assertThat(granted.statusCode()).as(granted.body()).isBetween(200, 201);
                }
                for (int i = 0; i < 500; i++) {
                    HttpResponse<String> answer = first.send("POST", "/v1/chat/completions", key, CHAT.formatted(i));
                    if (answer.statusCode() != 200) {
                        assertThat(answer.statusCode()).as(answer.body()).isEqualTo(429);
                        break;
                    }
                    firstAnswered++;
                }
                int answered = firstAnswered;
                TestGateway.eventually(() -> GatewayProcess.journaled(data) == answered, 10_000, "records journaled");
                assertThat(db.count("SELECT count(*) FROM usage_records")).isZero();
            } finally {
                // When it is killed outright
                first.kill();
            }

            // And started again on the same data directory, the account's requests arriving at once
            // (the replay of its journal held back a few seconds by a lock on the account's row, as a slow
            // PostgreSQL or a long journal would hold it back)
            java.sql.Connection lock = db.lockAccount(accountId);
            GatewayProcess second = GatewayProcess.start(config, data);
            int secondAnswered = 0;
            long firstRequestAfterUpMs;
            try {
                firstRequestAfterUpMs = (System.nanoTime() - second.upAtNanos()) / 1_000_000;
                for (int i = 0; i < 500; i++) {
                    HttpResponse<String> answer = second.send("POST", "/v1/chat/completions", key, CHAT.formatted(1000 + i));
                    if (i == 0) {
                        // The first request (which loads the account's counters) came before the journal's replay
                        assertThat(db.count("SELECT count(*) FROM usage_records")).isZero();
                        lock.commit();
                        lock.close();
                    }
                    if (answer.statusCode() != 200) {
                        assertThat(answer.statusCode()).as(answer.body()).isEqualTo(429);
                        break;
                    }
                    secondAnswered++;
                }
                int expected = firstAnswered;
                TestGateway.eventually(() -> db.count("SELECT count(*) FROM usage_records") >= expected, 30_000,
                    "the journal replayed");
            } finally {
                second.terminate();
            }

            // Then every answered request has its record, and the wallet was not spent twice
            long records = db.count("SELECT count(*) FROM usage_records");
            long balance = db.count("SELECT balance_micro_usd FROM accounts WHERE id = ?", accountId);
            long spent = db.count("SELECT coalesce(sum(wallet_micro_usd), 0) FROM usage_records WHERE account_id = ?",
                accountId);
            long maxCost = db.count("SELECT coalesce(max(cost_micro_usd), 0) FROM usage_records WHERE account_id = ?",
                accountId);
            long planRemaining = plan ? db.count("SELECT tokens_remaining FROM token_plans WHERE account_id = ?", accountId)
                : 0;
            String summary = (plan ? "plan of 1 000 tokens, tokens_remaining " + planRemaining + "; " : "")
                + "first run answered " + firstAnswered + ", second run answered " + secondAnswered
                + " (its first request " + firstRequestAfterUpMs + " ms after it was up), records " + records
                + ", spent " + spent + " micro-USD from the wallet (signup credit " + (plan ? 0 : 1_000_000) + "), balance " + balance
                + ", largest request " + maxCost;
            assertThat(records).as(summary).isEqualTo(firstAnswered + secondAnswered);
            assertThat(balance).as(summary).isGreaterThanOrEqualTo(-maxCost);
            assertThat(planRemaining).as(summary).isGreaterThanOrEqualTo(0);
        }
    }
}
