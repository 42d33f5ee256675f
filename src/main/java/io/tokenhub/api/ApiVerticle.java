package io.tokenhub.api;

import io.tokenhub.accounting.UsageRecorder;
import io.tokenhub.accounting.UsageSync;
import io.tokenhub.admin.AdminApi;
import io.tokenhub.auth.Authenticator;
import io.tokenhub.billing.Quota;
import io.tokenhub.config.TokenHubConfig.Provider;
import io.tokenhub.config.TokenHubConfig.Server;
import io.tokenhub.core.ApiError;
import io.tokenhub.core.ApiException;
import io.tokenhub.core.ConsolidatedWrites;
import io.tokenhub.limit.RateLimiter;
import io.tokenhub.provider.ProviderAdapter;
import io.tokenhub.provider.Providers;
import io.tokenhub.routing.CatalogHolder;
import io.tokenhub.routing.Dispatcher;
import io.tokenhub.routing.Upstreams;
import io.tokenhub.telemetry.Metrics;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import io.vertx.ext.web.handler.CorsHandler;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiConsumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The public HTTP edge on port 8080, one instance per event loop: the OpenAI-compatible API under
 * {@code /v1} (and {@code /api/v1}) and the admin API under {@code /admin/v1}. Each instance owns
 * its HTTP clients to the upstreams (one for HTTP/1.1, one for HTTP/2), its adapters and its usage buffer.
 */
public final class ApiVerticle extends VerticleBase {

    /** What every instance shares: thread-safe services built once at start-up. */
    /** @param orphaned set once this node's Hazelcast member stopped by itself: no cluster member any more */
    public record Shared(Server server, CatalogHolder catalog, Authenticator auth,
                         Metrics metrics, AdminApi admin, Upstreams upstreams, Quota quota, RateLimiter limiter,
                         UsageSync usageSync, AtomicBoolean orphaned) {
    }

    /**
     * Longest a stopping instance waits, once its connections are closed, for the usage of its last
     * requests (a Redis round trip each) before the final flush: part of the shutdown budget of
     * k8s/deployment.yaml.
     */
    public static final long RECORD_WAIT_MS = 2_000;
    /** How long before the end of the shutdown grace a lost connection counts as cut by this node. */
    private static final long CUT_MARGIN_MS = 20;
    private static final Logger LOG = LoggerFactory.getLogger(ApiVerticle.class);

    /** A provider's adapter, the provider's settings it was made for, and its HTTP client. */
    private record Adapted(Provider provider, HttpClient client, ProviderAdapter adapter) {
    }

    /** How long a client a reload replaced lets the calls in flight on it finish (streams included). */
    private static final long REPLACED_CLIENT_GRACE_MINUTES = 10;

    private final Shared shared;
    private static final int TOKENIZER_THREADS = 2;

    private HttpServer server;
    private WorkerExecutor tokenizer;
    /** By provider id: the provider in force's, or a removed provider's (requests in flight may still call it). */
    private final Map<String, Adapted> adapters = new HashMap<>();
    private UsageRecorder recorder;
    private Outcome outcome;
    private Runnable unregisterSync = () -> { };

    public ApiVerticle(Shared shared) {
        this.shared = shared;
    }

