package io.tokenhub.routing;

import io.micrometer.core.instrument.Meter;
import io.tokenhub.config.TokenHubConfig.Deployment;
import io.tokenhub.config.TokenHubConfig.Model;
import io.tokenhub.config.TokenHubConfig.Provider;
import io.tokenhub.core.Bus;
import io.tokenhub.telemetry.Metrics;
import io.vertx.circuitbreaker.CircuitBreakerState;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.EventBus;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Every upstream deployment's {@link UpstreamHealth} on this node. Circuit openings are published
 * cluster-wide so that other nodes skip a failing upstream without paying its failures again, and a
 * node that joins asks the others which circuits they hold open, so that it does not pay them
 * either; {@code tokenhub_circuit_state} shows each one (0 closed, 1 half-open, 2 open).
 */
public final class Upstreams {

    private final Vertx vertx;
    private final Metrics metrics;
    private final String nodeId = UUID.randomUUID().toString();
    private final Map<String, UpstreamHealth> byKey = new ConcurrentHashMap<>();
    /** Where each deployment's health was measured: its provider's type, URL, key and API version. */
    private final Map<String, List<String>> endpoints = new ConcurrentHashMap<>();
    private final Map<String, Integer> stateValue = new ConcurrentHashMap<>();
    /** The {@code tokenhub_circuit_state} series of each deployment in the catalog in use. */
    private final Map<String, Meter> gauges = new ConcurrentHashMap<>();
    /**
     * The deployments of the catalog in use. One that a reload removed keeps its health (a request
     * in flight may still report to it) but is no longer shown.
     */
    private volatile Set<String> current = Set.of();
    private final List<MessageConsumer<JsonObject>> consumers = new ArrayList<>();

    public Upstreams(Vertx vertx, Metrics metrics) {
        this.vertx = vertx;
        this.metrics = metrics;
    }

    /**
     * Makes sure every deployment of the catalog has its health; existing ones keep their state,
     * unless the provider's {@code circuit_breaker} settings changed, or where and how it is called
     * (its type, {@code base_url}, {@code api_key}, {@code api_version}): then the deployment starts
     * afresh (closed). Until 2026-12-08 a reload that fixed a wrong URL or key left the circuit the
     * wrong one had opened, and requests got 503 until its reset time.
     */
    public void track(Catalog catalog) {
        Set<String> keys = new HashSet<>();
        for (Model model : catalog.models()) {
            model.fallbacks().stream().filter(f -> catalog.model(f).isPresent())
                .forEach(f -> metrics.fallbackConfigured(model.id(), catalog.model(f).orElseThrow().id()));
            for (Deployment d : model.deployments()) {
                Provider provider = catalog.provider(d.provider()).orElseThrow();
                String key = d.provider() + "/" + d.model();
                keys.add(key);
                UpstreamHealth known = byKey.get(key);
                gauges.computeIfAbsent(key, k -> metrics.gauge("tokenhub_circuit_state",
                    "Circuit state per upstream: 0 closed, 1 half-open, 2 open",
                    () -> stateValue.getOrDefault(key, 0), "provider", d.provider(), "deployment", d.model()));
                List<String> endpoint = Arrays.asList(provider.type(), provider.baseUrl(), provider.apiKey(),
                    provider.apiVersion());
                List<String> measuredAt = endpoints.put(key, endpoint);
                if (known == null || !known.config().equals(provider.circuitBreaker())
                    || !endpoint.equals(measuredAt)) {
                    stateValue.put(key, 0);
                    byKey.put(key, new UpstreamHealth(vertx, d.provider(), d.model(), provider.circuitBreaker(),
                        this::changed));
                }
            }
        }
        current = Set.copyOf(keys);
        // A deployment a reload removed is no longer shown: an alert on its open circuit clears.
        gauges.entrySet().removeIf(gauge -> {
            boolean removed = !keys.contains(gauge.getKey());
            if (removed) {
                metrics.remove(gauge.getValue());
            }
            return removed;
        });
    }

