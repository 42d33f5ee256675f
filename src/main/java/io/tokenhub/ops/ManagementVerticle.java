package io.tokenhub.ops;

import io.tokenhub.accounting.UsageStatus;
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
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

/**
 * The management port (9090): {@code /metrics} for Prometheus, {@code /health/live} (the process
 * answers) and {@code /health/ready} (PostgreSQL, Redis and the cluster reachable, and not shutting
 * down). Dependencies are probed in the background, so a probe never waits on them.
 */
public final class ManagementVerticle extends VerticleBase {

    private static final long PROBE_MS = 1_000;

    /** One dependency readiness waits for, probed in the background. */
    public record Check(String name, Supplier<Future<?>> probe) {
    }

    private final int port;
    private final Metrics metrics;
    private final List<Check> checks;
    private final UsageStatus usage;
    private final AtomicBoolean draining;
    private final Map<String, Boolean> up = new ConcurrentHashMap<>();
    private HttpServer server;

    /**
     * @param checks   PostgreSQL, and Redis and the cluster when configured
     * @param draining set once shutdown has begun: the node is no longer ready
     */
    public ManagementVerticle(int port, Metrics metrics, List<Check> checks, UsageStatus usage,
                              AtomicBoolean draining) {
        this.port = port;
        this.metrics = metrics;
        this.checks = checks;
        this.usage = usage;
        this.draining = draining;
    }

    @Override
    public Future<?> start() {
        metrics.gauge("tokenhub_usage_queue_depth", "Usage records not yet written to PostgreSQL", usage::backlog);
        metrics.gauge("tokenhub_usage_dropped_total", "Usage records dropped because memory and spool were full",
            usage::droppedTotal);
        Router router = Router.router(vertx);
        router.get("/metrics").handler(PrometheusScrapingHandler.create(metrics.registry()));
        router.get("/health/live").handler(ctx -> json(ctx, 200, new JsonObject().put("status", "UP")));
        router.get("/health/ready").handler(this::ready);
        vertx.setPeriodic(0, PROBE_MS, id -> probe());
        server = vertx.createHttpServer();
        return server.requestHandler(router).listen(port);
    }

    private void probe() {
        for (Check check : checks) {
            Future<?> result;
            try {
                result = check.probe().get();
            } catch (RuntimeException e) {
                result = Future.failedFuture(e);
            }
            result.onComplete(ar -> up.put(check.name(), ar.succeeded()));
        }
    }

    private void ready(RoutingContext ctx) {
        JsonObject states = new JsonObject();
        boolean ready = !draining.get();
        for (Check check : checks) {
            boolean ok = up.getOrDefault(check.name(), false);
            states.put(check.name(), ok ? "UP" : "DOWN");
            ready &= ok;
        }
        JsonObject body = new JsonObject()
            .put("status", ready ? "UP" : "DOWN")
            .put("checks", states.put("draining", draining.get()))
            .put("usage", new JsonObject()
                .put("backlog", usage.backlog())
                .put("writes", usage.isDatabaseUp() ? "OK" : "FAILING: " + usage.lastError())
                .put("dropped", usage.droppedTotal()));
        json(ctx, ready ? 200 : 503, body);
    }

    private static void json(RoutingContext ctx, int status, JsonObject body) {
        ctx.response().setStatusCode(status).putHeader("Content-Type", "application/json").end(body.encode());
    }

    public int actualPort() {
        return server.actualPort();
    }
}
