package io.tokenhub;

import io.tokenhub.accounting.AccountingVerticle;
import io.tokenhub.accounting.UsageEvent;
import io.tokenhub.accounting.UsageStatus;
import io.tokenhub.accounting.UsageSync;
import io.tokenhub.billing.ClusterPending;
import io.tokenhub.billing.CounterRepairs;
import io.tokenhub.billing.LocalQuota;
import io.tokenhub.billing.PendingElsewhere;
import io.tokenhub.billing.Quota;
import io.tokenhub.billing.QuotaLoader;
import io.tokenhub.billing.RedisQuota;
import io.tokenhub.billing.QuotaChanges;
import io.tokenhub.billing.Settled;
import io.vertx.redis.client.RedisAPI;
import io.vertx.redis.client.RedisOptions;
import io.tokenhub.accounting.UsageWriter;
import io.tokenhub.admin.AdminApi;
import io.tokenhub.admin.AdminAuth;
import io.tokenhub.admin.AdminStore;
import io.tokenhub.admin.Bootstrap;
import io.tokenhub.admin.UsageQueries;
import io.tokenhub.api.ApiVerticle;
import io.tokenhub.auth.Authenticator;
import io.tokenhub.auth.AuthVerticle;
import io.tokenhub.auth.KeyStore;
import io.tokenhub.config.ConfigException;
import io.tokenhub.config.ConfigLoader;
import io.tokenhub.config.TokenHubConfig;
import io.tokenhub.core.TokenCounter;
import io.tokenhub.ops.ManagementVerticle;
import io.tokenhub.telemetry.Metrics;
import io.tokenhub.routing.Catalog;
import io.tokenhub.routing.CatalogHolder;
import io.tokenhub.routing.CatalogReloader;
import io.tokenhub.limit.RateLimiter;
import io.tokenhub.routing.Upstreams;
import io.tokenhub.store.Database;
import io.tokenhub.store.EventLoopRedis;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.core.LifecycleEvent;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.DoubleSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Start-up and shutdown: reads the configuration, opens the database (embedded or not), creates
 * Vert.x, wires the shared services and deploys the verticles. The only class that knows every
 * implementation.
 */
public final class TokenHub {

    private static final Logger LOG = LoggerFactory.getLogger(TokenHub.class);
    private static final long START_TIMEOUT_MS = 120_000;
    /** The longest a stopping node waits to give its shares of accounts back (all of it when Redis does not answer). */
    public static final long SHARES_RETURN_MS = 5_000;

    private final TokenHubConfig config;
    private final Database database;
    private final Clustering clustering;
    private final Vertx vertx;
    private final Pool pool;
    /** Reports' reads (usage, logs), apart from the request path's {@link #pool}: {@link Database#reportPool}. */
    private final Pool reportPool;
    private final Metrics metrics;
    private final UsageStatus usageStatus;
    private final AtomicBoolean draining = new AtomicBoolean();
    /** Set once this node's Hazelcast member stopped by itself: out of the cluster for good. */
    private final AtomicBoolean orphaned = new AtomicBoolean();
    private final List<String> apiDeployments = new ArrayList<>();
    private final List<String> otherDeployments = new ArrayList<>();
    private Upstreams upstreams;
    private Quota quota;
    private RedisAPI redis;
    private int apiPort;
    private int managementPort;
    private Bootstrap.Keys bootstrapKeys;

    private TokenHub(TokenHubConfig config, Database database, Clustering clustering, Vertx vertx, Pool pool,
                     Pool reportPool, Metrics metrics) {
        this.config = config;
        this.database = database;
        this.clustering = clustering;
        this.vertx = vertx;
        this.pool = pool;
        this.reportPool = reportPool;
        this.metrics = metrics;
        this.usageStatus = new UsageStatus();
    }

    /** What the command line takes. */
    static final String USAGE = "usage: java -jar tokenhub.jar [--config PATH]\n"
        + "  --config PATH  the configuration file (else $TOKENHUB_CONFIG, else conf/tokenhub.yaml under the working "
        + "directory)";

