package io.tokenhub.billing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tokenhub.admin.AdminStore;
import io.tokenhub.store.Database;
import io.tokenhub.testing.RedisCommands;
import io.tokenhub.testing.TestDatabase;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisAPI;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.PreparedQuery;
import io.vertx.sqlclient.Tuple;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.time.Clock;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * An admin's credit is told to the hot counters after PostgreSQL has it, so counters first loaded in
 * between read it from PostgreSQL and must not add it again; counters loaded before it must add it.
 * Both kinds of counters, the real PostgreSQL and Redis, and a node whose clock runs an hour ahead:
 * the times compared are PostgreSQL's.
 */
class CreditDuringLoadIT {

    private static final Clock HOUR_AHEAD = Clock.offset(Clock.systemUTC(), Duration.ofHours(1));

    private final Vertx vertx = Vertx.vertx();
    private final TestDatabase database = TestDatabase.create();
    private Pool pool;
    private RedisAPI redis;
    private AdminStore store;
    private final String account = "acct_credit_" + UUID.randomUUID().toString().substring(0, 8);

    @BeforeEach
    void start() throws Exception {
        pool = Database.external(PgConnectOptions.fromUri(database.url()), 2).pool(vertx);
        await(pool.preparedQuery("INSERT INTO accounts (id, name, email, balance_micro_usd) VALUES ($1, $1, $2, 1000)")
            .execute(Tuple.of(account, account + "@example.com")));
        redis = RedisAPI.api(Redis.createClient(vertx,
            System.getenv().getOrDefault("TOKENHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379")));
        store = new AdminStore(pool);
    }

    @AfterEach
    void stop() throws Exception {
        RedisCommands.local().forgetAccount(account);
        vertx.close();
        database.close();
    }

    private Quota quota(String counters) {
        QuotaLoader loader = new QuotaLoader(pool);
        return counters.equals("redis") ? new RedisQuota(redis, loader, HOUR_AHEAD) : new LocalQuota(loader, HOUR_AHEAD);
    }

    @ParameterizedTest
    @ValueSource(strings = {"in-process", "redis"})
    void countersFirstLoadedAfterTheCreditWasWrittenDoNotCountItAgain(String counters) throws Exception {
        Quota quota = quota(counters);
        // Given an admin's credit of 1 000 micro-USD written to PostgreSQL (balance 2 000)
        AdminStore.Credit credit = await(store.credit(account, 1_000, "top-up")).orElseThrow();
        assertThat(credit.balanceMicroUsd()).isEqualTo(2_000);

        // And the account's first request loading the counters from PostgreSQL before they hear of it
        await(quota.settle(await(quota.reserve("req_1", account, "key_1", -1, "m", 10, 100)), 10, 100));
        await(quota.credited(account, 1_000, UUID.randomUUID().toString(), credit.writtenAfterUs()));

        // Then the counters hold PostgreSQL's 2 000 less the 100 spent, not the credit twice
        assertThatThrownBy(() -> await(quota.reserve("req_2", account, "key_1", -1, "m", 10, 1_901)))
            .hasMessageContaining("available");
        assertThat(await(quota.reserve("req_3", account, "key_1", -1, "m", 10, 1_900)).microUsd()).isEqualTo(1_900);
    }

    @ParameterizedTest
    @ValueSource(strings = {"in-process", "redis"})
    void countersLoadedBeforeTheCreditTakeIt(String counters) throws Exception {
        Quota quota = quota(counters);
        // Given counters loaded with the account's 1 000 micro-USD
        await(quota.settle(await(quota.reserve("req_1", account, "key_1", -1, "m", 10, 100)), 10, 100));

        // When an admin credits 1 000 and the counters are told
        AdminStore.Credit credit = await(store.credit(account, 1_000, "top-up")).orElseThrow();
        await(quota.credited(account, 1_000, UUID.randomUUID().toString(), credit.writtenAfterUs()));

        // Then the 1 900 left can be spent, and no more
        assertThatThrownBy(() -> await(quota.reserve("req_2", account, "key_1", -1, "m", 10, 1_901)))
            .hasMessageContaining("available");
        assertThat(await(quota.reserve("req_3", account, "key_1", -1, "m", 10, 1_900)).microUsd()).isEqualTo(1_900);
    }

    @Test
    void aCreditANodeOfTheEarlierVersionMarkedInTheAccountsHashCountsOnce() throws Exception {
        // Given counters loaded with the account's 1 000 micro-USD, and a credit of 1 000 that a node
        // from before 2026-12-07 (a cluster upgraded one node at a time) applied, marking it where it did
        Quota quota = quota("redis");
        await(quota.settle(await(quota.reserve("req_1", account, "key_1", -1, "m", 10, 100)), 10, 100));
        AdminStore.Credit credit = await(store.credit(account, 1_000, "top-up")).orElseThrow();
        String creditId = UUID.randomUUID().toString();
        RedisCommands.local().send("HINCRBY", "th:q:{" + account + "}", "bal", "1000");
        RedisCommands.local().send("HSET", "th:q:{" + account + "}", "c:" + creditId, "1");

        // When this version's node applies the same credit
        await(quota.credited(account, 1_000, creditId, credit.writtenAfterUs()));

        // Then it counts once: 1 900 left, not 2 900
        assertThatThrownBy(() -> await(quota.reserve("req_2", account, "key_1", -1, "m", 10, 1_901)))
            .hasMessageContaining("available");
    }

