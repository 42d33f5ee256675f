package io.tokenhub.accounting;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.billing.Payment;
import io.tokenhub.core.Usage;
import io.tokenhub.store.Database;
import io.tokenhub.testing.TestDatabase;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.Pool;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link UsageWriter} against a real PostgreSQL with the real schema: one statement per batch,
 * idempotent by request id (a spooled batch replayed after a write whose answer was lost is still
 * one record, charged once), NULL for what is not known.
 */
class UsageWriterIT {

    private static final long START_BALANCE = 10_000_000;

    static TestDatabase db;
    static Vertx vertx;
    static Pool pool;
    static UsageWriter writer;

    @BeforeAll
    static void start() {
        db = TestDatabase.create();
        Database database = Database.external(PgConnectOptions.fromUri(db.url()), 4);
        vertx = Vertx.vertx();
        pool = database.pool(vertx);
        writer = new UsageWriter(pool);
    }

    @AfterAll
    static void stop() {
        join(pool.close());
        join(vertx.close());
        db.close();
    }

    @Test
    void sameBatchWrittenTwiceLeavesOneRowPerRequestIdAndChargesTheWalletOnce() {
        // Given an account with money and a batch of three paid records
        String account = newAccount();
        List<UsageEvent> batch = List.of(event(account, 100), event(account, 200), event(account, 300));

        // When the batch is written, and then written again (a replay after a lost answer)
        int first = join(writer.write(batch));
        int second = join(writer.write(batch));

        // Then the second write adds nothing: one row per request id, one charge, one ledger row for it
        assertThat(first).isEqualTo(3);
        assertThat(second).isZero();
        for (UsageEvent e : batch) {
            assertThat(db.count("SELECT count(*) FROM usage_records WHERE request_id = ?", e.requestId())).isEqualTo(1);
        }
        assertThat(db.count("SELECT balance_micro_usd FROM accounts WHERE id = ?", account))
            .isEqualTo(START_BALANCE - 600);
        assertThat(db.query("SELECT kind, reason, amount_micro_usd, balance_after_micro_usd FROM ledger "
            + "WHERE account_id = ?", account))
            .containsExactly(Map.of("kind", "usage", "reason", "3 requests", "amount_micro_usd", -600L,
                "balance_after_micro_usd", START_BALANCE - 600));
    }

    @Test
    void batchOverlappingAnEarlierOneWritesOnlyTheNewRecords() {
        // Given two records already written
        String account = newAccount();
        UsageEvent a = event(account, 10);
        UsageEvent b = event(account, 20);
        UsageEvent c = event(account, 40);
        join(writer.write(List.of(a, b)));

        // When a batch holding one of them and a new one is written
        int written = join(writer.write(List.of(b, c)));

        // Then only the new one is inserted and charged, and the ledger shows each batch's charge
        assertThat(written).isEqualTo(1);
        assertThat(db.count("SELECT count(*) FROM usage_records WHERE account_id = ?", account)).isEqualTo(3);
        assertThat(db.count("SELECT balance_micro_usd FROM accounts WHERE id = ?", account))
            .isEqualTo(START_BALANCE - 70);
        assertThat(db.query("SELECT reason, amount_micro_usd, balance_after_micro_usd FROM ledger "
            + "WHERE account_id = ? ORDER BY id", account))
            .containsExactly(
                Map.of("reason", "2 requests", "amount_micro_usd", -30L, "balance_after_micro_usd", START_BALANCE - 30),
                Map.of("reason", "1 request", "amount_micro_usd", -40L, "balance_after_micro_usd", START_BALANCE - 70));
    }

    @Test
    void batchOfSeveralAccountsWritesOneLedgerRowPerAccountItCharged() {
        // Given a batch mixing two accounts' paid records and a third account's free one
        String alice = newAccount();
        String bob = newAccount();
        String carol = newAccount();
        List<UsageEvent> batch = List.of(event(alice, 5), event(bob, 7), event(alice, 11), event(carol, 0));

        // When it is written
        int written = join(writer.write(batch));

        // Then every record is there, and each account charged has one ledger row with its own sum
        assertThat(written).isEqualTo(4);
        assertThat(db.query("SELECT reason, amount_micro_usd FROM ledger WHERE account_id = ?", alice))
            .containsExactly(Map.of("reason", "2 requests", "amount_micro_usd", -16L));
        assertThat(db.query("SELECT reason, amount_micro_usd FROM ledger WHERE account_id = ?", bob))
            .containsExactly(Map.of("reason", "1 request", "amount_micro_usd", -7L));
        assertThat(db.count("SELECT count(*) FROM ledger WHERE account_id = ?", carol)).isZero();
        assertThat(db.count("SELECT balance_micro_usd FROM accounts WHERE id = ?", carol)).isEqualTo(START_BALANCE);
    }

    @Test
    void unknownServedModelTtftAndErrorAreStoredAsNull() {
        // Given a record of a request no upstream answered (no served model, provider, price) and no stream
        String account = newAccount();
        UsageEvent failed = new UsageEvent(requestId(), Instant.now(), account, "key_1", "gpt-x", null, null, null,
            new Usage(12, 0, 0, 0, true), 0, null, 34, -1, 502, null, false, false, Payment.NONE);

        // When it is written
        join(writer.write(List.of(failed)));

        // Then the unknowns are NULL, not empty strings or zeros
        Map<String, Object> row = row(failed.requestId());
        assertThat(row.get("served_model")).isNull();
        assertThat(row.get("provider")).isNull();
        assertThat(row.get("deployment")).isNull();
        assertThat(row.get("price_version")).isNull();
        assertThat(row.get("ttft_ms")).isNull();
        assertThat(row.get("error_code")).isNull();
        assertThat(row.get("plan_draws")).isNull();
        assertThat(row.get("requested_model")).isEqualTo("gpt-x");
        assertThat(row.get("prompt_tokens")).isEqualTo(12);
        assertThat(row.get("latency_ms")).isEqualTo(34);
        assertThat(row.get("status")).isEqualTo(502);
        assertThat(row.get("estimated")).isEqualTo(true);
        assertThat(row.get("stream")).isEqualTo(false);
    }

