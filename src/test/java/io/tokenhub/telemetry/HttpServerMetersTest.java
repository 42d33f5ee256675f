package io.tokenhub.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.spi.VertxMetricsFactory;
import io.vertx.core.spi.metrics.MetricsProvider;
import io.vertx.micrometer.MetricsDomain;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;
import io.vertx.micrometer.VertxPrometheusOptions;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * {@link HttpServerMeters} against vertx-micrometer-metrics' own HTTP server meters: the same
 * requests through two real servers, one with each, leave the same meters (names, tags, types,
 * descriptions) with the same counts and sums in their registries.
 */
class HttpServerMetersTest {

    private static final long WAIT_SECONDS = 10;

    @Test
    void recordsWhatVertxMicrometerRecords() throws Exception {
        Map<String, String> theirs = serveAndRead(MicrometerMetricsFactory::new, false);
        Map<String, String> ours = serveAndRead(HttpServerMeters::factory, true);

        assertThat(theirs).isNotEmpty();
        assertThat(ours).isEqualTo(theirs);
        // The requests below: four POSTs answered 200, two GETs answered 404
        assertThat(ours).containsEntry("vertx.http.server.requests [code=200, method=POST] COUNTER",
            "count=4.0 help=Number of processed requests");
        assertThat(ours).containsEntry("vertx.http.server.response.bytes [code=404, method=GET] DISTRIBUTION_SUMMARY",
            "count=2 total=18.0 help=Size of responses in bytes");
        assertThat(ours).containsEntry("vertx.http.server.active.requests [method=POST] GAUGE",
            "value=0.0 help=Number of requests being processed");
    }

    /**
     * Serves four POSTs with a body (answered 200 with their body) and two GETs (answered 404) on
     * a Vert.x instance whose meters come from {@code factory} ({@code ours}: HttpServerMeters'); its
     * HTTP server meters, once every response is counted, as id to what they hold.
     */
    private static Map<String, String> serveAndRead(Function<PrometheusMeterRegistry, VertxMetricsFactory> factory,
                                                    boolean ours) throws Exception {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        MicrometerMetricsOptions meters = new MicrometerMetricsOptions().setEnabled(true)
            .addDisabledMetricsCategory(MetricsDomain.HTTP_CLIENT)
            .addDisabledMetricsCategory(MetricsDomain.EVENT_BUS)
            .setPrometheusOptions(new VertxPrometheusOptions().setEnabled(true));
        Vertx vertx = Vertx.builder().with(new VertxOptions().setMetricsOptions(meters))
            .withMetrics(factory.apply(registry)).build();
        try {
            HttpServer server = await(vertx.createHttpServer()
                .requestHandler(request -> {
                    if (request.method() == HttpMethod.POST) {
                        request.body().onSuccess(body -> request.response().end(body));
                    } else {
                        request.response().setStatusCode(404).end("not found");
                    }
                })
                .listen(0, "127.0.0.1"));
            // The server's meters are the factory's: HttpServerMeters, or vertx-micrometer-metrics' own
            assertThat(((MetricsProvider) server).getMetrics() instanceof HttpServerMeters).isEqualTo(ours);
            // The calls are made on one event loop of the instance, not from the test's thread: from
            // outside, each call would get a context of its own on another loop than its connection's.
            Context caller = vertx.getOrCreateContext();
            HttpClient client = vertx.createHttpClient();
            for (int i = 0; i < 4; i++) {
                call(caller, client, server.actualPort(), HttpMethod.POST, "{\"n\":" + i + "}");
            }
            for (int i = 0; i < 2; i++) {
                call(caller, client, server.actualPort(), HttpMethod.GET, null);
            }
            TestGateway.eventually(() -> registry.find("vertx.http.server.requests").counters().stream()
                .mapToDouble(Counter::count).sum() == 6, WAIT_SECONDS * 1000, "six responses counted");
            TestGateway.eventually(() -> registry.find("vertx.http.server.active.requests").gauges().stream()
                .mapToDouble(Gauge::value).sum() == 0, WAIT_SECONDS * 1000, "no request active");
            Map<String, String> read = new TreeMap<>();
            for (Meter meter : registry.getMeters()) {
                Meter.Id id = meter.getId();
                if (!id.getName().startsWith("vertx.http.server.") || id.getName().contains("bytes.read")
                    || id.getName().contains("bytes.written") || id.getName().contains("connections")) {
                    continue;
                }
                String tags = id.getTags().toString().replace("tag(", "").replace(")", "");
                read.put(id.getName() + " " + tags + " " + id.getType(), held(meter) + " help=" + id.getDescription());
            }
            return read;
        } finally {
            await(vertx.close());
        }
    }

    private static String held(Meter meter) {
        if (meter instanceof Counter counter) {
            return "count=" + counter.count();
        }
        if (meter instanceof Timer timer) {
            return "count=" + timer.count();
        }
        if (meter instanceof DistributionSummary summary) {
            return "count=" + summary.count() + " total=" + summary.totalAmount();
        }
        if (meter instanceof Gauge gauge) {
            return "value=" + gauge.value();
        }
        return meter.getClass().getSimpleName();
    }

    private static void call(Context caller, HttpClient client, int port, HttpMethod method, String body)
        throws Exception {
        Promise<Buffer> answer = Promise.promise();
        caller.runOnContext(v -> client.request(method, port, "127.0.0.1", "/")
            .compose(request -> body == null ? request.send() : request.send(body))
            .compose(HttpClientResponse::body)
            .onComplete(answer));
        await(answer.future());
    }

    private static <T> T await(Future<T> future) throws Exception {
        return future.toCompletionStage().toCompletableFuture().get(WAIT_SECONDS, TimeUnit.SECONDS);
    }
}
