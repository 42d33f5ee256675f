package io.tokenhub.durability;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.PrivateRedis;
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
 * A node with its counters in Redis is killed (SIGKILL) with records in its journal, and started
 * again; its account keeps being used; the journal is replayed; then Redis loses the counters
 * and they are rebuilt from PostgreSQL less what this node has settled and PostgreSQL does not
 * hold yet. Once everything is written, Redis's wallet must equal PostgreSQL's balance
 * (README: "a rebuild neither forgets nor doubles a charge").
 */
class KillRestartRedisRebuildIT {

    private static final String CATALOG = """
        providers: [ { id: mock, type: mock } ]
        models: [ { id: mock-chat, pricing: { input: 1000, output: 1000 }, deployments: [ { provider: mock, model: mock-chat-1 } ] } ]
        """;
    private static final String CHAT = """
        {"model": "mock-chat", "max_tokens": 10, "messages": [{"role": "user", "content": "Hello %d"}]}""";

    @TempDir
    Path dir;

    @Test
    void replayingAnEarlierRunsJournalDoesNotMakeARebuildForgetThisRunsCharges() throws Exception {
        try (TestDatabase db = TestDatabase.create(); PrivateRedis redis = PrivateRedis.start()) {
            Path data = dir.resolve("data");
            Path config = dir.resolve("tokenhub.yaml");
            Files.writeString(config, """
                server: { port: 0, management_port: 0, instances: 1, shutdown_grace_ms: 5000 }
                admin: { master_key: "%s", bootstrap: false }
                storage: { postgres: "%s", redis: "%s", data_dir: "%s", pool_size: 4 }
                accounting: { flush_ms: 60000, batch_size: 10000 }
                billing: { signup_credit_usd: 10.00, node_share: 0 }
                %s
                """.formatted(TestGateway.MASTER_KEY, db.url(), redis.url(), data, CATALOG));

            // Given a node killed with 20 answered requests in its journal only
            GatewayProcess first = GatewayProcess.start(config, data);
            String accountId;
            String key;
            int firstAnswered = 20;
            try {
                JsonObject created = first.newAccountKey();
                accountId = created.getString("account_id");
                key = created.getString("key");
                for (int i = 0; i < firstAnswered; i++) {
                    HttpResponse<String> answer = first.send("POST", "/v1/chat/completions", key, CHAT.formatted(i));
                    assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
                }
                TestGateway.eventually(() -> GatewayProcess.journaled(data) == firstAnswered, 10_000, "journaled");
            } finally {
                first.kill();
            }

            // When it starts again and the account is used at once, its records held in memory (flush_ms 60 s),
            // before the replay of the earlier run's journal (held back a few seconds by a lock on the
            // account's row, as a slow PostgreSQL or a long journal would hold it back)
            java.sql.Connection lock = db.lockAccount(accountId);
            GatewayProcess second = GatewayProcess.start(config, data);
            String bal;
            int secondAnswered = 5;
            try {
                // (in parallel, before the spool's first replay, one second after the start)
                String k = key;
                java.util.List<java.util.concurrent.CompletableFuture<HttpResponse<String>>> answers =
                    java.util.stream.IntStream.range(0, secondAnswered).mapToObj(i -> java.util.concurrent.CompletableFuture
                        .supplyAsync(() -> second.send("POST", "/v1/chat/completions", k, CHAT.formatted(100 + i))))
                    .toList();
                for (var answer : answers) {
                    assertThat(answer.get().statusCode()).as(answer.get().body()).isEqualTo(200);
                }
                assertThat(db.count("SELECT count(*) FROM usage_records")).isZero();
                lock.commit();
                lock.close();
                // And the earlier run's journal is replayed
                TestGateway.eventually(() -> db.count("SELECT count(*) FROM usage_records") == firstAnswered, 30_000,
                    "the journal replayed");
                // (and the node has taken them off what it has pending, which it logs right after: the rows
                // are seen a moment before, and a rebuild in between counts them twice, as designed)
                second.find(java.util.regex.Pattern.compile("replayed (\\d+) spooled usage records"));
                // And Redis then loses the counters, rebuilt at the account's next request
                assertThat(redis.commands().send("FLUSHALL")).isEqualTo("+OK");
                HttpResponse<String> answer = second.send("POST", "/v1/chat/completions", key, CHAT.formatted(999));
                assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
                secondAnswered++;
            } finally {
                second.terminate(); // writes the usage held in memory
            }
            bal = redis.commands().bulk("HGET", "th:q:{" + accountId + "}", "bal");

            // Then Redis's wallet is PostgreSQL's balance
            long records = db.count("SELECT count(*) FROM usage_records");
            long balance = db.count("SELECT balance_micro_usd FROM accounts WHERE id = ?", accountId);
            long ledger = db.count("SELECT coalesce(sum(amount_micro_usd), 0) FROM ledger WHERE account_id = ?", accountId);
            String summary = "records " + records + " of " + (firstAnswered + secondAnswered) + " answered; PostgreSQL "
                + "balance " + balance + " (ledger sum " + ledger + "), Redis bal " + bal;
            assertThat(records).as(summary).isEqualTo(firstAnswered + secondAnswered);
            assertThat(ledger).as(summary).isEqualTo(balance);
            assertThat(Long.parseLong(bal)).as(summary).isEqualTo(balance);
        }
    }
}
