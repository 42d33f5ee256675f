package io.tokenhub.telemetry;

import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.datagram.DatagramSocketOptions;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.json.JsonObject;
import io.vertx.core.metrics.MetricsOptions;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.core.spi.VertxMetricsFactory;
import io.vertx.core.spi.metrics.ClientMetrics;
import io.vertx.core.spi.metrics.DatagramSocketMetrics;
import io.vertx.core.spi.metrics.EventBusMetrics;
import io.vertx.core.spi.metrics.HttpClientMetrics;
import io.vertx.core.spi.metrics.HttpServerMetrics;
import io.vertx.core.spi.metrics.PoolMetrics;
import io.vertx.core.spi.metrics.TCPMetrics;
import io.vertx.core.spi.metrics.VertxMetrics;
import io.vertx.core.spi.observability.HttpRequest;
import io.vertx.core.spi.observability.HttpResponse;
import io.vertx.micrometer.Label;
import io.vertx.micrometer.MetricsDomain;
import io.vertx.micrometer.MetricsNaming;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;

/**
 * Vert.x's HTTP server meters, the same ones vertx-micrometer-metrics registers (names, tags,
 * descriptions), with each meter found once instead of on every request. vertx-micrometer-metrics
 * 5.0 builds the tags and looks its meters up in the registry four times per request and registers
 * the active-requests gauge again on each (its meter cache option is read by nothing): 2.3–2.9 %
 * of the gateway's CPU samples at saturation. Here a request's meters come
 * from a table by method and status. Everything else (connections, bytes, errors; the other
 * domains) is vertx-micrometer-metrics' own. Applies to the default labels (method and status)
 * without label matches or custom request tags; otherwise vertx-micrometer-metrics' server meters
 * are used as they are. One Vert.x instance per registry, as in the gateway: a second one would
 * find the first one's active-requests gauge.
 */
