package io.tokenhub.accounting;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.billing.LocalQuota;
import io.tokenhub.billing.Payment;
import io.tokenhub.billing.Quota;
import io.tokenhub.billing.QuotaLoader;
import io.tokenhub.billing.Reservation;
import io.tokenhub.billing.Settled;
import io.tokenhub.config.TokenHubConfig.Accounting;
import io.tokenhub.core.Usage;
import io.tokenhub.store.Database;
import io.tokenhub.testing.TestDatabase;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Tuple;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node killed right after PostgreSQL took a batch, before the journal let go of its segment (a
 * segment lasts a second, batches go every 100 ms: the usual case after a kill): the next start
 * finds records that PostgreSQL already holds (its balance already charged for them). They must not
 * count as pending too, or counters loaded before their replay take their money twice, and keep
 * doing so after it (in-process counters are loaded once).
 */
class FoundOnDiskAlreadyWrittenIT {

    @TempDir
    Path data;
    private final Vertx vertx = Vertx.vertx();
    private final TestDatabase db = TestDatabase.create();
    private final String account = "acct_found_" + UUID.randomUUID().toString().substring(0, 8);

    @AfterEach
    void tearDown() {
        vertx.close().await();
        db.close();
    }

    @Test
    void aRecordPostgresHoldsAlreadyIsNotChargedAgainByCountersLoadedBeforeItsReplay() throws Exception {
        Pool pool = Database.external(PgConnectOptions.fromUri(db.url()), 4).pool(vertx);
        await(pool.preparedQuery("INSERT INTO accounts (id, name, email, balance_micro_usd) VALUES ($1, $1, $2, 1000000)")
            .execute(Tuple.of(account, account + "@example.com")));
        // Given a request that cost 600 000 micro-USD from the wallet, written to PostgreSQL (balance 400 000)
        UsageEvent spent = new UsageEvent("req_" + UUID.randomUUID().toString().replace("-", ""), Instant.now(),
            account, "key_1", "mock-chat", "mock-chat", "mock", "mock-chat-1", new Usage(10, 0, 5, 0, false), 600_000,
            "v1", 12, -1, 200, null, false, false, new Payment(Map.of(), 600_000));
        assertThat(await(new UsageWriter(pool).write(List.of(spent)))).isEqualTo(1);
        assertThat(db.count("SELECT balance_micro_usd FROM accounts WHERE id = ?", account)).isEqualTo(400_000);
        // And still in the journal segment the killed run left (not deleted yet)
        Path journal = Files.createDirectories(data.resolve("journal"));
        Files.write(journal.resolve("journal-0000000000001-000000.jsonl"), Spool.jsonLineBytes(List.of(spent)));

        // When the node starts again on that data directory, its replay held up a moment (a busy PostgreSQL)
        Connection lock = db.connect();
        lock.setAutoCommit(false);
        lock.createStatement().execute("LOCK TABLE usage_records IN EXCLUSIVE MODE");
        Quota quota = new LocalQuota(new QuotaLoader(pool), Clock.systemUTC());
        UsageStatus status = new UsageStatus();
        vertx.deployVerticle(new AccountingVerticle(new Accounting(500, 100, 1L << 30, true), new UsageWriter(pool),
            data.resolve("spool"), status, batch -> quota.durable(settled(batch)),
            batch -> quota.foundOnDisk(settled(batch))), AccountingVerticle.deployment()).await();

        // And the account's first request loads its counters before the replay
        Future<Reservation> first = quota.reserve("req_a", account, "key_1", -1, "mock-chat", 10, 150_000);
        Throwable firstRefusal = first.toCompletionStage().toCompletableFuture()
            .handle((r, e) -> e).get(10, TimeUnit.SECONDS);
        lock.rollback();
        lock.close();
        TestGateway.eventually(() -> status.backlog() == 0, 20_000, "the journal replayed");
        assertThat(db.count("SELECT count(*) FROM usage_records")).isEqualTo(1);
        assertThat(db.count("SELECT balance_micro_usd FROM accounts WHERE id = ?", account)).isEqualTo(400_000);

        // Then the 400 000 left pay for two requests of 150 000, one before the replay and one after it
        Throwable after = quota.reserve("req_b", account, "key_1", -1, "mock-chat", 10, 150_000)
            .toCompletionStage().toCompletableFuture().handle((r, e) -> e).get(10, TimeUnit.SECONDS);
        SoftAssertions soft = new SoftAssertions();
        soft.assertThat(firstRefusal).as("a request of 150 000 with 400 000 in PostgreSQL, before the replay").isNull();
        soft.assertThat(after).as("a request of 150 000 with 400 000 in PostgreSQL, once the replay is done").isNull();
        soft.assertAll();
    }

    private static List<Settled> settled(List<UsageEvent> batch) {
        return batch.stream().map(e -> new Settled(e.accountId(), e.keyId(), e.costMicroUsd(), e.payment())).toList();
    }

    private static <T> T await(Future<T> future) throws Exception {
        return future.toCompletionStage().toCompletableFuture().get(20, TimeUnit.SECONDS);
    }
}
