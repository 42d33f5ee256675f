package io.tokenhub.billing;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.store.Database;
import io.tokenhub.testing.RedisCommands;
import io.tokenhub.testing.TcpProxy;
import io.tokenhub.testing.TestDatabase;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisAPI;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Tuple;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A settlement whose command never reached Redis (its connection lost) is charged to the wallet in
 * PostgreSQL at once and to Redis's wallet once it answers again, once: the real Redis behind a
 * proxy the test cuts, and the real PostgreSQL.
 */
class LateSettlementIT {

    private final Vertx vertx = Vertx.vertx();
    private final TestDatabase database = TestDatabase.create();
    private final RedisCommands commands = RedisCommands.local();
    private final String account = "acct_late_" + UUID.randomUUID().toString().substring(0, 8);
    private final Context loop = vertx.getOrCreateContext();
    private Pool pool;
    private TcpProxy network;
    private int sequence;

    @BeforeEach
    void start() throws Exception {
        pool = Database.external(PgConnectOptions.fromUri(database.url()), 2).pool(vertx);
        await(() -> pool.preparedQuery("INSERT INTO accounts (id, name, email, balance_micro_usd) VALUES ($1, $1, $2, "
            + "1000000)").execute(Tuple.of(account, account + "@example.com")));
        network = new TcpProxy(commands.host(), commands.port());
    }

    @AfterEach
    void stop() {
        commands.forgetAccount(account);
        network.close();
        vertx.close();
        database.close();
    }

    @Test
    void aSettlementLostWithItsConnectionIsChargedInRedisOnceItAnswersAgain() throws Exception {
        RedisQuota node = new RedisQuota(RedisAPI.api(Redis.createClient(vertx, "redis://127.0.0.1:" + network.port())),
            new QuotaLoader(pool), Clock.systemUTC());
        // Given a request settled as usual, and one in flight when Redis goes silent and its connection is lost
        long spent = await(() -> reserve(node).compose(r -> node.settle(r, 50, 400))).walletMicroUsd();
        Reservation inFlight = await(() -> reserve(node));
        network.partition();
        Payment paid = await(() -> node.settle(inFlight, 50, 400));
        assertThat(paid.walletMicroUsd()).as("charged to the wallet in PostgreSQL").isEqualTo(400);
        spent += 400;
        network.dropConnections();
        network.heal();

        // When Redis answers again and more requests settle
        for (int i = 0; i < 3; i++) {
            spent += await(() -> reserve(node).compose(r -> node.settle(r, 50, 400))).walletMicroUsd();
        }

        // Then Redis's wallet is charged each one once, and nothing is left reserved
        long expected = 1_000_000 - spent;
        TestGateway.eventually(() -> Long.parseLong(commands.bulk("HGET", "th:q:{" + account + "}", "bal")) == expected,
            20_000, "Redis's wallet at " + expected);
        assertThat(commands.bulk("HGET", "th:q:{" + account + "}", "res")).isEqualTo("0");
        assertThat(commands.integer("HLEN", "th:r:{" + account + "}")).isZero();
    }

    @Test
    void aChargeOwedByANodeThatStoppedIsChargedByAnotherNodesSweep() throws Exception {
        // Given a request in flight when Redis goes silent, charged to the wallet in PostgreSQL
        Owing owing = owing(Clock.systemUTC());

        // When its node stops before Redis answers again, and another node sweeps once it does
        owing.stop();
        network.dropConnections();
        network.heal();
        RedisQuota other = node(vertx, commands.port(), Clock.systemUTC());
        await(() -> Future.succeededFuture(other.sweep()));
        TestGateway.eventually(() -> owedRows() == 0, 20_000, "the owed charge run");

        // Then Redis's wallet is PostgreSQL's, its reservation released: the stopped node's charge is
        // not spent twice
        await(() -> reserve(other).compose(r -> other.settle(r, 50, 100)));
        assertThat(balance()).isEqualTo(1_000_000 - 400 - 100);
        assertThat(commands.reservationsHeld(account)).isZero();
    }