    @Override
    public Future<?> start() {
        recorder = new UsageRecorder(vertx);
        // Adapters follow the catalog in force: a reload that changes a provider gets a fresh adapter
        // and client, which replace the old ones (requests in flight finish on theirs). Found by id:
        // the provider's record is compared only when a reload made a new one, not hashed on every request.
        Dispatcher dispatcher = new Dispatcher(id -> shared.catalog().get().provider(id)
            .map(p -> {
                Adapted known = adapters.get(p.id());
                if (known == null || known.provider() != p && !known.provider().equals(p)) {
                    HttpClient client = client(p);
                    Adapted replaced = adapters.put(p.id(), known = new Adapted(p, client,
                        Providers.create(vertx, client, p)));
                    if (replaced != null) {
                        replaced.client().shutdown(REPLACED_CLIENT_GRACE_MINUTES, TimeUnit.MINUTES);
                    }
                }
                return known.adapter();
            })
            // A provider a reload removed: the requests in flight that planned with it keep its adapter.
            .orElseGet(() -> adapters.containsKey(id) ? adapters.get(id).adapter() : null),
            shared.upstreams(), shared.metrics(), vertx);
        outcome = new Outcome(recorder, shared.metrics(), shared.quota(),
            new Limits(shared.limiter(), shared.metrics()));
        unregisterSync = shared.usageSync().register(context,
            () -> outcome.settled().andThen(ar -> recorder.flush()));
        // Long prompts are tokenized on workers of their own, two per node: a client sending many of
        // them (before any limit applies) gets no more, and leaves the shared worker pool alone.
        tokenizer = vertx.createSharedWorkerExecutor("tokenhub-tokenizer", TOKENIZER_THREADS);
        ChatRequestParser.PromptCounter offLoop = tokenize -> tokenizer.executeBlocking(tokenize, false);
        ChatHandler chat = new ChatHandler(shared.auth(), shared.catalog(), dispatcher, outcome, shared.metrics(),
            offLoop);
        OneShotHandler embeddings = new OneShotHandler(OneShotHandler.embeddings(), shared.auth(), shared.catalog(),
            dispatcher, outcome, offLoop);
        OneShotHandler rerank = new OneShotHandler(OneShotHandler.rerank(), shared.auth(), shared.catalog(),
            dispatcher, outcome, offLoop);
        ModelsHandler models = new ModelsHandler(shared.auth(), shared.catalog());
        UsageHandler usage = new UsageHandler(shared.auth(), shared.catalog(), shared.admin().usageQueries(),
            shared.usageSync());

        Router router = Router.router(vertx);
        long maxBody = shared.server().maxBodyBytes();
        BodyHandler body = BodyHandler.create(false).setBodyLimit(maxBody);
        AtomicBoolean orphaned = shared.orphaned();
        router.route().handler(ctx -> {
            if (orphaned.get()) {
                // Out of the cluster, this node can neither hold the shared rate limits nor hear of
                // revoked keys: a retry (SDKs retry a 503) on a new connection reaches another node.
                ctx.response().putHeader(HttpHeaders.CONNECTION, HttpHeaders.CLOSE);
                ErrorWriter.write(ctx.response(), new ApiError.Unavailable("This node has left the cluster and "
                    + "serves no requests until it is restarted; retry the request.").toException());
                return;
            }
            if (ctx.response().writeQueueFull()) {
                // The answers this connection's client has not read fill its write queue: this
                // request waits for them to leave, and the connection is not read meanwhile (Vert.x
                // reads a pipelined request only once the one before it is answered). Until
                // 2026-12-08 a client that pipelined requests and read nothing had every answer
                // queued in memory: 8 MB of requests without a key held 87 MB of heap.
                ctx.request().pause();
                ctx.response().drainHandler(drained -> {
                    ctx.request().resume();
                    RequestIds.assign(ctx);
                });
                return;
            }
            RequestIds.assign(ctx);
        });
        CorsHandler cors = cors();
        var keyFirst = Bodies.credentialFirst(c -> Keys.of(c, shared.auth()), outcome::refused);
        var modelLimit = Bodies.limit(maxBody, outcome::refused);
        BiConsumer<RoutingContext, Throwable> answer = (c, e) -> ErrorWriter.write(c.response(), e);
        for (String base : List.of("/v1", "/api/v1")) {
            router.route(base + "/*").handler(cors);
            router.post(base + "/chat/completions").handler(modelLimit).handler(keyFirst).handler(body).handler(chat);
            router.post(base + "/embeddings").handler(modelLimit).handler(keyFirst).handler(body).handler(embeddings);
            router.post(base + "/rerank").handler(modelLimit).handler(keyFirst).handler(body).handler(rerank);
            router.get(base + "/models").handler(models::list);
            // A regex, not ":id": a model id may be provider/model, with a slash in it (a trailing
            // one is not part of it, as for the plain paths).
            router.getWithRegex(base + "/models/(?<id>.+?)/?").handler(models::get);
            router.get(base + "/usage").handler(usage::usage);
            router.get(base + "/dashboard/billing/subscription").handler(usage::subscription);
            router.get(base + "/dashboard/billing/usage").handler(usage::billingUsage);
        }
        router.route("/admin/v1/*").handler(Bodies.limit(maxBody, answer))
            .handler(Bodies.credentialFirst(shared.admin()::authenticate, answer))
            .handler(Bodies.ofMethodsWithOne(body));
        // The console's bodies are a sign-in or a key's settings: a few hundred bytes.
        long consoleBody = Math.min(maxBody, 16 * 1024);
        router.route("/console/api/*").handler(Bodies.limit(consoleBody, answer))
            .handler(Bodies.ofMethodsWithOne(BodyHandler.create(false).setBodyLimit(consoleBody)));
        shared.admin().mount(router, this::admin, this::open);
        // The web console: its files from the jar, calling /console/api and /admin/v1. A path route
        // "/console" would match "/console/" too (Vert.x Web ignores a trailing slash), hence the regex.
        router.getWithRegex("/console").handler(ctx -> ctx.redirect("/console/"));
        router.get("/console/*").handler(ConsolePage::serve);
        ErrorWriter.unknownPaths(router);
        router.errorHandler(413, ctx -> {
            String path = ctx.request().path();
            ApiException tooLarge = new ApiError.RequestTooLarge(path.startsWith("/console/api/") ? consoleBody : maxBody)
                .toException();
            if (path.startsWith("/v1/") || path.startsWith("/api/v1/")) {
                outcome.refused(ctx, tooLarge);
            } else {
                answer.accept(ctx, tooLarge);
            }
        });
        router.errorHandler(400, ErrorWriter::unreadableRequest);
        // Vert.x Web's BodyHandler fails a body it could not read with 200 unless the cause is a DecoderException.
        router.errorHandler(200, ErrorWriter::unreadableRequest);
        router.errorHandler(417, ctx -> ErrorWriter.write(ctx.response(), new ApiError.ExpectationFailed()));
        router.errorHandler(500, ctx -> ErrorWriter.write(ctx.response(), ctx.failure() == null
            ? new ApiError.Internal("The server had an error while processing your request.")
            : ErrorWriter.toApiError(ctx.failure())));

        server = vertx.createHttpServer(new HttpServerOptions()
            .setHost(shared.server().host())
            .setPort(shared.server().port())
            .setTcpNoDelay(true)
            // Every response is written on its request's event loop (continuations come back there,
            // see Contexts.onCaller), so writes go straight to the channel instead of through a
            // queue made for writers on other threads: 3.5 % less CPU per request at saturation.
            .setStrictThreadMode(true)
            // No WebSocket is served: without compression to negotiate, Vert.x leaves its WebSocket
            // extension handler out of every connection's pipeline (a hop on each read and write).
            .setPerMessageWebSocketCompressionSupported(false)
            .setPerFrameWebSocketCompressionSupported(false)
            .setIdleTimeout(300).setIdleTimeoutUnit(TimeUnit.SECONDS)
            .setMaxHeaderSize(16 * 1024));
        return server.requestHandler(router).invalidRequestHandler(ErrorWriter::invalidHttpRequest).listen()
            .recover(failure -> Future.failedFuture(new IllegalStateException("cannot listen on "
                + shared.server().host() + ":" + shared.server().port() + " (server.port): " + failure.getMessage())));
    }