    public static void main(String[] args) {
        if (List.of(args).contains("--help") || List.of(args).contains("-h")) {
            System.out.println(USAGE);
            System.exit(0);
            return;
        }
        String wrong = argumentProblem(args);
        if (wrong != null) {
            System.err.println("TokenHub: " + wrong + "\n" + USAGE);
            System.exit(2);
            return;
        }
        TokenHubConfig config;
        try {
            config = ConfigLoader.fromEnvironment().load(ConfigLoader.locate(args, System::getenv));
        } catch (ConfigException e) {
            System.err.println("TokenHub cannot start: " + e.getMessage());
            Path file = ConfigLoader.locate(args, System::getenv);
            if (!Files.exists(file)) {
                System.err.println("(" + file.toAbsolutePath() + " does not exist; " + USAGE.substring(7) + ")");
            }
            System.exit(2);
            return;
        }
        try {
            TokenHub hub = start(config, ConfigLoader.locate(args, System::getenv));
            Runtime.getRuntime().addShutdownHook(new Thread(hub::close, "tokenhub-shutdown"));
            hub.database.stopWithTheGateway();
            hub.printWelcome();
        } catch (RuntimeException e) {
            // What went wrong, in a line an operator reads first (a port taken, a database refusing);
            // the stack trace below it.
            LOG.error("TokenHub failed to start: {}", causes(e));
            LOG.error("the failure in full", e);
            System.exit(1);
        }
    }

    /**
     * Starts a gateway for this configuration and waits until it serves. Blocking (it opens the
     * database and waits for deployment): call it from a plain thread, never an event loop.
     */
    public static TokenHub start(TokenHubConfig config) {
        return start(config, null);
    }

    /** @param source the file the configuration came from, read again by {@code POST /admin/v1/reload} */
    public static TokenHub start(TokenHubConfig config, Path source) {
        // Loading the tokenizer's vocabulary takes seconds: do it here, not on the first request's event loop.
        TokenCounter.count("warm up");
        Database database = Database.open(config.storage());
        Metrics metrics = new Metrics();
        Clustering clustering = Clustering.of(config, source);
        Vertx vertx;
        try {
            vertx = await(clustering.vertx(metrics), START_TIMEOUT_MS);
        } catch (RuntimeException e) {
            database.close();
            throw e;
        }
        TokenHub hub = new TokenHub(config, database, clustering, vertx, database.pool(vertx),
            database.reportPool(vertx, config.storage().reportPoolSize(), config.storage().reportTimeoutMs()), metrics);
        try {
            await(hub.deploy(source), START_TIMEOUT_MS);
            hub.describeStart(source);
            return hub;
        } catch (RuntimeException e) {
            LOG.error("start-up failed, shutting down: {}", e.toString());
            hub.close();
            throw e;
        }
    }

