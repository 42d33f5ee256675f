package io.tokenhub.telemetry;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
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
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

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

    private final PrometheusMeterRegistry registry;
    private final ConcurrentHashMap<String, Counter> counters = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Timer> timers = new ConcurrentHashMap<>();
    private final Timer overhead;
    private final Timer timeToFirstToken;

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
    }

    public PrometheusMeterRegistry registry() {
        return registry;
    }

    public MeterRegistry meterRegistry() {
        return registry;
    }

    public void request(String model, String provider, int status, long durationNanos) {
        counter("tokenhub_requests_total", "model", model, "provider", provider, "status", Integer.toString(status))
            .increment();
        timers.computeIfAbsent("d|" + model + "|" + provider, k -> Timer.builder("tokenhub_request_duration_seconds")
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

    public void tokens(String model, String provider, Usage usage) {
        add("prompt", model, provider, usage.promptTokens() - usage.cachedTokens() - usage.cacheWriteTokens());
        add("cached", model, provider, usage.cachedTokens());
        add("cache_write", model, provider, usage.cacheWriteTokens());
        add("completion", model, provider, usage.completionTokens());
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

    public void gauge(String name, String description, Supplier<Number> value, String... tags) {
        Gauge.builder(name, value).description(description).tags(tags).register(registry);
    }

    public DistributionSummary summary(String name) {
        return DistributionSummary.builder(name).register(registry);
    }

    private Counter counter(String name, String... tags) {
        StringBuilder key = new StringBuilder(name);
        for (String tag : tags) {
            key.append('|').append(tag);
        }
        return counters.computeIfAbsent(key.toString(), k -> Counter.builder(name).tags(tags).register(registry));
    }
}