    /**
     * A provider's own HTTP client, its pool of {@code max_connections} per event loop, so that one
     * provider's bound is its own (a pool shared by all, sized to the largest, bounded none). With
     * {@code http2}: ALPN over TLS (falls back to HTTP/1.1), prior knowledge over plain HTTP (an h2c
     * upgrade would cost a preflight request per connection); a connection opens only when the open
     * ones carry as many streams as the provider allows, and the streams one loop turn writes on a
     * connection leave in one write.
     */
    private HttpClient client(Provider provider) {
        PoolOptions pool = new PoolOptions().setHttp1MaxSize(provider.maxConnections())
            .setHttp2MaxSize(provider.maxConnections()).setMaxWaitQueueSize(provider.maxConnections() * 4);
        HttpClientOptions options = new HttpClientOptions().setTcpNoDelay(true).setDecompressionSupported(true);
        if (!provider.http2()) {
            return vertx.createHttpClient(options.setKeepAlive(true), pool);
        }
        return vertx.httpClientBuilder().with(options.setProtocolVersion(HttpVersion.HTTP_2).setUseAlpn(true)
                .setHttp2ClearTextUpgrade(false))
            .with(pool).withConnectHandler(ConsolidatedWrites::installIfHttp2).build();
    }

    /**
     * Browsers may call the OpenAI API from any origin (chat front ends run in the page): the key
     * travels in the Authorization header, never in a cookie, so credentials stay off. Any request
     * header is allowed (the preflight's list is answered back): SDKs add headers of their own
     * from one release to the next ({@code X-Stainless-Helper-Method} for openai-node's stream
     * helper), and a header list the gateway had not heard of would block the browser's call. The
     * admin API gets no CORS at all.
     */
    private static CorsHandler cors() {
        return CorsHandler.create()
            .allowedMethods(Set.of(HttpMethod.GET, HttpMethod.POST, HttpMethod.OPTIONS))
            .exposedHeaders(Set.of("X-Request-Id", "X-TokenHub-Provider", "Retry-After", "x-should-retry",
                "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
                "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"))
            .maxAgeSeconds(600);
    }