    private Future<Void> deploy(Path source) {
        CatalogHolder catalog = new CatalogHolder(Catalog.of(config));
        quota = quota(config, vertx, pool, () -> catalog.get().billing().nodeShare());
        vertx.setPeriodic(60_000, id -> quota.sweep());
        upstreams = new Upstreams(vertx, metrics);
        upstreams.track(catalog.get());
        upstreams.listen();
        CatalogReloader reloader = new CatalogReloader(vertx, source, ConfigLoader.fromEnvironment(), config, catalog,
            upstreams);
        Future<Void> caughtUp = reloader.listen();
        RateLimiter limiter = new RateLimiter(clustering.counter());
        vertx.setPeriodic(500, id -> limiter.releaseIdle());
        KeyStore keyStore = new KeyStore(pool);
        Authenticator auth = new Authenticator(keyStore, Clock.systemUTC());
        QuotaChanges quotaChanges = new QuotaChanges(vertx, quota);
        quotaChanges.listen();
        // A node that was cut off and merged back missed the revocations published meanwhile. One whose
        // member stopped by itself (its out-of-memory handler, a failed merge) is out for good: it
        // answers 503 and fails its liveness probe, so that it is restarted.
        // How many members this node sees in its cluster: an alert on fewer than the replicas catches a
        // split or a node that never joined (until 2026-12-08 the cluster showed only as "UP").
        clustering.hazelcast().ifPresent(hz -> metrics.gauge("tokenhub_cluster_members",
            "members of the Hazelcast cluster this node sees (0 once its member stopped)",
            () -> hz.getLifecycleService().isRunning() ? hz.getCluster().getMembers().size() : 0));
        clustering.hazelcast().ifPresent(hz -> hz.getLifecycleService().addLifecycleListener(event -> {
            if (event.getState() == LifecycleEvent.LifecycleState.MERGED) {
                LOG.warn("rejoined the cluster after a split: the key cache is emptied, and rate limits "
                    + "counted apart meanwhile");
                auth.invalidateAll();
            } else if (event.getState() == LifecycleEvent.LifecycleState.SHUTTING_DOWN && !draining.get()
                && !orphaned.getAndSet(true)) {
                LOG.error("this node's Hazelcast member is stopping, not by this node's own stop: it serves no "
                    + "requests (503) and reports itself not live, to be restarted");
            }
        }));
        AdminStore adminStore = new AdminStore(pool);
        UsageSync usageSync = new UsageSync(vertx);
        AdminAuth adminAuth = new AdminAuth(config.admin().masterKey(), config.admin().bootstrap(), keyStore);
        AdminApi admin = new AdminApi(vertx, adminStore, adminAuth, catalog,
            auth::invalidateKey, upstreams::describe, quotaChanges,
            reloader::reloadEverywhere, usageSync, clustering.signInCounter(),
            new UsageQueries(reportPool, Clock.systemUTC(), config.storage().reportTimeoutMs()));
        apiPort = config.server().port() == 0 ? freePort() : config.server().port();
        managementPort = config.server().managementPort() == 0 ? freePort() : config.server().managementPort();
        var server = config.server();
        var apiShared = new ApiVerticle.Shared(
            new TokenHubConfig.Server(server.host(), apiPort, managementPort, server.instances(),
                server.maxBodyBytes(), server.shutdownGraceMs()),
            catalog, auth, metrics, admin, upstreams, quota, limiter, usageSync, orphaned);
        Path spool = Path.of(config.storage().dataDir(), "spool");
        // The catalog caught up with a reload published while this node started, before it serves.
        return caughtUp.compose(v -> deployOther(new AuthVerticle(auth)))
            // Before the API serves: an earlier run's records on disk are pending in the counters it loads.
            .compose(v -> deployOther(new AccountingVerticle(config.accounting(), new UsageWriter(pool), spool,
                usageStatus, batch -> quota.durable(settled(batch)), batch -> quota.foundOnDisk(settled(batch))),
                AccountingVerticle.deployment()))
            .compose(v -> vertx.deployVerticle(() -> new ApiVerticle(apiShared),
                new DeploymentOptions().setInstances(server.effectiveInstances())))
            .compose(id -> {
                apiDeployments.add(id);
                return deployOther(new ManagementVerticle(server.host(), managementPort, metrics, readinessChecks(),
                    usageStatus, draining, orphaned));
            })
            .compose(v -> config.admin().bootstrap()
                ? Bootstrap.run(adminStore, config.billing().signupCreditMicroUsd())
                : Future.succeededFuture(Optional.<Bootstrap.Keys>empty()))
            .map(keys -> {
                bootstrapKeys = keys.orElse(null);
                return null;
            });
    }

    private static List<Settled> settled(List<UsageEvent> batch) {
        return batch.stream().map(e -> new Settled(e.accountId(), e.keyId(), e.costMicroUsd(), e.payment())).toList();
    }

    /**
     * Hot counters in Redis when configured (shared by every node), else in this process.
     *
     * @param nodeShare {@code billing.node_share} of the catalog in use (a reload changes it)
     */
    private Quota quota(TokenHubConfig config, Vertx vertx, Pool pool, DoubleSupplier nodeShare) {
        QuotaLoader loader = new QuotaLoader(pool);
        if ("none".equals(config.storage().redis())) {
            return new LocalQuota(loader, Clock.systemUTC());
        }
        EventLoopRedis client = new EventLoopRedis(vertx, new RedisOptions()
            .setConnectionString(config.storage().redis())
            .setMaxPoolSize(32).setMaxPoolWaiting(10_000).setMaxWaitingHandlers(10_000));
        redis = RedisAPI.api(client);
        ClusterPending elsewhere = clustering.hazelcast().map(hz -> new ClusterPending(vertx, hz)).orElse(null);
        RedisQuota counters = new RedisQuota(redis, RedisAPI.api(client.later()), loader, Clock.systemUTC(), vertx,
            nodeShare, metrics::reservationAgainstNodeShare,
            elsewhere == null ? PendingElsewhere.NONE : elsewhere, CounterRepairs.in(pool));
        if (elsewhere != null) {
            elsewhere.answerWith(counters::pendingHere);
        }
        return counters;
    }

