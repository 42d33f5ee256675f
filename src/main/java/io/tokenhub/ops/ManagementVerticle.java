package io.tokenhub.ops;

import io.micrometer.core.instrument.FunctionCounter;
import io.tokenhub.accounting.UsageStatus;
import io.tokenhub.api.ErrorWriter;
import io.tokenhub.api.RequestIds;
import io.tokenhub.telemetry.Metrics;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.micrometer.PrometheusScrapingHandler;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

/**
 * The management port (9090): {@code /metrics} for Prometheus, {@code /health/live} (the process
 * answers) and {@code /health/ready} (PostgreSQL, Redis and the cluster reachable, and not shutting
 * down). Dependencies are probed in the background, so a probe never waits on them; each probe is
 * bounded by {@link #CHECK_TIMEOUT_MS}, so a dependency that stops answering (a server that keeps
 * the connection open but says nothing) turns DOWN instead of staying at its last answer.
 */
public final class ManagementVerticle extends VerticleBase {

    private static final long PROBE_MS = 1_000;
    /**
     * Longest a dependency may take to answer a probe before it counts as DOWN. Healthy, PostgreSQL
     * and Redis answer in milliseconds; 2 s matches the Kubernetes probe's own {@code timeoutSeconds}
     * (k8s/deployment.yaml), so a silent dependency shows within one probe period (5 s) there.
     */
    static final long CHECK_TIMEOUT_MS = 2_000;

    /** One dependency readiness waits for, probed in the background. */
    public record Check(String name, Supplier<Future<?>> probe) {
    }

    /** A check's latest known state; {@code probe} orders results, so a late answer never hides a newer one. */
    private record State(long probe, boolean up, String reason) {
        static final State UNKNOWN = new State(-1, false, "not probed yet");

        State newest(State other) {
            return other.probe > probe ? other : this;
        }
    }

    private final String host;
    private final int port;
    private final Metrics metrics;
    private final List<Check> checks;
    private final UsageStatus usage;
    private final AtomicBoolean draining;
    private final AtomicBoolean orphaned;
    /** Written from the probes' contexts, read by the HTTP handler. */
    private final Map<String, State> states = new ConcurrentHashMap<>();
    private long probes;
    private HttpServer server;

    /**
     * @param host     the API's address ({@code server.host}): an operator who keeps the API on
     *                 loopback keeps the metrics and health there too
     * @param checks   PostgreSQL, and Redis and the cluster when configured
     * @param draining set once shutdown has begun: the node is no longer ready
     */
    /** @param orphaned set once the node's Hazelcast member stopped by itself: not live, to be restarted */
    public ManagementVerticle(String host, int port, Metrics metrics, List<Check> checks, UsageStatus usage,
                              AtomicBoolean draining, AtomicBoolean orphaned) {
        this.host = host;
        this.port = port;
        this.metrics = metrics;
        this.checks = checks;
        this.usage = usage;
        this.draining = draining;
        this.orphaned = orphaned;
    }

    @Override
    public Future<?> start() {
        metrics.gauge("tokenhub_usage_queue_depth", "Usage records not yet written to PostgreSQL", usage::backlog);
        // Counters, not gauges: Prometheus exports a gauge named *_total without its suffix.
        FunctionCounter.builder("tokenhub_usage_dropped_total", usage, UsageStatus::droppedTotal)
            .description("Usage records dropped because memory and spool were full").register(metrics.meterRegistry());
        FunctionCounter.builder("tokenhub_usage_spool_rejected_total", usage, UsageStatus::spoolRejectedTotal)
            .description("Spooled usage lines that could not be read back, kept aside in *.bad files in the spool")
            .register(metrics.meterRegistry());
        Router router = Router.router(vertx);
        router.route().handler(RequestIds::assign);
        router.get("/metrics").handler(PrometheusScrapingHandler.create(metrics.registry()));
        router.get("/health/live").handler(ctx -> json(ctx, orphaned.get() ? 503 : 200, orphaned.get()
            ? new JsonObject().put("status", "DOWN").put("reason", "this node's Hazelcast member stopped: restart it")
            : new JsonObject().put("status", "UP")));
        router.get("/health/ready").handler(this::ready);
        ErrorWriter.unknownPaths(router);
        vertx.setPeriodic(0, PROBE_MS, id -> probe());
        server = vertx.createHttpServer();
        return server.requestHandler(router).listen(port, host)
            .recover(failure -> Future.failedFuture(new IllegalStateException("cannot listen on " + host + ":" + port
                + " (server.management_port): " + failure.getMessage())));
    }

    private void probe() {
        long probe = probes++;
        for (Check check : checks) {
            Future<?> result;
            try {
                result = check.probe().get();
            } catch (RuntimeException e) {
                result = Future.failedFuture(e);
            }
            result.timeout(CHECK_TIMEOUT_MS, TimeUnit.MILLISECONDS).onComplete(ar -> states.merge(check.name(),
                new State(probe, ar.succeeded(), ar.succeeded() ? "" : reason(ar.cause())), State::newest));
        }
    }

    private static String reason(Throwable cause) {
        if (cause instanceof TimeoutException) {
            return "no answer within " + CHECK_TIMEOUT_MS + " ms";
        }
        return cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
    }

    private void ready(RoutingContext ctx) {
        JsonObject up = new JsonObject();
        JsonObject reasons = new JsonObject();
        boolean ready = !draining.get();
        for (Check check : checks) {
            State state = states.getOrDefault(check.name(), State.UNKNOWN);
            up.put(check.name(), state.up() ? "UP" : "DOWN");
            if (!state.up()) {
                reasons.put(check.name(), state.reason());
            }
            ready &= state.up();
        }
        JsonObject body = new JsonObject()
            .put("status", ready ? "UP" : "DOWN")
            .put("checks", up.put("draining", draining.get()))
            .put("reasons", reasons)
            .put("usage", new JsonObject()
                .put("backlog", usage.backlog())
                .put("writes", usage.isDatabaseUp() ? "OK" : "FAILING: " + usage.lastError())
                .put("dropped", usage.droppedTotal())
                .put("spool_rejected", usage.spoolRejectedTotal()));
        json(ctx, ready ? 200 : 503, body);
    }

    private static void json(RoutingContext ctx, int status, JsonObject body) {
        ctx.response().setStatusCode(status).putHeader("Content-Type", "application/json").end(body.encode());
    }

    public int actualPort() {
        return server.actualPort();
    }
}
