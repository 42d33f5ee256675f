package io.tokenhub.billing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tokenhub.store.Database;
import io.tokenhub.testing.RedisCommands;
import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.TcpProxy;
import io.tokenhub.testing.TestCluster;
import io.tokenhub.testing.TestDatabase;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisAPI;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Tuple;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A node's share of an account's money ({@link NodeShare}): with the real Redis and PostgreSQL, a busy
 * key's requests reserve against it in the process, their costs reach Redis with its renewals, other
 * nodes count it as money in flight, and it never lets a key or a wallet go further than the
 * requests reserved in Redis could.
 */
class NodeShareIT {

    private static final long WAIT_MS = 10_000;

    private final Vertx vertx = Vertx.vertx();
    private final TestDatabase database = TestDatabase.create();
    private final RedisCommands commands = RedisCommands.local();
    private final String account = "acct_share_" + UUID.randomUUID().toString().substring(0, 8);
    private final List<RedisQuota> nodes = new ArrayList<>();
    private Database db;
    private Pool pool;
    private TcpProxy network;
    private int sequence;
    private final AtomicInteger reservedAgainstShares = new AtomicInteger();

    @BeforeEach
    void start() throws Exception {
        db = Database.external(PgConnectOptions.fromUri(database.url()), 2);
        pool = db.pool(vertx);
        await(pool.preparedQuery("INSERT INTO accounts (id, name, email, balance_micro_usd) VALUES ($1, $1, $2, $3)")
            .execute(Tuple.of(account, account + "@example.com", 1_000_000L)));
        network = new TcpProxy(commands.host(), commands.port());
    }

    @AfterEach
    void stop() throws Exception {
        commands.forgetAccount(account);
        network.close();
        vertx.close();
        database.close();
    }

    @Test
    void aBusyKeysRequestsReserveAgainstTheNodesShareAndTheirCostsReachRedisWithItsRenewal() throws Exception {
        // Given a node on which the key made two reservations in a row, with money to spare
        RedisQuota node = node(0.1);
        long spent = busy(node, -1);
        spent += awaitShare(node, -1);
        long share = shareHeld();
        assertThat(share).as("a tenth of what was left").isBetween(99_000L, 100_000L);

        // When twenty more requests reserve: each is made at once, with no record of its own in Redis
        int before = reservedAgainstShares.get();
        List<Reservation> made = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            Future<Reservation> reserved = reserve(node, -1, 450);
            assertThat(reserved.isComplete()).as("reservation %d made without a round trip", i).isTrue();
            made.add(reserved.result());
        }
        assertThat(commands.reservationsHeld(account)).as("only the share's record").isEqualTo(1);
        assertThat(reservedAgainstShares).as("told for each").hasValue(before + 20);

