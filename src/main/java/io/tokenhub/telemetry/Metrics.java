package io.tokenhub.telemetry;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.tokenhub.core.Usage;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import java.util.stream.IntStream;

/**
 * TokenHub's own meters, with the names PRODUCT.md §6 fixes. Labels are bounded sets (models,
 * providers, statuses), never keys or accounts. Meters are cached per label set so the hot path
 * does one map look-up, not a registry search.
 */
public final class Metrics {

    private static final Duration[] LATENCY_BUCKETS = {
        Duration.ofMillis(5), Duration.ofMillis(25), Duration.ofMillis(100), Duration.ofMillis(250),
        Duration.ofMillis(500), Duration.ofSeconds(1), Duration.ofMillis(2500), Duration.ofSeconds(5),
        Duration.ofSeconds(10), Duration.ofSeconds(30), Duration.ofSeconds(60), Duration.ofSeconds(120)};
    /** Fine at the low end, where a gateway's own time per request should be. */
    private static final Duration[] OVERHEAD_BUCKETS = {
        Duration.ofNanos(10_000), Duration.ofNanos(25_000), Duration.ofNanos(50_000), Duration.ofNanos(100_000),
        Duration.ofNanos(250_000), Duration.ofNanos(500_000), Duration.ofMillis(1), Duration.ofMillis(2),
        Duration.ofMillis(5), Duration.ofMillis(10), Duration.ofMillis(50)};

    /** The limits a request can be refused by, as {@code tokenhub_rate_limited_total} names them. */
    private static final List<String> RATE_LIMIT_SCOPES = List.of("key_rpm", "key_tpm", "model_rpm", "model_tpm");

    /** The HELP line of each counter. */
    private static final Map<String, String> COUNTER_HELP = Map.of(
        "tokenhub_requests_total", "Requests answered, by catalog model (unknown before one was named), serving "
            + "provider (none when no upstream answered) and HTTP status",
        "tokenhub_tokens_total", "Tokens of answered requests: prompt and completion as in the usage object; cached, "
            + "cache_write and reasoning are parts of those",
        "tokenhub_cost_usd_total", "USD charged at the serving model's prices",
        "tokenhub_upstream_requests_total", "Calls to upstream deployments, by outcome (skipped: not called, for an "
            + "open circuit or a request the deployment cannot take)",
        "tokenhub_fallbacks_total", "Requests answered by another deployment or model than the first tried, by the "
            + "requested and the serving model",
        "tokenhub_rate_limited_total", "Requests refused by a rate limit, by the limit",
        "tokenhub_reservations_beside_call_total", "Requests whose upstream call started while their reservation "
            + "was on its way, by whether the reservation was made (refused: the call was cancelled)",
        "tokenhub_reservations_node_share_total", "Reservations made against this node's share of an account, "
            + "without a round trip to Redis");

    private final PrometheusMeterRegistry registry;
    /** HTTP statuses as label values, made once. */
    private static final String[] STATUS = IntStream.range(0, 600).mapToObj(Integer::toString).toArray(String[]::new);

    /**
     * A meter's name and label values, the key of the meter caches: its hash combines the strings'
     * cached hashes, so a hit builds no string (label names are fixed per meter name).
     */
    private record Key(String name, String first, String second, String third) {
    }

    private final ConcurrentHashMap<Key, Counter> counters = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<Key, Timer> timers = new ConcurrentHashMap<>();
    private final Timer overhead;
    private final Timer timeToFirstToken;
    private final Counter besideMade;
    private final Counter besideRefused;
    private final Counter nodeShare;

    public Metrics() {
        registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmGcMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        overhead = Timer.builder("tokenhub_overhead_seconds")
            .description("Time spent in TokenHub itself per request: from its arrival to the answer written, "
                + "minus the time from the first byte sent upstream to the last byte back")
            .serviceLevelObjectives(OVERHEAD_BUCKETS).register(registry);
        timeToFirstToken = Timer.builder("tokenhub_time_to_first_token_seconds")
            .description("From request arrival to the first content chunk sent to the client")
            .serviceLevelObjectives(LATENCY_BUCKETS).register(registry);
        // Shown from the first scrape, at zero, so that dashboards and alerts have a series to read.
        for (String scope : RATE_LIMIT_SCOPES) {
            counter("tokenhub_rate_limited_total", "scope", scope);
        }
        besideMade = counter("tokenhub_reservations_beside_call_total", "outcome", "made");
        besideRefused = counter("tokenhub_reservations_beside_call_total", "outcome", "refused");
        nodeShare = counter("tokenhub_reservations_node_share_total");
    }

