package io.tokenhub.billing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tokenhub.store.Database;
import io.tokenhub.testing.TestDatabase;
import io.tokenhub.testing.TestGateway;
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
import java.time.ZoneOffset;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A reservation whose request never settles (its node was killed mid-request) holds the account's
 * money (and its key's cap headroom) until the sweep, run by any node that has since seen the
 * account, releases it once it is older than {@link Quota#RESERVATION_TTL_MS}: with the real Redis
 * and PostgreSQL, and a clock the test moves.
 */
class ReservationSweepIT {

    private final Vertx vertx = Vertx.vertx();
    private final TestDatabase database = TestDatabase.create();
    private Database db;
    private Pool pool;
    private RedisAPI redis;
    private Instant now = Instant.now();
    private final String account = "acct_sweep_" + UUID.randomUUID().toString().substring(0, 8);

    @BeforeEach
    void start() throws Exception {
        db = Database.external(PgConnectOptions.fromUri(database.url()), 2);
        pool = db.pool(vertx);
        await(pool.preparedQuery("INSERT INTO accounts (id, name, email, balance_micro_usd) VALUES ($1, $1, $2, 1000)")
            .execute(Tuple.of(account, account + "@example.com")));
        String url = System.getenv().getOrDefault("TOKENHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379");
        redis = RedisAPI.api(Redis.createClient(vertx, url));
    }

    @AfterEach
    void stop() throws Exception {
        await(redis.del(java.util.List.of("th:q:{" + account + "}", "th:k:{" + account + "}:key_1",
            "th:r:{" + account + "}", "th:rz:{" + account + "}", "th:sm:{" + account + "}")));
        vertx.close();
        database.close();
    }

    @Test
    void aReservationItsNodeNeverSettledIsReleasedByAnotherNodesSweepOnceItIsStale() throws Exception {
        // Given a node that reserved 828 of the account's 1 000 micro-USD and was killed before settling
        RedisQuota killed = quota();
        await(killed.reserve("req_killed", account, "key_1", -1, "m", 100, 828));
        // And another node that has since seen the account: its request does not fit beside it
        RedisQuota survivor = quota();
        assertThatThrownBy(() -> await(survivor.reserve("req_refused", account, "key_1", -1, "m", 10, 500)))
            .hasMessageContaining("available");

        // When the survivor sweeps before the reservation is stale, nothing is released
        survivor.sweep();
        now = now.plus(Duration.ofMinutes(14));
        survivor.sweep();
        assertThatThrownBy(() -> await(survivor.reserve("req_early", account, "key_1", -1, "m", 10, 500)))
            .hasMessageContaining("available");

        // Then once it is older than the reservation TTL, the sweep hands it back
        now = now.plus(Duration.ofMinutes(2));
        survivor.sweep();
        Reservation after = awaitReleased(survivor);
        assertThat(after.microUsd()).isEqualTo(500);
    }

    @Test
    void theSweepForgetsTheMarksOfSharesCreditsAndLateChargesADayOld() throws Exception {
        // Given counters loaded, with the marks of a share last renewed a day ago (its node gone), of
        // one broken 23 hours ago (its late charges, kept in PostgreSQL, may still need it), of one
        // renewed now, and of credits and late charges a day old and an hour old
        RedisQuota node = quota();
        await(node.reserve("req_seen", account, "key_1", -1, "m", 10, 10));
        String marks = "th:sm:{" + account + "}";
        await(redis.hset(List.of(marks, "share:gone:1", "7|" + now.minus(Duration.ofHours(25)).toEpochMilli(),
            "share:recent:1", "4|" + now.minus(Duration.ofHours(23)).toEpochMilli(),
            "share:live:1", "3|" + now.toEpochMilli(),
            "c:old", "0|" + now.minus(Duration.ofHours(25)).toEpochMilli(),
            "c:recent", "0|" + now.minus(Duration.ofHours(1)).toEpochMilli(),
            "l:old", "0|" + now.minus(Duration.ofHours(25)).toEpochMilli(),
            "x:recent", "0|" + now.minus(Duration.ofHours(1)).toEpochMilli())));

        // When a node that has seen the account sweeps
        node.sweep();

        // Then the marks made within the day are left
        TestGateway.eventually(() -> {
            try {
                return await(redis.hkeys(marks)).stream().map(Object::toString).sorted().toList()
                    .equals(List.of("c:recent", "share:live:1", "share:recent:1", "x:recent"));
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }, 10_000, "the gone share's mark forgotten");
    }

    @Test
    void aStaleReservationNeverRefusesARequestEvenBeforeAnySweep() throws Exception {
        // Given a reservation of 828 whose node was killed 16 minutes ago
        await(quota().reserve("req_killed", account, "key_1", -1, "m", 100, 828));
        now = now.plus(Duration.ofMinutes(16));

        // When a node that never swept reserves 500 of the account's 1 000
        Reservation next = await(quota().reserve("req_next", account, "key_1", -1, "m", 10, 500));

        // Then the stale reservation was released by that reservation itself
        assertThat(next.microUsd()).isEqualTo(500);
    }

    @Test
    void aRequestThatSettlesAfterTheSweepReleasedItsReservationIsChargedOnceAndFreesNothingTwice()
        throws Exception {
        // Given a stream that reserved 828 of the account's 1 000 micro-USD and ran past the TTL, its
        // reservation released by another node's sweep, which then reserved 500
        RedisQuota streaming = quota();
        Reservation longStream = await(streaming.reserve("req_long", account, "key_1", -1, "m", 100, 828));
        RedisQuota sweeper = quota();
        assertThatThrownBy(() -> await(sweeper.reserve("req_refused", account, "key_1", -1, "m", 10, 500)))
            .hasMessageContaining("available");
        now = now.plus(Duration.ofMinutes(16));
        sweeper.sweep();
        Reservation other = awaitReleased(sweeper);

        // When the stream ends and settles 300
        Payment paid = await(streaming.settle(longStream, 40, 300));

        // Then it is charged 300, and the other request's reservation still holds: 1 000 - 300 - 500
        // leaves 200 available, not the 700 a second release of the 828 would have left
        assertThat(paid.walletMicroUsd()).isEqualTo(300);
        assertThat(other.microUsd()).isEqualTo(500);
        assertThatThrownBy(() -> await(sweeper.reserve("req_over", account, "key_1", -1, "m", 10, 201)))
            .hasMessageContaining("has $0.0002 available");
        assertThat(await(sweeper.reserve("req_fits", account, "key_1", -1, "m", 10, 200)).microUsd()).isEqualTo(200);
    }

    @Test
    void aKeysMonthlyCapCountsItsSpendFromTheFirstOfTheMonthInTheCounters() throws Exception {
        // Given a key with a cap of 1 000 micro-USD that spent 600 on the last day of January
        await(pool.preparedQuery("UPDATE accounts SET balance_micro_usd = 100000 WHERE id = $1")
            .execute(Tuple.of(account)));
        now = Instant.parse("2026-01-31T23:58:00Z");
        RedisQuota quota = quota();
        await(quota.settle(await(quota.reserve("req_jan", account, "key_1", 1_000, "m", 10, 600)), 10, 600));
        assertThatThrownBy(() -> await(quota.reserve("req_jan_more", account, "key_1", 1_000, "m", 10, 500)))
            .hasMessageContaining("monthly spend cap");

        // When February begins, a reservation fits again: the month's spend starts at 0
        now = Instant.parse("2026-02-01T00:01:00Z");
        Reservation february = await(quota.reserve("req_feb", account, "key_1", 1_000, "m", 10, 500));

        // Then what February settles counts towards February's cap
        await(quota.settle(february, 10, 500));
        assertThatThrownBy(() -> await(quota.reserve("req_feb_more", account, "key_1", 1_000, "m", 10, 600)))
            .hasMessageContaining("spent $0.0005 this month");
        assertThat(await(quota.reserve("req_feb_fits", account, "key_1", 1_000, "m", 10, 500)).microUsd())
            .isEqualTo(500);
    }

    /** The sweep's Redis calls are not awaited by {@link RedisQuota#sweep}: retry the reservation until it fits. */
    private Reservation awaitReleased(RedisQuota quota) throws Exception {
        long deadline = System.currentTimeMillis() + 10_000;
        while (true) {
            try {
                return await(quota.reserve("req_after_" + System.nanoTime(), account, "key_1", -1, "m", 10, 500));
            } catch (Exception e) {
                if (System.currentTimeMillis() > deadline) {
                    throw e;
                }
                await(vertx.timer(50));
            }
        }
    }

    private RedisQuota quota() {
        Clock moved = new Clock() {
            @Override
            public ZoneOffset getZone() {
                return ZoneOffset.UTC;
            }

            @Override
            public Clock withZone(java.time.ZoneId zone) {
                return this;
            }

            @Override
            public Instant instant() {
                return now;
            }
        };
        return new RedisQuota(redis, new QuotaLoader(pool), moved);
    }

    private static <T> T await(Future<T> future) throws Exception {
        return future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