    @Test
    void aSettlementStillOnItsWayWhenItsNodeStoppedIsNotChargedAgainAfterItsLateCharge() throws Exception {
        // Given a request in flight when Redis goes silent, its settlement held on the way, and its node
        // stopped, its late charge run by another node's sweep
        Set<String> before = commands.clientIds();
        Owing owing = owing(Clock.systemUTC());
        Set<String> stoppedNodes = commands.clientIds();
        stoppedNodes.removeAll(before);
        owing.stop();
        RedisQuota other = node(vertx, commands.port(), Clock.systemUTC());
        await(() -> Future.succeededFuture(other.sweep()));
        TestGateway.eventually(() -> owedRows() == 0, 20_000, "the owed charge run");

        // When the settlement arrives at last (its connection delivers what it held, and closes)
        network.heal();
        TestGateway.eventually(() -> {
            Set<String> open = commands.clientIds();
            open.retainAll(stoppedNodes);
            return open.isEmpty();
        }, 20_000, "the stopped node's connection delivered and closed");

        // Then it charges nothing more (a review: Redis's wallet 400 below PostgreSQL's)
        assertThat(balance()).isEqualTo(1_000_000 - 400);
        assertThat(keySpend()).isEqualTo(400);
    }

    @Test
    void aChargeOwedByANodeThatDiedIsChargedThoughTheSweepReleasedItsReservationFirst() throws Exception {
        // Given a request in flight when Redis goes silent, charged to the wallet in PostgreSQL, and its
        // node killed with its connection
        Owing owing = owing(Clock.systemUTC());
        owing.vertx.close().await(20, TimeUnit.SECONDS);
        network.dropConnections();
        network.heal();

        // When, twenty minutes later, its charge is due and another node serves the account and
        // sweeps: the reservation is stale (15 minutes) and released first
        await(() -> pool.preparedQuery("UPDATE hot_counter_repairs SET due_at = now() WHERE account_id = $1")
            .execute(Tuple.of(account)));
        RedisQuota other = node(vertx, commands.port(), Clock.offset(Clock.systemUTC(), Duration.ofMinutes(20)));
        await(() -> reserve(other).compose(r -> other.settle(r, 50, 100)));
        await(() -> Future.succeededFuture(other.sweep()));
        TestGateway.eventually(() -> owedRows() == 0, 20_000, "the owed charge run");

        // Then the charge is made all the same (a review: Redis's wallet 400 above PostgreSQL's)
        assertThat(balance()).isEqualTo(1_000_000 - 400 - 100);
        assertThat(commands.reservationsHeld(account)).isZero();
    }

    @Test
    void aLateChargeOfLastMonthRunAfterMidnightLeavesTheKeysNewMonthAlone() throws Exception {
        // Given a request in flight at a month's last minute when Redis goes silent, and its node stopped
        Instant now = Instant.now();
        Owing owing = owing(Clock.offset(Clock.systemUTC(), Duration.between(now, Instant.parse("2027-01-31T23:59:00Z"))));
        owing.stop();
        network.dropConnections();
        network.heal();

        // When, after midnight, the key spends 1 000 in its new month on another node, which sweeps
        RedisQuota other = node(vertx, commands.port(),
            Clock.offset(Clock.systemUTC(), Duration.between(now, Instant.parse("2027-02-01T00:01:00Z"))));
        await(() -> other.reserve("req_feb", account, "key_1", -1, "m", 50, 1_000).compose(r -> other.settle(r, 50, 1_000)));
        await(() -> Future.succeededFuture(other.sweep()));
        TestGateway.eventually(() -> owedRows() == 0, 20_000, "the owed charge run");

        // Then the wallet is charged both, and the key's new month keeps its spend (a review: the late
        // charge took it back to January, at 400, and the cap stopped counting February's)
        assertThat(balance()).isEqualTo(1_000_000 - 400 - 1_000);
        assertThat(commands.bulk("HGET", "th:k:{" + account + "}:key_1", "m") + "/" + keySpend()).isEqualTo("202702/1000");
    }