    /** A reservation was made against this node's share of an account (a cluster's, with Redis). */
    public void reservationAgainstNodeShare() {
        nodeShare.increment();
    }

    /** A request's upstream call started beside its reservation, which was then made or not. */
    public void reservationBesideCall(boolean made) {
        (made ? besideMade : besideRefused).increment();
    }

    /** Makes {@code tokenhub_fallbacks_total{from,to}} show at zero for a configured fallback. */
    public void fallbackConfigured(String from, String to) {
        counter("tokenhub_fallbacks_total", "from", from, "to", to);
    }

    public PrometheusMeterRegistry registry() {
        return registry;
    }

    public MeterRegistry meterRegistry() {
        return registry;
    }

    public void request(String model, String provider, int status, long durationNanos) {
        counter("tokenhub_requests_total", "model", model, "provider", provider, "status",
            status >= 0 && status < STATUS.length ? STATUS[status] : Integer.toString(status)).increment();
        timers.computeIfAbsent(new Key("tokenhub_request_duration_seconds", model, provider, null),
            k -> Timer.builder("tokenhub_request_duration_seconds")
                .description("Request duration as the client saw it")
                .tags("model", model, "provider", provider)
                .serviceLevelObjectives(LATENCY_BUCKETS).register(registry))
            .record(Duration.ofNanos(durationNanos));
    }

    public void overhead(long nanos) {
        overhead.record(Duration.ofNanos(Math.max(0, nanos)));
    }

    public void timeToFirstToken(long nanos) {
        timeToFirstToken.record(Duration.ofNanos(nanos));
    }

    /**
     * {@code prompt} and {@code completion} count as the usage object does ({@code prompt_tokens},
     * {@code completion_tokens}); {@code cached}, {@code cache_write} and {@code reasoning} are the
     * parts of them the usage details name, so the types do not add up to a total.
     */
    public void tokens(String model, String provider, Usage usage) {
        add("prompt", model, provider, usage.promptTokens());
        add("cached", model, provider, usage.cachedTokens());
        add("cache_write", model, provider, usage.cacheWriteTokens());
        add("completion", model, provider, usage.completionTokens());
        add("reasoning", model, provider, usage.reasoningTokens());
    }

    private void add(String type, String model, String provider, long tokens) {
        if (tokens > 0) {
            counter("tokenhub_tokens_total", "model", model, "provider", provider, "type", type).increment(tokens);
        }
    }

    public void cost(String model, long microUsd) {
        if (microUsd > 0) {
            counter("tokenhub_cost_usd_total", "model", model).increment(microUsd / 1_000_000.0);
        }
    }

    public void upstream(String provider, String deployment, String outcome) {
        counter("tokenhub_upstream_requests_total", "provider", provider, "deployment", deployment, "outcome", outcome)
            .increment();
    }

    public void fallback(String from, String to) {
        counter("tokenhub_fallbacks_total", "from", from, "to", to).increment();
    }

    public void rateLimited(String scope) {
        counter("tokenhub_rate_limited_total", "scope", scope).increment();
    }

    /** Registers a gauge; the meter returned is what {@link #remove} takes. */
    public Meter gauge(String name, String description, Supplier<Number> value, String... tags) {
        return Gauge.builder(name, value).description(description).tags(tags).register(registry);
    }

    /** Takes a meter out of the registry: its series is no longer exported. */
    public void remove(Meter meter) {
        registry.remove(meter);
    }

    public DistributionSummary summary(String name) {
        return DistributionSummary.builder(name).register(registry);
    }

    /** @param tags label names and values, alternating: at most three labels */
    private Counter counter(String name, String... tags) {
        Key key = new Key(name, value(tags, 0), value(tags, 1), value(tags, 2));
        return counters.computeIfAbsent(key,
            k -> Counter.builder(name).description(COUNTER_HELP.get(name)).tags(tags).register(registry));
    }

    private static String value(String[] tags, int label) {
        return 2 * label + 1 < tags.length ? tags[2 * label + 1] : null;
    }
}