    @Test
    void everyFieldOfAFullRecordRoundTrips() {
        // Given a streamed, fallback, plan-paid record with every field set
        String account = newAccount();
        Instant at = Instant.now().truncatedTo(ChronoUnit.MICROS);
        UsageEvent full = new UsageEvent(requestId(), at, account, "key_2", "mini", "gpt-4o-mini", "openai",
            "gpt-4o-mini-2024-07-18", new Usage(1234, 1000, 567, 100, false), 450, "v7", 812, 95, 200,
            null, true, true, new Payment(Map.of("plan_a", 1500L), 0));

        // When it is written
        join(writer.write(List.of(full)));

        // Then each column holds its value
        Map<String, Object> row = row(full.requestId());
        assertThat(((java.sql.Timestamp) row.get("created_at")).toInstant()).isEqualTo(at);
        assertThat(row).containsEntry("account_id", account).containsEntry("key_id", "key_2")
            .containsEntry("requested_model", "mini").containsEntry("served_model", "gpt-4o-mini")
            .containsEntry("provider", "openai").containsEntry("deployment", "gpt-4o-mini-2024-07-18")
            .containsEntry("prompt_tokens", 1234).containsEntry("cached_tokens", 1000)
            .containsEntry("completion_tokens", 567).containsEntry("reasoning_tokens", 100)
            .containsEntry("cost_micro_usd", 450L).containsEntry("price_version", "v7")
            .containsEntry("latency_ms", 812).containsEntry("ttft_ms", 95).containsEntry("status", 200)
            .containsEntry("stream", true).containsEntry("fallback", true).containsEntry("estimated", false)
            .containsEntry("wallet_micro_usd", 0L);
        assertThat(String.valueOf(row.get("plan_draws"))).isEqualToIgnoringWhitespace("{\"plan_a\": 1500}");
    }

    @Test
    void fiveHundredRecordBatchIsWrittenInOneCall() {
        // Given 500 records
        String account = newAccount();
        List<UsageEvent> batch = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
            batch.add(event(account, 1));
        }

        // When they are written with one call
        int written = join(writer.write(batch));

        // Then all 500 are there, and the account is charged for all of them in the same statement:
        // one ledger row, whose balance after it is the account's
        assertThat(written).isEqualTo(500);
        assertThat(db.count("SELECT count(*) FROM usage_records WHERE account_id = ?", account)).isEqualTo(500);
        assertThat(db.count("SELECT balance_micro_usd FROM accounts WHERE id = ?", account))
            .isEqualTo(START_BALANCE - 500);
        assertThat(db.query("SELECT amount_micro_usd, balance_after_micro_usd FROM ledger WHERE account_id = ?",
            account)).containsExactly(Map.of("amount_micro_usd", -500L, "balance_after_micro_usd", START_BALANCE - 500));
    }

    @Test
    void batchStatementIsPreparedOnceAndKeptByTheConnection() {
        // Given a pool of one connection, the way every pool of the gateway is made
        Pool single = Database.external(PgConnectOptions.fromUri(db.url()), 1).pool(vertx);
        try {
            UsageWriter onOne = new UsageWriter(single);
            String account = newAccount();

            // When two batches are written through it
            join(onOne.write(List.of(event(account, 1))));
            join(onOne.write(List.of(event(account, 1), event(account, 1))));

            // Then the connection keeps the batch's statement prepared (its 2 KB of SQL is over the
            // client's default limit for the statement cache): PostgreSQL neither parses nor
            // analyses it again for every batch
            long prepared = join(single.query(
                    "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'WITH ins AS%'").execute()
                .map(rows -> rows.iterator().next().getLong(0)));
            assertThat(prepared).isEqualTo(1);
        } finally {
            join(single.close());
        }
    }

    // ---- helpers --------------------------------------------------------------------------------

    private static String newAccount() {
        String id = "acct_" + UUID.randomUUID().toString().replace("-", "").substring(0, 16);
        try (var c = db.connect(); var s = c.prepareStatement(
            "INSERT INTO accounts (id, name, email, balance_micro_usd) VALUES (?, 'Writer test', ?, ?)")) {
            s.setString(1, id);
            s.setString(2, id + "@example.com");
            s.setLong(3, START_BALANCE);
            s.executeUpdate();
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException(e);
        }
        return id;
    }

    private static UsageEvent event(String account, long walletMicroUsd) {
        return new UsageEvent(requestId(), Instant.now(), account, "key_1", "gpt-4o-mini", "gpt-4o-mini", "openai",
            "gpt-4o-mini", new Usage(11, 0, 5, 0, false), walletMicroUsd, "v1", 20, -1, 200, null, false, false,
            new Payment(Map.of(), walletMicroUsd));
    }

    private static String requestId() {
        return "req_" + UUID.randomUUID().toString().replace("-", "");
    }

    private static Map<String, Object> row(String requestId) {
        List<Map<String, Object>> rows = db.query("SELECT * FROM usage_records WHERE request_id = ?", requestId);
        assertThat(rows).hasSize(1);
        return rows.get(0);
    }

    private static <T> T join(Future<T> future) {
        try {
            return future.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