    @Test
    void aSettlementOfLastMonthDeliveredAfterMidnightLeavesTheKeysNewMonthAlone() throws Exception {
        // Given a request settled at a month's last minute while Redis is silent, its settlement held
        Instant now = Instant.now();
        Owing owing = owing(Clock.offset(Clock.systemUTC(), Duration.between(now, Instant.parse("2027-01-31T23:59:00Z"))));

        // When, after midnight, the key spends 1 000 in its new month on another node, and then the
        // held settlement (and its late charge) reach Redis
        RedisQuota other = node(vertx, commands.port(),
            Clock.offset(Clock.systemUTC(), Duration.between(now, Instant.parse("2027-02-01T00:01:00Z"))));
        await(() -> other.reserve("req_feb", account, "key_1", -1, "m", 50, 1_000).compose(r -> other.settle(r, 50, 1_000)));
        network.heal();
        TestGateway.eventually(() -> owedRows() == 0, 30_000, "the late charge taken");

        // Then the key's new month keeps its spend (a review: the settlement took it back to January)
        assertThat(commands.bulk("HGET", "th:k:{" + account + "}:key_1", "m") + "/" + keySpend()).isEqualTo("202702/1000");
        assertThat(balance()).isEqualTo(1_000_000 - 400 - 1_000);
        owing.vertx.close().await(20, TimeUnit.SECONDS);
    }

    /** A node of its own whose request settled while Redis was silent: Redis owes its charge of 400. */
    private record Owing(Vertx vertx, Context loop, RedisQuota node) {
        /** Stops as the gateway does: its shares given back, its charges owed due, then Vert.x closed. */
        void stop() throws Exception {
            await(loop, node::close);
            vertx.close().await(20, TimeUnit.SECONDS);
        }
    }

    private Owing owing(Clock clock) throws Exception {
        Vertx on = Vertx.vertx();
        RedisQuota node = node(on, network.port(), clock);
        Context context = on.getOrCreateContext();
        Reservation inFlight = await(context, () -> reserve(node));
        network.partition();
        assertThat(await(context, () -> node.settle(inFlight, 50, 400)).walletMicroUsd())
            .as("charged to the wallet in PostgreSQL").isEqualTo(400);
        // as its usage record does there
        await(() -> pool.preparedQuery("UPDATE accounts SET balance_micro_usd = balance_micro_usd - 400 WHERE id = $1")
            .execute(Tuple.of(account)));
        TestGateway.eventually(() -> owedRows() == 1, 20_000, "the charge Redis owes kept");
        return new Owing(on, context, node);
    }

    private RedisQuota node(Vertx on, int redisPort, Clock clock) {
        RedisAPI redis = RedisAPI.api(Redis.createClient(on, "redis://127.0.0.1:" + redisPort));
        return new RedisQuota(redis, redis, new QuotaLoader(pool), clock, on, () -> 0, () -> { },
            PendingElsewhere.NONE, CounterRepairs.in(pool));
    }

    private long balance() {
        return Long.parseLong(commands.bulk("HGET", "th:q:{" + account + "}", "bal"));
    }

    private long keySpend() {
        return Long.parseLong(commands.bulk("HGET", "th:k:{" + account + "}:key_1", "spend"));
    }

    private long owedRows() {
        return database.count("SELECT count(*) FROM hot_counter_repairs WHERE account_id = ?", account);
    }

    private Future<Reservation> reserve(RedisQuota node) {
        return node.reserve("req_" + sequence++, account, "key_1", -1, "m", 50, 450);
    }

    /** Runs on an event loop, as the gateway's calls do. */
    private <T> T await(Supplier<Future<T>> call) throws Exception {
        return await(loop, call);
    }

    private static <T> T await(Context on, Supplier<Future<T>> call) throws Exception {
        CompletableFuture<T> done = new CompletableFuture<>();
        on.runOnContext(v -> call.get().onComplete(ar -> {
            if (ar.succeeded()) {
                done.complete(ar.result());
            } else {
                done.completeExceptionally(ar.cause());
            }
        }));
        return done.get(20, TimeUnit.SECONDS);
    }
}