    /** Runs a console operation: it checks its own session. */
    private void open(RoutingContext ctx, int successStatus, Function<RoutingContext, Future<JsonObject>> op) {
        Future.succeededFuture(ctx).compose(op::apply)
            // Answers may carry a new key or a session token: no cache keeps them.
            .onSuccess(json -> ctx.response().setStatusCode(successStatus).putHeader("Cache-Control", "no-store")
                .putHeader("Content-Type", Headers.JSON).end(json.toBuffer()))
            .onFailure(failure -> ErrorWriter.write(ctx.response(), failure));
    }

    /** Runs an admin operation after checking the admin credential. */
    private void admin(RoutingContext ctx, int successStatus, Function<RoutingContext, Future<JsonObject>> op) {
        open(ctx, successStatus, c -> shared.admin().authenticate(c).compose(v -> op.apply(c)));
    }

    public int actualPort() {
        return server.actualPort();
    }

    /**
     * Stops accepting, lets requests and streams in flight finish (bounded; cut after it), waits
     * until each has its usage recorded (bounded), then flushes usage.
     */
    @Override
    public Future<?> stop() {
        long grace = shared.server().shutdownGraceMs();
        // Just before the server closes what is still open: those requests are recorded as cut by
        // this node (503 server_shutdown), not as clients that left (499).
        long cut = outcome == null ? -1 : vertx.setTimer(Math.max(1, grace - CUT_MARGIN_MS), id -> outcome.cutting());
        Future<Void> shutdown = (server == null ? Future.<Void>succeededFuture()
            : server.shutdown(grace, TimeUnit.MILLISECONDS)).onComplete(done -> vertx.cancelTimer(cut));
        return shutdown
            .eventually(() -> outcome == null ? Future.succeededFuture()
                : outcome.recorded().timeout(RECORD_WAIT_MS, TimeUnit.MILLISECONDS).onFailure(e -> LOG.warn(
                    "stopping with the usage of some requests not recorded after {} ms", RECORD_WAIT_MS)))
            .eventually(() -> {
                unregisterSync.run();
                recorder.flush();
                List<Future<Void>> closing = new ArrayList<>();
                adapters.values().forEach(adapted -> closing.add(adapted.client().close()));
                closing.add(tokenizer.close());
                return Future.join(closing);
            });
    }
}