public final class HttpServerMeters
    implements HttpServerMetrics<HttpServerMeters.Request, Object, Object> {

    /** {@link MicrometerMetricsFactory} with these server meters in place of its own. */
    public static VertxMetricsFactory factory(MeterRegistry registry) {
        return new Factory(new MicrometerMetricsFactory(registry), registry);
    }

    private record Factory(MicrometerMetricsFactory micrometer, MeterRegistry registry)
        implements VertxMetricsFactory {
        @Override
        public VertxMetrics metrics(VertxOptions options) {
            return wrap(micrometer.metrics(options), registry, options);
        }

        @Override
        public MetricsOptions newOptions() {
            return micrometer.newOptions();
        }

        @Override
        public MetricsOptions newOptions(MetricsOptions options) {
            return micrometer.newOptions(options);
        }

        @Override
        public MetricsOptions newOptions(JsonObject json) {
            return micrometer.newOptions(json);
        }
    }

    private static VertxMetrics wrap(VertxMetrics metrics, MeterRegistry registry, VertxOptions options) {
        if (!(options.getMetricsOptions() instanceof MicrometerMetricsOptions micrometer)
            || !micrometer.getLabels().equals(new HashSet<>(MicrometerMetricsOptions.DEFAULT_LABELS))
            || !micrometer.getLabelMatches().isEmpty() || micrometer.getServerRequestTagsProvider() != null) {
            return metrics;
        }
        // One table per Vert.x instance: every server's requests count on the same meters.
        Table table = new Table(registry,
            micrometer.getMetricsNaming().withBaseName(MetricsDomain.HTTP_SERVER.getPrefix()));
        return new VertxMetrics() {
            @SuppressWarnings("unchecked")
            @Override
            public HttpServerMetrics<?, ?, ?> createHttpServerMetrics(HttpServerOptions server, SocketAddress address) {
                HttpServerMetrics<?, ?, ?> own = metrics.createHttpServerMetrics(server, address);
                return own == null ? null
                    : new HttpServerMeters((HttpServerMetrics<Object, Object, Object>) own, table);
            }

            @Override
            public EventBusMetrics<?> createEventBusMetrics() {
                return metrics.createEventBusMetrics();
            }

            @Override
            public ClientMetrics<?, ?, ?> createClientMetrics(SocketAddress remote, String type, String namespace) {
                return metrics.createClientMetrics(remote, type, namespace);
            }

            @Override
            public HttpClientMetrics<?, ?, ?> createHttpClientMetrics(HttpClientOptions client) {
                return metrics.createHttpClientMetrics(client);
            }

            @Override
            public TCPMetrics<?> createNetServerMetrics(NetServerOptions server, SocketAddress address) {
                return metrics.createNetServerMetrics(server, address);
            }

            @Override
            public TCPMetrics<?> createNetClientMetrics(NetClientOptions client) {
                return metrics.createNetClientMetrics(client);
            }

            @Override
            public DatagramSocketMetrics createDatagramSocketMetrics(DatagramSocketOptions socket) {
                return metrics.createDatagramSocketMetrics(socket);
            }

            @Override
            public PoolMetrics<?, ?> createPoolMetrics(String type, String name, int size) {
                return metrics.createPoolMetrics(type, name, size);
            }

            @Override
            public void vertxCreated(Vertx vertx) {
                metrics.vertxCreated(vertx);
            }

            @Override
            public boolean isMetricsEnabled() {
                return metrics.isMetricsEnabled();
            }

            @Override
            public void close() {
                metrics.close();
            }
        };
    }

    private static final Set<HttpMethod> STANDARD_METHODS = Set.copyOf(HttpMethod.values());
    private static final HttpMethod OTHER_METHOD = HttpMethod.valueOf("OTHER");

    /** The meters of a Vert.x instance's servers, each found once. */
    private static final class Table {
        final MeterRegistry registry;
        final MetricsNaming names;
        final Map<HttpMethod, ByMethod> methods = new ConcurrentHashMap<>();

        Table(MeterRegistry registry, MetricsNaming names) {
            this.registry = registry;
            this.names = names;
        }

        /**
         * A method HTTP does not define is metered as {@code OTHER}: any client may send one, and
         * each would add a set of series that never goes away.
         */
        ByMethod method(HttpMethod method) {
            ByMethod known = methods.get(method);
            if (known != null) {
                return known;
            }
            HttpMethod labelled = STANDARD_METHODS.contains(method) ? method : OTHER_METHOD;
            return methods.computeIfAbsent(labelled, m -> new ByMethod(this, m));
        }
    }

    /** A request's meters by method: active requests, request sizes, resets; and its response's by status. */
    private static final class ByMethod {
        final Table table;
        final Tags tags;
        final LongAdder active = new LongAdder();
        final DistributionSummary requestBytes;
        final AtomicReferenceArray<ByStatus> statuses = new AtomicReferenceArray<>(600);

        ByMethod(Table table, HttpMethod method) {
            this.table = table;
            tags = Tags.of(Label.HTTP_METHOD.toString(), method.toString());
            Gauge.builder(table.names.getHttpActiveRequests(), active, LongAdder::doubleValue).strongReference(true)
                .description("Number of requests being processed").tags(tags).register(table.registry);
            requestBytes = DistributionSummary.builder(table.names.getHttpRequestBytes())
                .description("Size of requests in bytes").tags(tags).register(table.registry);
        }

        /** Found when a request is reset (rare): until then there is no such meter, as in vertx-micrometer. */
        Counter resets() {
            return Counter.builder(table.names.getHttpRequestResetsCount())
                .description("Number of request resets").tags(tags).register(table.registry);
        }

        ByStatus status(int code) {
            if (code < 0 || code >= statuses.length()) {
                return new ByStatus(this, code);
            }
            ByStatus known = statuses.get(code);
            if (known == null) {
                // Two threads may both make it: the registry hands the second the meters it has.
                known = new ByStatus(this, code);
                statuses.set(code, known);
            }
            return known;
        }
    }

    /** A response's meters, by method and status. */
    private static final class ByStatus {
        final Counter requests;
        final Timer responseTime;
        final DistributionSummary responseBytes;

        ByStatus(ByMethod method, int code) {
            Tags tags = method.tags.and(Label.HTTP_CODE.toString(), String.valueOf(code));
            MetricsNaming names = method.table.names;
            MeterRegistry registry = method.table.registry;
            requests = Counter.builder(names.getHttpRequestsCount())
                .description("Number of processed requests").tags(tags).register(registry);
            responseTime = Timer.builder(names.getHttpResponseTime())
                .description("Request processing time").tags(tags).register(registry);
            responseBytes = DistributionSummary.builder(names.getHttpResponseBytes())
                .description("Size of responses in bytes").tags(tags).register(registry);
        }
    }

    /**
     * One request on its way: active until its response ended or it was reset. (Waiting for the
     * request's end too, as this did before, left one answered before its body was read, a 413 or a
     * refused key, active for good once its connection closed: the request never ends.)
     */
    public static final class Request {
        private final ByMethod method;
        private final long startNanos;
        private boolean done;

        private Request(ByMethod method, long startNanos) {
            this.method = method;
            this.startNanos = startNanos;
        }

        private void done() {
            if (!done) {
                done = true;
                method.active.decrement();
            }
        }
    }

    private final HttpServerMetrics<Object, Object, Object> connections;
    private final Table table;
    private final Clock clock;

    private HttpServerMeters(HttpServerMetrics<Object, Object, Object> connections, Table table) {
        this.connections = connections;
        this.table = table;
        this.clock = table.registry.config().clock();
    }

    @Override
    public Request requestBegin(Object socket, HttpRequest request) {
        return begin(request.method());
    }

    @Override
    public Request responsePushed(Object socket, HttpMethod method, String uri, HttpResponse response) {
        return begin(method);
    }

    private Request begin(HttpMethod method) {
        ByMethod meters = table.method(method);
        meters.active.increment();
        return new Request(meters, clock.monotonicTime());
    }

    @Override
    public void requestEnd(Request request, HttpRequest http, long bytesRead) {
        request.method.requestBytes.record(bytesRead);
    }

    @Override
    public void requestReset(Request request) {
        request.method.resets().increment();
        request.done();
    }

    @Override
    public void responseEnd(Request request, HttpResponse response, long bytesWritten) {
        ByStatus meters = request.method.status(response.statusCode());
        meters.requests.increment();
        meters.responseTime.record(clock.monotonicTime() - request.startNanos, TimeUnit.NANOSECONDS);
        meters.responseBytes.record(bytesWritten);
        request.done();
    }

    @Override
    public Object connected(Object socket, Request request, ServerWebSocket webSocket) {
        return connections.connected(socket, null, webSocket);
    }

    @Override
    public void disconnected(Object webSocket) {
        connections.disconnected(webSocket);
    }

    @Override
    public Object connected(SocketAddress remote, String remoteName) {
        return connections.connected(remote, remoteName);
    }

    @Override
    public void disconnected(Object socket, SocketAddress remote) {
        connections.disconnected(socket, remote);
    }

    @Override
    public void bytesRead(Object socket, SocketAddress remote, long bytes) {
        connections.bytesRead(socket, remote, bytes);
    }

    @Override
    public void bytesWritten(Object socket, SocketAddress remote, long bytes) {
        connections.bytesWritten(socket, remote, bytes);
    }

    @Override
    public void exceptionOccurred(Object socket, SocketAddress remote, Throwable error) {
        connections.exceptionOccurred(socket, remote, error);
    }

    @Override
    public void close() {
        connections.close();
    }
}
