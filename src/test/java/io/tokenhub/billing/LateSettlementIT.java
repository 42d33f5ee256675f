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
        Vertx stopping = Vertx.vertx();
        RedisQuota node = node(stopping, network.port());
        Context stoppingLoop = stopping.getOrCreateContext();
        // Given a request in flight when Redis goes silent, charged to the wallet in PostgreSQL
        Reservation inFlight = await(stoppingLoop, () -> reserve(node));
        network.partition();
        assertThat(await(stoppingLoop, () -> node.settle(inFlight, 50, 400)).walletMicroUsd()).isEqualTo(400);
        await(() -> pool.preparedQuery("UPDATE accounts SET balance_micro_usd = balance_micro_usd - 400 WHERE id = $1")
            .execute(Tuple.of(account)));

        // When its node stops before Redis answers again, and another node sweeps once it does
        await(stoppingLoop, node::close);
        stopping.close().await(20, TimeUnit.SECONDS);
        network.dropConnections();
        network.heal();
        RedisQuota other = node(vertx, commands.port());
        await(() -> Future.succeededFuture(other.sweep()));
        TestGateway.eventually(() -> owedRows() == 0, 20_000, "the owed charge run");

        // Then Redis's wallet is PostgreSQL's, its reservation released: the stopped node's charge is
        // not spent twice
        await(() -> reserve(other).compose(r -> other.settle(r, 50, 100)));
        assertThat(Long.parseLong(commands.bulk("HGET", "th:q:{" + account + "}", "bal")))
            .isEqualTo(1_000_000 - 400 - 100);
        assertThat(commands.integer("HLEN", "th:r:{" + account + "}")).isZero();
    }

    private RedisQuota node(Vertx on, int redisPort) {
        RedisAPI redis = RedisAPI.api(Redis.createClient(on, "redis://127.0.0.1:" + redisPort));
        return new RedisQuota(redis, redis, new QuotaLoader(pool), Clock.systemUTC(), on, () -> 0, () -> { },
            PendingElsewhere.NONE, CounterRepairs.in(pool));
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