    private List<ManagementVerticle.Check> readinessChecks() {
        List<ManagementVerticle.Check> checks = new ArrayList<>();
        checks.add(new ManagementVerticle.Check("postgres", () -> pool.query("SELECT 1").execute()));
        if (redis != null) {
            checks.add(new ManagementVerticle.Check("redis", () -> redis.ping(List.of())));
        }
        if (config.cluster().enabled()) {
            checks.add(new ManagementVerticle.Check("cluster", () -> clustering.isActive()
                ? Future.succeededFuture() : Future.failedFuture("not a cluster member")));
        }
        return checks;
    }

    private Future<Void> deployOther(io.vertx.core.Deployable verticle) {
        return deployOther(verticle, new DeploymentOptions());
    }

    private Future<Void> deployOther(io.vertx.core.Deployable verticle, DeploymentOptions options) {
        return vertx.deployVerticle(verticle, options)
            .map(id -> {
                otherDeployments.add(id);
                return null;
            });
    }

    /**
     * Says in the log what this node runs on (an operator reading it first asks), and what will not
     * work: an admin API turned off, a Redis that does not answer (requests are refused until it does).
     */
    private void describeStart(Path source) {
        TokenHubConfig.Storage storage = config.storage();
        LOG.info("serving: configuration {}, database {}, counters {}, {}",
            source == null ? "given in code" : source.toAbsolutePath(),
            storage.embeddedPostgres() ? "embedded in " + Path.of(storage.dataDir()).toAbsolutePath()
                : TokenHubConfig.Storage.redact(storage.postgres()),
            redis == null ? "in this process" : "in Redis " + TokenHubConfig.Storage.redact(storage.redis()),
            config.cluster().enabled() ? "a cluster's node" : "one node");
        if (config.admin().masterKey().isEmpty() && !config.admin().bootstrap()) {
            LOG.warn("the admin API is off: admin.master_key is empty and admin.bootstrap is false");
        }
        if (redis != null) {
            redis.ping(List.of()).timeout(2, TimeUnit.SECONDS).onFailure(failure -> LOG.warn(
                "Redis does not answer ({}): requests are refused with 503 until it does", failure.toString()));
        }
    }

    private void printWelcome() {
        String base = "http://localhost:" + apiPort;
        StringBuilder out = new StringBuilder()
            .append("\nTokenHub is up: API ").append(base).append("/v1, console ").append(base)
            .append("/console, metrics and health on port ").append(managementPort).append('\n');
        if (bootstrapKeys != null) {
            out.append("\nFirst start: these keys are shown once, store them now.\n")
                .append("  admin key:   ").append(bootstrapKeys.adminKey())
                .append(config.admin().masterKey().isEmpty() ? "" : "  (not in use while admin.master_key is set)")
                .append('\n')
                .append("  API key:     ").append(bootstrapKeys.apiKey()).append("  (account ")
                .append(bootstrapKeys.accountId()).append(")\n")
                .append("\nTry it:\n  curl ").append(base).append("/v1/chat/completions -H 'Authorization: Bearer ")
                .append(bootstrapKeys.apiKey()).append("' -H 'Content-Type: application/json' \\\n")
                .append("    -d '{\"model\":\"mock-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'\n");
        }
        System.out.println(out);
    }

