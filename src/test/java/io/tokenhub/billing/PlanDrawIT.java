package io.tokenhub.billing;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.store.Database;
import io.tokenhub.testing.RedisCommands;
import io.tokenhub.testing.TestDatabase;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisAPI;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Tuple;
import java.time.Clock;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A settlement draws the plan tokens that are free, its own among them, before those another
 * request holds: an account with an empty wallet and two plans, one for every model expiring first
 * and one for model y only, each request reserving from the plan that covers it. Both kinds of
 * counters, the real PostgreSQL and Redis.
 */
class PlanDrawIT {

    private final Vertx vertx = Vertx.vertx();
    private final TestDatabase database = TestDatabase.create();
    private final RedisCommands commands = RedisCommands.local();
    private final String account = "acct_plans_" + UUID.randomUUID().toString().substring(0, 8);
    private Pool pool;

    @BeforeEach
    void start() throws Exception {
        pool = Database.external(PgConnectOptions.fromUri(database.url()), 2).pool(vertx);
        await(pool.preparedQuery("INSERT INTO accounts (id, name, email, balance_micro_usd) VALUES ($1, $1, $2, 0)")
            .execute(Tuple.of(account, account + "@example.com")));
        OffsetDateTime now = OffsetDateTime.now(ZoneOffset.UTC);
        String plan = "INSERT INTO token_plans (id, account_id, tokens_total, tokens_remaining, valid_from, valid_until,"
            + " models) VALUES ($1, $2, 1000, 1000, $3, $4, $5)";
        await(pool.preparedQuery(plan).execute(Tuple.of(account + "_any", account, now.minusHours(1), now.plusDays(1),
            null)));
        await(pool.preparedQuery(plan).execute(Tuple.of(account + "_y", account, now.minusHours(1), now.plusDays(2),
            new String[] {"y"})));
    }

    @AfterEach
    void stop() {
        commands.forgetAccount(account);
        vertx.close();
        database.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"in-process", "redis"})
    void aRequestsPlanTokensAreNotTakenByAnotherModelsSettlement(String counters) throws Exception {
        Quota quota = counters.equals("redis")
            ? new RedisQuota(RedisAPI.api(Redis.createClient(vertx, System.getenv().getOrDefault(
                "TOKENHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379"))), new QuotaLoader(pool), Clock.systemUTC())
            : new LocalQuota(new QuotaLoader(pool), Clock.systemUTC());
        // Given a request for x holding the plan for every model, and one for y holding y's own
        Reservation x = await(quota.reserve("req_x", account, "key_1", -1, "x", 1000, 500));
        Reservation y = await(quota.reserve("req_y", account, "key_1", -1, "y", 1000, 500));
        assertThat(x.planTokens()).isEqualTo(Map.of(account + "_any", 1000L));
        assertThat(y.planTokens()).isEqualTo(Map.of(account + "_y", 1000L));

        // When each uses exactly its estimate, y settling first
        Payment paidY = await(quota.settle(y, 1000, 500));
        Payment paidX = await(quota.settle(x, 1000, 500));

        // Then each is paid by the plan it reserved, and the empty wallet is charged nothing
        assertThat(paidY.planDraws()).isEqualTo(Map.of(account + "_y", 1000L));
        assertThat(paidX.planDraws()).isEqualTo(Map.of(account + "_any", 1000L));
        assertThat(paidX.walletMicroUsd() + paidY.walletMicroUsd()).isZero();
    }

    @ParameterizedTest
    @ValueSource(strings = {"in-process", "redis"})
    void aPlanThatExpiresWhileItsRequestRunsStillPaysForIt(String counters) throws Exception {
        // Given counters on a clock the test moves, and the plan for every model ending a day from now
        Instant[] now = {Instant.now()};
        Clock clock = new Clock() {
            public ZoneOffset getZone() {
                return ZoneOffset.UTC;
            }

            public Clock withZone(java.time.ZoneId zone) {
                return this;
            }

            public Instant instant() {
                return now[0];
            }
        };
        Quota quota = counters.equals("redis")
            ? new RedisQuota(RedisAPI.api(Redis.createClient(vertx, System.getenv().getOrDefault(
                "TOKENHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379"))), new QuotaLoader(pool), clock)
            : new LocalQuota(new QuotaLoader(pool), clock);
        Reservation x = await(quota.reserve("req_x", account, "key_1", -1, "x", 1000, 500));
        assertThat(x.planTokens()).isEqualTo(Map.of(account + "_any", 1000L));

        // When the request settles after the plan has ended (a long stream)
        now[0] = now[0].plus(java.time.Duration.ofDays(1)).plusSeconds(60);
        Payment paid = await(quota.settle(x, 900, 450));

        // Then the plan it held pays, and the empty wallet is charged nothing (it went to -450)
        assertThat(paid.planDraws()).isEqualTo(Map.of(account + "_any", 900L));
        assertThat(paid.walletMicroUsd()).isZero();
    }

    private static <T> T await(Future<T> future) throws Exception {
        return future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