    public UpstreamHealth of(Attempt attempt) {
        return byKey.get(attempt.provider() + "/" + attempt.deployment().model());
    }

    public Collection<UpstreamHealth> all() {
        return byKey.values();
    }

    /**
     * Starts listening to other nodes' circuit openings and closings, then asks them which circuits
     * they hold open now (completes once asked): a node that joins while an upstream fails opens its
     * circuit from the start, as the others did, instead of paying {@code max_failures} failed calls
     * of its own (each a timeout, when the provider hangs); a circuit opened because a peer's was
     * closes when a peer's trial closes its own.
     */
    public Future<Void> listen() {
        EventBus bus = vertx.eventBus();
        consumers.add(bus.<JsonObject>consumer(Bus.UPSTREAM_STATE, message -> {
            JsonObject event = message.body();
            UpstreamHealth health = byKey.get(event.getString("upstream"));
            if (health == null || nodeId.equals(event.getString("node"))) {
                return;
            }
            if ("open".equals(event.getString("state"))) {
                health.openFromPeer();
            } else if ("closed".equals(event.getString("state"))) {
                health.closedByPeer();
            }
        }));
        consumers.add(bus.<JsonObject>consumer(Bus.UPSTREAM_ASK, message -> {
            String asker = message.body().getString("node");
            JsonArray open = openNow();
            if (!nodeId.equals(asker) && !open.isEmpty()) {
                bus.send(Bus.UPSTREAM_OPEN + asker, new JsonObject().put("open", open));
            }
        }));
        consumers.add(bus.<JsonObject>consumer(Bus.UPSTREAM_OPEN + nodeId, message ->
            message.body().getJsonArray("open").forEach(key -> {
                UpstreamHealth health = byKey.get((String) key);
                if (health != null) {
                    health.openFromPeer();
                }
            })));
        return Future.all(consumers.stream().map(MessageConsumer::completion).toList())
            .onSuccess(registered -> bus.publish(Bus.UPSTREAM_ASK, new JsonObject().put("node", nodeId)))
            .mapEmpty();
    }

    /** The keys of this node's circuits that are not closed (open, or half-open with a trial to judge). */
    private JsonArray openNow() {
        JsonArray open = new JsonArray();
        byKey.values().stream().filter(h -> h.state() != CircuitBreakerState.CLOSED).forEach(h -> open.add(h.key()));
        return open;
    }

    public void close() {
        consumers.forEach(MessageConsumer::unregister);
    }

    private void changed(UpstreamHealth health, CircuitBreakerState state) {
        if (byKey.get(health.key()) != health) {
            // A health a reload replaced: its timers may still fire.
            return;
        }
        stateValue.put(health.key(), switch (state) {
            case CLOSED -> 0;
            case HALF_OPEN -> 1;
            case OPEN -> 2;
        });
        vertx.eventBus().publish(Bus.UPSTREAM_STATE, new JsonObject()
            .put("node", nodeId).put("upstream", health.key()).put("state", name(state)));
    }

    /** What {@code GET /admin/v1/upstreams} shows. */
    public JsonObject describe() {
        long now = System.currentTimeMillis();
        JsonArray data = new JsonArray();
        Set<String> shown = current;
        byKey.values().stream().filter(h -> shown.contains(h.key()))
            .sorted(Comparator.comparing(UpstreamHealth::key)).forEach(h -> data.add(
            new JsonObject()
                .put("provider", h.provider())
                .put("deployment", h.deployment())
                .put("circuit_state", name(h.state()))
                .put("retry_in_ms", h.retryInMs(now))
                .put("error_rate", Math.round(h.errorRate() * 1000) / 1000.0)
                .put("latency_ms", h.latencyMs() < 0 ? null : Math.round(h.latencyMs() * 10) / 10.0)));
        return new JsonObject().put("data", data).put("next_cursor", (Object) null);
    }

    private static String name(CircuitBreakerState state) {
        return switch (state) {
            case CLOSED -> "closed";
            case HALF_OPEN -> "half_open";
            case OPEN -> "open";
        };
    }
}