    /**
     * Graceful stop, blocking: not ready any more; stop accepting and let requests and streams
     * finish (bounded by {@code server.shutdown_grace_ms}); flush usage; close the database pool;
     * leave the cluster (closing Vert.x). Every step is bounded, and one that fails or overruns is
     * logged and does not keep the later ones from running: a node must always leave.
     */
    public void close() {
        long started = System.nanoTime();
        // Said at each step, so that a pod's log tells a clean stop from a crash.
        LOG.info("stopping: not ready any more; requests and streams in flight have {} ms to finish",
            config.server().shutdownGraceMs());
        draining.set(true);
        bounded("draining and undeploying the verticles", this::undeployAll,
            config.server().shutdownGraceMs() + 30_000);
        // The requests are done and their charges in Redis: what this node's shares of accounts still
        // hold goes back to them now, not once it is stale; charges Redis has not taken are left to
        // the other nodes' sweeps (CounterRepairs), with the pool still open to say so.
        bounded("giving back this node's shares of accounts",
            () -> quota == null ? Future.succeededFuture() : quota.close(), SHARES_RETURN_MS);
        LOG.info("stopping: requests done and usage written (or spooled, said above) after {} ms; leaving",
            elapsedMs(started));
        // Closed from this (non-Vert.x) thread, so that nothing is left to run on a stopped event loop.
        bounded("closing the database pool", pool::close, 10_000);
        bounded("closing the reports' database pool", reportPool::close, 10_000);
        bounded("closing Vert.x and leaving the cluster", vertx::close, 30_000);
        database.close();
        LOG.info("stopped after {} ms", elapsedMs(started));
    }

    /**
     * What is wrong with the command line, or null: it takes one {@code --config PATH} (and
     * {@code --help}). Until 2026-12-07 other arguments were ignored ({@code --conf FILE} started on the
     * default file), and until 2026-12-08 a second {@code --config}.
     */
    static String argumentProblem(String[] args) {
        int configs = 0;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--config")) {
                if (++i == args.length) {
                    return "--config needs a path";
                }
                configs++;
            } else if (args[i].startsWith("--config=")) {
                configs++;
            } else {
                return "unknown argument '" + args[i] + "'";
            }
        }
        // (the first one given was read, the others ignored)
        return configs > 1 ? "--config given more than once" : null;
    }

    /** The messages of a failure and of its causes, most general first. */
    static String causes(Throwable failure) {
        StringBuilder text = new StringBuilder();
        for (Throwable t = failure; t != null && text.length() < 1_000; t = t.getCause() == t ? null : t.getCause()) {
            String message = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
            if (text.indexOf(message) < 0) {
                text.append(text.length() == 0 ? "" : ": ").append(message);
            }
        }
        return text.toString();
    }

    private static long elapsedMs(long startNanos) {
        return (System.nanoTime() - startNanos) / 1_000_000;
    }

    private static void bounded(String step, Supplier<Future<?>> action, long timeoutMs) {
        try {
            await(action.get(), timeoutMs);
        } catch (RuntimeException e) {
            LOG.warn("shutdown: {} did not finish cleanly: {}", step, e.toString());
        }
    }

    private Future<Void> undeployAll() {
        Future<Void> chain = Future.succeededFuture();
        for (String id : apiDeployments) {
            chain = chain.eventually(() -> vertx.undeploy(id));
        }
        // The accounting verticle goes after the API verticles have flushed their last usage into it.
        for (int i = otherDeployments.size() - 1; i >= 0; i--) {
            String id = otherDeployments.get(i);
            chain = chain.eventually(() -> vertx.undeploy(id));
        }
        return chain;
    }

    private static <T> T await(Future<T> future, long timeoutMs) {
        try {
            return future.toCompletionStage().toCompletableFuture().get(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("timed out after " + timeoutMs + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted");
        }
    }

    public int apiPort() {
        return apiPort;
    }

    public int managementPort() {
        return managementPort;
    }

    public Vertx vertx() {
        return vertx;
    }

    /** This node's Hazelcast member when clustered: for operations tooling and tests that stop a member. */
    public Optional<HazelcastInstance> hazelcast() {
        return clustering.hazelcast();
    }

    public Optional<Bootstrap.Keys> bootstrapKeys() {
        return Optional.ofNullable(bootstrapKeys);
    }

    public UsageStatus usageStatus() {
        return usageStatus;
    }

    private static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