        // Then what they cost is charged in Redis by the share's renewal, which their settlements wait for
        for (Reservation r : made) {
            Payment paid = await(node.settle(r, 50, 400));
            assertThat(paid.walletMicroUsd()).isEqualTo(400);
            spent += 400;
        }
        assertThat(balance()).isEqualTo(1_000_000 - spent);
        assertThat(keySpend()).isEqualTo(spent);
    }

    @Test
    void anotherNodeCountsTheShareAsMoneyInFlightUntilItIsGivenBackUnused() throws Exception {
        // Given another node, its connection to Redis made, and a node holding a share of the
        // account's million micro-USD, kept in use by a request in flight
        RedisQuota other = node(0);
        long spent = await(other.settle(await(reserve(other, -1, 10)), 1, 10)).walletMicroUsd();
        RedisQuota holder = node(0.1);
        spent += busy(holder, -1);
        spent += awaitShare(holder, -1);
        Reservation keeping = reserve(holder, -1, 1).result();
        long available = 1_000_000 - spent - shareHeld();

        // When the other node wants one micro-USD more than the rest, it is refused
        assertThatThrownBy(() -> await(reserve(other, -1, available + 1))).hasMessageContaining("available");

        // Then once the share is unused long enough it is given back, and the same request fits
        await(holder.settle(keeping, 0, 0));
        eventually(() -> commands.reservationsHeld(account) == 0, "the share given back");
        assertThat(await(reserve(other, -1, available + 1)).microUsd()).isEqualTo(available + 1);
    }

    @Test
    void aKeysMonthlyCapBoundsTheShareAndTheRequestsReservedInRedisBesideIt() throws Exception {
        // Given a key with a cap of 100 000 micro-USD, busy on a node with a share of what the cap leaves
        long cap = 100_000;
        RedisQuota node = node(0.1);
        long spent = busy(node, cap);
        spent += awaitShare(node, cap);
        assertThat(shareHeld()).isLessThanOrEqualTo((cap - spent) / 10);

        // When requests of 100 reserve without settling until one is refused for the cap
        long reserved = 0;
        while (true) {
            try {
                reserved += await(reserve(node, cap, 100)).microUsd();
            } catch (Exception refused) {
                assertThat(refused).hasMessageContaining("monthly spend cap");
                break;
            }
        }

        // Then they never held more than the cap allows, and at most the share's room was left unused
        assertThat(spent + reserved).isLessThanOrEqualTo(cap).isGreaterThan(cap - shareHeld() - 100);
    }

    @Test
    void aCreditWindsTheShareDownAndTheKeysNextRequestReservesInRedis() throws Exception {
        // Given a node holding a share
        RedisQuota node = node(0.1);
        busy(node, -1);
        awaitShare(node, -1);
        Future<Reservation> inFlight = reserve(node, -1, 100);
        assertThat(inFlight.isComplete()).isTrue();

        // When an admin takes money away (every node hears of it)
        await(node.credited(account, -500_000, "credit_" + UUID.randomUUID(), 0));

        // Then the key's next request goes to Redis, the share keeps only what the request in flight
        // holds, and it is given back once that one settles
        int before = reservedAgainstShares.get();
        await(reserve(node, -1, 100));
        assertThat(reservedAgainstShares).as("not against the share").hasValue(before);
        eventually(() -> shareHeld() == 100, "the share down to the request in flight");
        await(node.settle(inFlight.result(), 50, 80));
        eventually(() -> shareHeld() == 0 && commands.reservationsHeld(account) == 1, "the share given back");
    }

    @Test
    void aNodeThatStopsGivesItsSharesBack() throws Exception {
        // Given a node holding a share, its requests settled
        RedisQuota node = node(0.1);
        busy(node, -1);
        awaitShare(node, -1);
        settleThroughShare(node, 3);

        // When it stops
        await(node.close());

        // Then the account's money is all there for other nodes, none of it held
        assertThat(commands.reservationsHeld(account)).isZero();
        assertThat(commands.bulk("HGET", "th:q:{" + account + "}", "res")).isEqualTo("0");
    }

    @Test
    void aGatewayThatStopsGivesItsSharesBackBeforeItLeaves() {
        // Given a gateway whose key is busy enough for a share of its account
        FakeOpenAiUpstream upstream = new FakeOpenAiUpstream(vertx, "gpt-4o-mini").start();
        TestGateway gateway = TestGateway.start(upstream.miniCatalog(), "", TestCluster.REDIS);
        String accountId;
        try {
            JsonObject key = gateway.newKey(new JsonObject());
            accountId = key.getString("account_id");
            String body = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
            for (int i = 0; i < 20 && shareHeld(accountId) == 0; i++) {
                assertThat(gateway.post("/v1/chat/completions", key.getString("key"), body).statusCode()).isEqualTo(200);
            }
            assertThat(shareHeld(accountId)).as("a share held").isPositive();
            for (int i = 0; i < 20 && reservedAgainstShare(gateway) == 0; i++) {
                assertThat(gateway.post("/v1/chat/completions", key.getString("key"), body).statusCode()).isEqualTo(200);
            }
            assertThat(reservedAgainstShare(gateway)).as("reservations made against the share").isPositive();
        } finally {
            // When it stops
            gateway.close();
            upstream.stop();
        }

        // Then nothing of the account is held in Redis any more
        assertThat(commands.bulk("HGET", "th:q:{" + accountId + "}", "res")).isEqualTo("0");
    }

    @Test
    void anAccountWithAPlanGetsNoShareSoThatItsPlanPaysFirst() throws Exception {
        // Given an account granted a plan
        RedisQuota node = node(0.1);
        await(reserve(node, -1, 10));
        await(node.planGranted(account, new Quota.Plan("plan_" + account, 1_000_000, Instant.now().minusSeconds(60),
            Instant.now().plus(1, ChronoUnit.DAYS), List.of())));

        // When its key is busy, each request still reserves in Redis, the plan first
        for (int i = 0; i < 5; i++) {
            assertThat(await(reserve(node, -1, 100)).planTokens()).containsKey("plan_" + account);
        }
        assertThat(reservedAgainstShares).as("none against a share").hasValue(0);
        assertThat(shareHeld()).isZero();
    }

    @Test
    void countersLostInRedisAreRebuiltWithEveryChargeTheShareCarriedOnceAndThoseOnTheirWay() throws Exception {
        // Given a node whose share carried ten requests' charges to Redis (not yet in PostgreSQL)
        RedisQuota node = node(0.1);
        long spent = busy(node, -1);
        spent += awaitShare(node, -1);
        spent += settleThroughShare(node, 10);

        // When Redis loses the account's counters, and ten more requests settle against the share
        commands.forgetAccount(account);
        spent += settleThroughShare(node, 10);

        // Then the rebuilt wallet holds every charge once: PostgreSQL's balance, less what is not there yet
        assertThat(balance()).isEqualTo(1_000_000 - spent);
    }

    @Test
    void aRenewalRedisDoesNotAnswerChargesTheWalletAndTheShareIsNotUsedAgain() throws Exception {
        // Given a node reaching Redis through a network the test can silence, with a share held
        RedisQuota node = node(0.1, true);
        busy(node, -1);
        awaitShare(node, -1);
        Reservation made = reserve(node, -1, 450).result();

        // When Redis goes silent, the settlement waits for a renewal that is not answered
        network.partition();
        Payment paid = await(node.settle(made, 50, 400));

        // Then it is charged to the wallet (in PostgreSQL, with its usage record), and the share is dropped
        assertThat(paid.walletMicroUsd()).isEqualTo(400);
        int before = reservedAgainstShares.get();
        reserve(node, -1, 100);
        assertThat(reservedAgainstShares).as("not against the share").hasValue(before);
    }

    /**
     * @param lost the renewal is lost with its connection (else Redis takes it late, held on the
     *             connection meanwhile, and the late charge must not charge it again)
     */
    @ParameterizedTest(name = "lost with its connection: {0}")
    @ValueSource(booleans = {true, false})
    void aRenewalTheNodeGaveUpOnIsChargedInRedisOnceAndTheShareReleased(boolean lost) throws Exception {
        // Given a node with a share, and ten requests in flight against it when Redis goes silent
        RedisQuota node = node(0.1, true);
        long spent = busy(node, -1);
        spent += awaitShare(node, -1);
        List<Reservation> made = inFlight(node, 10);
        network.partition();

        // When they settle: their renewal is not answered, so they are charged to the wallet in
        // PostgreSQL; then Redis answers again, the renewal lost or taken late
        spent += settleAll(node, made);
        if (lost) {
            network.dropConnections();
        }
        network.heal();

        // Then Redis's wallet and the key's spend are charged each request once, and the share's hold
        // is released at once (before, the wallet stayed 4 000 micro-USD high, the hold until stale)
        long expected = 1_000_000 - spent;
        eventually(() -> commands.reservationsHeld(account) == 0 && balance() == expected, "Redis's wallet at "
            + expected + " with nothing held");
        assertThat(commands.bulk("HGET", "th:q:{" + account + "}", "res")).isEqualTo("0");
        assertThat(keySpend()).isEqualTo(spent);
    }

    @Test
    void requestsSettledAfterTheirShareBrokeAreChargedInRedisTooAndItsHoldGoesWithTheLast() throws Exception {
        // Given a node with a share, ten requests in flight against it when Redis goes silent
        // When five settle (their renewal is not answered: the share breaks), then the other five
        long spent = shareBrokenUnderTenRequests(node(0.1, true));
        network.heal();

        // Then Redis's wallet and the key's month are charged all ten once, and nothing is held
        // (before, the last five were charged in PostgreSQL only: the wallet 2 000 micro-USD high)
        long expected = 1_000_000 - spent;
        long charged = spent;
        eventually(() -> commands.reservationsHeld(account) == 0 && balance() == expected && keySpend() == charged,
            "Redis's wallet at " + expected + " and the key's month at " + charged + ", nothing held");
    }

    @Test
    void theChargesOfABrokenShareOfANodeThatStoppedAreRunByAnotherNodesSweep() throws Exception {
        // Given a node with a share, ten requests in flight against it when Redis goes silent
        // When they settle (the share breaks: they are charged to the wallet in PostgreSQL), and the
        // node stops before Redis answers again
        long spent = stoppedWithABrokenShare();

        // Then another node's sweep charges Redis's wallet and the key's month all ten once, and
        // nothing is held (they were lost with the stopped node's timers: the wallet 4 000 high)
        RedisQuota other = node(vertx, 0, false);
        other.sweep();
        long expected = 1_000_000 - spent;
        long charged = spent;
        eventually(() -> commands.reservationsHeld(account) == 0 && balance() == expected && keySpend() == charged,
            "Redis's wallet at " + expected + " and the key's month at " + charged + ", nothing held");
        assertThat(owedRows()).isZero();
    }

    @Test
    void aBrokenSharesChargesRunInTheirOrderThoughTheFirstWasClaimedByANodeThatFailed() throws Exception {
        // Given a node killed with a broken share's six charges owed (the renewal's first, which
        // carries five requests, then one per request settled after the break)
        Vertx killed = Vertx.vertx();
        long spent = shareBrokenUnderTenRequests(node(killed, 0.1, true));
        eventually(() -> owedRows() == 6, "the share's six charges kept");
        await(killed.close());
        network.dropConnections();
        network.heal();

        // When its first charge falls due and a node that cannot reach Redis claims it and fails,
        // then the others fall due and a node that can sweeps, and again once the claim ran out
        String first = database.query("SELECT id FROM hot_counter_repairs WHERE account_id = ? ORDER BY seq LIMIT 1",
            account).get(0).get("id").toString();
        dueNow("id = '" + first + "'");
        int nowhere;
        try (ServerSocket unused = new ServerSocket(0)) {
            nowhere = unused.getLocalPort();
        }
        node(vertx, nowhere).sweep();
        eventually(() -> database.count("SELECT count(*) FROM hot_counter_repairs WHERE id = ? AND due_at > now()",
            first) == 1, "the first charge claimed");
        dueNow("id <> '" + first + "'");
        RedisQuota other = node(vertx, commands.port());
        other.sweep();
        dueNow("true");
        other.sweep();
        eventually(() -> owedRows() == 0, "the charges run");

        // Then Redis's wallet is charged all ten requests once (a review: the others ran first, and
        // the first's five were never charged, 2 000 high)
        assertThat(balance()).isEqualTo(1_000_000 - spent);
        assertThat(commands.reservationsHeld(account)).isZero();
    }

    @Test
    void aBrokenSharesChargesRunAfterAnHourLongOutageAreCharged() throws Exception {
        // Given a node stopped with a broken share's charges owed
        long spent = stoppedWithABrokenShare();

        // When Redis answers again an hour later, and a node serves the account and sweeps
        RedisAPI redis = RedisAPI.api(Redis.createClient(vertx, "redis://127.0.0.1:" + commands.port()));
        RedisQuota other = new RedisQuota(redis, redis, new QuotaLoader(pool),
            Clock.offset(Clock.systemUTC(), Duration.ofMinutes(61)), vertx, () -> 0, () -> { }, PendingElsewhere.NONE,
            CounterRepairs.in(pool));
        spent += await(reserve(other, -1, 100).compose(r -> other.settle(r, 50, 100))).walletMicroUsd();
        other.sweep();
        eventually(() -> owedRows() == 0, "the owed charges run");

        // Then they are charged (a review: the sweep forgot the share's mark, an hour old, first, and
        // the charges, finding none, took the counters for rebuilt: 2 000 high)
        assertThat(balance()).isEqualTo(1_000_000 - spent);
    }

    /**
     * A node of its own with a share broken under ten requests ({@link #shareBrokenUnderTenRequests})
     * stops before Redis answers again, its connection lost; then Redis answers. Answers what the
     * requests cost.
     */
    private long stoppedWithABrokenShare() throws Exception {
        Vertx stopping = Vertx.vertx();
        RedisQuota node = node(stopping, 0.1, true);
        long spent = shareBrokenUnderTenRequests(node);
        await(node.close());
        await(stopping.close());
        network.dropConnections();
        network.heal();
        return spent;
    }

    private long owedRows() {
        return database.count("SELECT count(*) FROM hot_counter_repairs WHERE account_id = ?", account);
    }

    /** The account's charges Redis owes that match {@code condition} fall due now. */
    private void dueNow(String condition) throws Exception {
        await(pool.query("UPDATE hot_counter_repairs SET due_at = now() WHERE account_id = '" + account + "' AND "
            + condition).execute());
    }

    /**
     * The node gets a share, ten requests reserved against it, Redis goes silent, and they settle,
     * five then five: the first five's renewal is not answered, and the share breaks. Answers what
     * all the requests cost.
     */
    private long shareBrokenUnderTenRequests(RedisQuota node) throws Exception {
        long spent = busy(node, -1);
        spent += awaitShare(node, -1);
        List<Reservation> made = inFlight(node, 10);
        network.partition();
        spent += settleAll(node, made.subList(0, 5));
        return spent + settleAll(node, made.subList(5, 10));
    }

    /** {@code n} requests reserved against the node's share, in flight. */
    private List<Reservation> inFlight(RedisQuota node, int n) {
        List<Reservation> made = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Future<Reservation> reserved = reserve(node, -1, 450);
            assertThat(reserved.isComplete()).as("made against the share").isTrue();
            made.add(reserved.result());
        }
        return made;
    }

    /** Settles the requests at 400 each, all charged to the wallet; answers what they cost. */
    private long settleAll(RedisQuota node, List<Reservation> made) throws Exception {
        for (Payment paid : await(Future.all(made.stream().map(r -> node.settle(r, 50, 400)).toList())).<Payment>list()) {
            assertThat(paid.walletMicroUsd()).isEqualTo(400);
        }
        return 400L * made.size();
    }

    /**
     * Until the node's share is held in Redis, the node has heard so and no renewal is due soon, so
     * that its requests reserve against it: until it has one, the key is kept busy by requests
     * reserved and settled at 450; answers what they cost.
     */
    private long awaitShare(RedisQuota node, long cap) throws Exception {
        long spent = 0;
        long deadline = System.currentTimeMillis() + WAIT_MS;
        RedisQuota.ShareState state;
        while ((state = node.share("key_1")) != RedisQuota.ShareState.QUIET || shareHeld() == 0) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("no share held for the key within " + WAIT_MS + " ms");
            }
            if (state == RedisQuota.ShareState.NONE) {
                spent += await(node.settle(await(reserve(node, cap, 450)), 50, 450)).walletMicroUsd();
            } else {
                await(vertx.timer(5));  // its renewal on its way: let it be answered
            }
        }
        return spent;
    }

    /** {@code tokenhub_reservations_node_share_total} on the gateway's /metrics. */
    private static double reservedAgainstShare(TestGateway gateway) {
        String series = "tokenhub_reservations_node_share_total ";
        return gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/metrics")))).body().lines()
            .filter(line -> line.startsWith(series))
            .mapToDouble(line -> Double.parseDouble(line.substring(series.length())))
            .findFirst().orElseThrow(() -> new AssertionError("no " + series.trim() + " in /metrics"));
    }

    /** Reserves {@code n} requests against the share (each made at once) and settles them at 400; answers the cost. */
    private long settleThroughShare(RedisQuota node, int n) throws Exception {
        List<Reservation> made = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Future<Reservation> reserved = reserve(node, -1, 450);
            assertThat(reserved.isComplete()).as("made against the share").isTrue();
            made.add(reserved.result());
        }
        // Settled together, as requests in flight are: one renewal carries them all.
        List<Future<Payment>> paid = made.stream().map(r -> node.settle(r, 50, 400)).toList();
        await(Future.all(paid));
        return 400L * n;
    }

    /** Two reservations in a row (and their settlements at the estimate), which make the key busy. */
    private long busy(RedisQuota node, long cap) throws Exception {
        long spent = 0;
        for (int i = 0; i < 2; i++) {
            Reservation r = await(reserve(node, cap, 450));
            spent += await(node.settle(r, 50, 450)).walletMicroUsd();
        }
        return spent;
    }

    private Future<Reservation> reserve(RedisQuota node, long cap, long microUsd) {
        return node.reserve("req_" + sequence++, account, "key_1", cap, "m", 50, microUsd);
    }

    private RedisQuota node(double share) {
        return node(share, false);
    }

    /** A node with no share that keeps the charges Redis owes, its Redis at {@code port}. */
    private RedisQuota node(Vertx on, int port) {
        RedisAPI redis = RedisAPI.api(Redis.createClient(on, "redis://127.0.0.1:" + port));
        return new RedisQuota(redis, redis, new QuotaLoader(pool), Clock.systemUTC(), on, () -> 0, () -> { },
            PendingElsewhere.NONE, CounterRepairs.in(pool));
    }

    /** A node on {@code on} that keeps the charges Redis owes in PostgreSQL, as the gateway's do. */
    private RedisQuota node(Vertx on, double share, boolean throughProxy) {
        String url = throughProxy ? "redis://127.0.0.1:" + network.port()
            : System.getenv().getOrDefault("TOKENHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379");
        RedisAPI redis = RedisAPI.api(Redis.createClient(on, url));
        RedisQuota node = new RedisQuota(redis, redis, new QuotaLoader(pool), Clock.systemUTC(), on, () -> share,
            reservedAgainstShares::incrementAndGet, PendingElsewhere.NONE, CounterRepairs.in(pool));
        nodes.add(node);
        return node;
    }

    private RedisQuota node(double share, boolean throughProxy) {
        String url = throughProxy ? "redis://127.0.0.1:" + network.port()
            : System.getenv().getOrDefault("TOKENHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379");
        RedisAPI redis = RedisAPI.api(Redis.createClient(vertx, url));
        RedisQuota node = new RedisQuota(redis, redis, new QuotaLoader(pool), Clock.systemUTC(), vertx, share,
            reservedAgainstShares::incrementAndGet);
        nodes.add(node);
        return node;
    }

    private long shareHeld() {
        return shareHeld(account);
    }

    /** What Redis holds for shares of an account: the reservations whose id names a share. */
    private long shareHeld(String account) {
        return commands.integer("EVAL", """
            local held = 0
            local records = redis.call('HGETALL', KEYS[1])
            for i = 1, #records, 2 do
              if string.sub(records[i], 1, 6) == 'share:' then
                held = held + tonumber(string.match(records[i + 1], '^[^|]*|([^|]*)|'))
              end
            end
            return held""", "1", "th:r:{" + account + "}");
    }

    private long balance() {
        return Long.parseLong(commands.bulk("HGET", "th:q:{" + account + "}", "bal"));
    }

    private long keySpend() {
        return Long.parseLong(commands.bulk("HGET", "th:k:{" + account + "}:key_1", "spend"));
    }

    private static void eventually(java.util.function.BooleanSupplier condition, String what) {
        TestGateway.eventually(condition, WAIT_MS, what);
    }

    private static <T> T await(Future<T> future) throws Exception {
        return future.toCompletionStage().toCompletableFuture().get(WAIT_MS, TimeUnit.MILLISECONDS);
    }
}