    /**
     * The account's first load reads PostgreSQL, then a credit is written and told before the load
     * lands: the counters must take it (a review: they found no counters and dropped it, and the load
     * put in the balance it had read, without it, until the next rebuild: a restart in process).
     * Deterministic: the balance read's answer is held back, once PostgreSQL ran it, until the credit
     * has been told.
     */
    @ParameterizedTest
    @ValueSource(strings = {"in-process", "redis"})
    void aCreditToldWhileTheFirstLoadIsOnItsWayIsTaken(String counters) throws Exception {
        // Given the account's first request loading its counters: PostgreSQL has read the balance (1 000)
        HeldLoad load = heldLoad(counters);
        Quota quota = load.quota();

        // When an admin credits 1 000 after that read, and the counters are told before the load lands
        AdminStore.Credit credit = await(store.credit(account, 1_000, "top-up")).orElseThrow();
        Future<Void> told = quota.credited(account, 1_000, UUID.randomUUID().toString(), credit.writtenAfterUs());
        load.land();
        await(told);

        // Then the counters hold 2 000 less the 100 reserved: 1 500 more can be reserved
        await(quota.reserve("req_2", account, "key_1", -1, "m", 10, 1_500));
    }

    @ParameterizedTest
    @ValueSource(strings = {"in-process", "redis"})
    void aPlanGrantedWhileTheFirstLoadIsOnItsWayPays(String counters) throws Exception {
        // Given the account's first request loading its counters, PostgreSQL's read made (no plan)
        HeldLoad load = heldLoad(counters);
        Quota quota = load.quota();

        // When a plan is granted after that read, and the counters are told before the load lands
        OffsetDateTime now = OffsetDateTime.now(ZoneOffset.UTC);
        JsonObject plan = await(store.grantPlan(account, 1_000, now.minusMinutes(1), now.plusDays(30), null));
        Future<Void> told = quota.planGranted(account, new Quota.Plan(plan.getString("id"), 1_000,
            now.minusMinutes(1).toInstant(), now.plusDays(30).toInstant(), List.of()));
        load.land();
        await(told);

        // Then the plan pays the account's next request (it was missed until the counters were rebuilt)
        Reservation next = await(quota.reserve("req_2", account, "key_1", -1, "m", 50, 100));
        assertThat(next.planTokens()).containsKey(plan.getString("id"));
    }

    /** Counters whose first load, by a request of 100, has read PostgreSQL and waits to land. */
    private record HeldLoad(Quota quota, Future<Reservation> first, Promise<Void> gate) {
        /** The load lands, and the request that made it is reserved. */
        void land() throws Exception {
            gate.complete();
            await(first);
        }
    }

    private HeldLoad heldLoad(String counters) throws Exception {
        Promise<Void> readDone = Promise.promise();
        Promise<Void> gate = Promise.promise();
        QuotaLoader loader = new QuotaLoader(heldBalanceRead(pool, readDone, gate.future()));
        Quota quota = counters.equals("redis") ? new RedisQuota(redis, loader, Clock.systemUTC())
            : new LocalQuota(loader, Clock.systemUTC());
        Future<Reservation> first = quota.reserve("req_1", account, "key_1", -1, "m", 10, 100);
        await(readDone.future());
        return new HeldLoad(quota, first, gate);
    }

    /** The pool, the answer of the accounts' balance read held back (once PostgreSQL ran it) until {@code gate}. */
    private static Pool heldBalanceRead(Pool real, Promise<Void> readDone, Future<Void> gate) {
        return (Pool) Proxy.newProxyInstance(Pool.class.getClassLoader(), new Class<?>[] {Pool.class},
            (proxy, method, args) -> {
                Object result = invoke(method, real, args);
                if (method.getName().equals("preparedQuery") && args[0] instanceof String sql
                    && sql.contains("balance_micro_usd FROM accounts")) {
                    PreparedQuery<?> query = (PreparedQuery<?>) result;
                    return Proxy.newProxyInstance(PreparedQuery.class.getClassLoader(),
                        new Class<?>[] {PreparedQuery.class}, (p, m, a) -> {
                            Object out = invoke(m, query, a);
                            if (m.getName().equals("execute") && out instanceof Future<?> answered) {
                                return answered.onComplete(ar -> readDone.tryComplete())
                                    .compose(rows -> gate.map(v -> rows));
                            }
                            return out;
                        });
                }
                return result;
            });
    }

    private static Object invoke(Method method, Object target, Object[] args) throws Throwable {
        try {
            return method.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    private static <T> T await(Future<T> future) throws Exception {
        return future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
