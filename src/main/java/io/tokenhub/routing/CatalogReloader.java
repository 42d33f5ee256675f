package io.tokenhub.routing;

import io.tokenhub.config.ConfigException;
import io.tokenhub.config.ConfigLoader;
import io.tokenhub.config.TokenHubConfig;
import io.tokenhub.core.ApiError.InvalidRequest;
import io.tokenhub.core.Bus;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code POST /admin/v1/reload}: loads the configuration file on the node that was asked (so that
 * its answer means this node serves the new catalog), then tells every other node to load it.
 * Each node swaps in a new catalog (models, prices, providers, deployments, the signup credit);
 * requests and streams in flight keep the catalog they started with. The server, admin, storage,
 * cluster and accounting sections are read at start only: a reload that changes them says so in
 * its answer ({@code restart_required}) and in the log, rather than look applied.
 */
public final class CatalogReloader {

    private static final Logger LOG = LoggerFactory.getLogger(CatalogReloader.class);

    /** The sections a reload does not apply, by name. */
    private static final Map<String, Function<TokenHubConfig, Object>> START_ONLY = new LinkedHashMap<>();

    static {
        START_ONLY.put("server", TokenHubConfig::server);
        START_ONLY.put("admin", TokenHubConfig::admin);
        START_ONLY.put("storage", TokenHubConfig::storage);
        START_ONLY.put("cluster", TokenHubConfig::cluster);
        START_ONLY.put("accounting", TokenHubConfig::accounting);
    }

    private final Vertx vertx;
    private final Path source;
    private final ConfigLoader loader;
    private final TokenHubConfig started;
    private final CatalogHolder catalog;
    private final Upstreams upstreams;
    /** Marks this node's own reload messages, which it has applied before publishing them. */
    private final String origin = UUID.randomUUID().toString();
    /** Numbers the reads of the file, so that a read overtaken by a later one is not applied after it. */
    private final AtomicLong reads = new AtomicLong();
    private long applied;

    /** One read of the file. */
    private record Loaded(long read, TokenHubConfig config, List<String> warnings) {
    }

    /**
     * @param source  the configuration file, or null when the gateway was started without one
     * @param started the configuration the node started with
     */
    public CatalogReloader(Vertx vertx, Path source, ConfigLoader loader, TokenHubConfig started,
                           CatalogHolder catalog, Upstreams upstreams) {
        this.vertx = vertx;
        this.source = source;
        this.loader = loader;
        this.started = started;
        this.catalog = catalog;
        this.upstreams = upstreams;
    }

    /**
     * Listens for reloads published by any node; then reads the file once more, and applies it if its
     * catalog is not the one this node started with: a reload published while the node was starting
     * (between its reading the file and its listening, a rolling restart's routine) reached it too
     * late, and until 2026-12-07 it served the old catalog until the next reload. Completes once
     * caught up.
     */
    public Future<Void> listen() {
        var consumer = vertx.eventBus().<JsonObject>consumer(Bus.CONFIG_RELOAD, message -> {
            if (!origin.equals(message.body().getString("origin"))) {
                read().onSuccess(this::apply)
                    .onFailure(e -> LOG.error("configuration reload refused on this node: {}", e.getMessage()));
            }
        });
        if (source == null) {
            return consumer.completion();
        }
        // The file this node just started from, read again: its warnings were logged at start.
        return consumer.completion().compose(v -> read(false)).map(loaded -> {
            if (!sameCatalog(loaded.config(), started)) {
                LOG.warn("the configuration file changed while this node started (a reload it did not hear of): "
                    + "applying it");
                apply(loaded);
            }
            return (Void) null;
        }).recover(e -> {
            LOG.error("configuration file not read again after start: {}", e.getMessage());
            return Future.succeededFuture();
        });
    }

    private static boolean sameCatalog(TokenHubConfig a, TokenHubConfig b) {
        return a.models().equals(b.models()) && a.providers().equals(b.providers()) && a.billing().equals(b.billing());
    }

    /**
     * Applies here, then publishes to the other nodes (which answer nothing: the status says they are
     * still reloading); fails with a 400 listing the problems if the file is invalid.
     */
    public Future<JsonObject> reloadEverywhere() {
        return read().map(loaded -> {
            List<String> restart = apply(loaded);
            TokenHubConfig config = loaded.config();
            vertx.eventBus().publish(Bus.CONFIG_RELOAD,
                new JsonObject().put("source", source.toString()).put("origin", origin));
            return new JsonObject().put("status", "reloading")
                .put("models", config.models().size()).put("providers", config.providers().size())
                .put("restart_required", new JsonArray(restart))
                // What the file has that is ignored or worked around (an unknown key, an unset variable):
                // the admin who asked reads it here, not only the operator in the log.
                .put("warnings", new JsonArray(loaded.warnings()));
        });
    }

    /** The sections read at start only that the file now has otherwise: they apply at the next start. */
    private List<String> restartRequired(TokenHubConfig next) {
        List<String> changed = new ArrayList<>();
        START_ONLY.forEach((name, section) -> {
            if (!section.apply(next).equals(section.apply(started))) {
                changed.add(name);
            }
        });
        return changed;
    }

    private Future<Loaded> read() {
        return read(true);
    }

    private Future<Loaded> read(boolean logWarnings) {
        if (source == null) {
            return Future.failedFuture(new InvalidRequest("This gateway was started without a configuration file.",
                null).toException());
        }
        long read = reads.incrementAndGet();
        return vertx.executeBlocking(() -> {
            try {
                // Reads may run at once (unordered): the warnings must be this read's.
                synchronized (loader) {
                    TokenHubConfig config = loader.load(source, logWarnings);
                    return new Loaded(read, config, loader.warnings());
                }
            } catch (ConfigException e) {
                // The admin who asked reads the 400; the operator who reads the log should too.
                LOG.warn("configuration reload refused, the catalog in force unchanged: {}", e.getMessage());
                throw new InvalidRequest(e.getMessage(), null).toException();
            }
        }, false);
    }

    /**
     * Swaps the catalog in, unless a later read of the file is in already; event loops of any node
     * call it. Answers the sections of the file that wait for a restart.
     */
    private synchronized List<String> apply(Loaded loaded) {
        TokenHubConfig config = loaded.config();
        List<String> restart = restartRequired(config);
        if (loaded.read() < applied) {
            return restart;
        }
        applied = loaded.read();
        Catalog next = Catalog.of(config);
        upstreams.track(next);
        catalog.set(next);
        LOG.info("catalog reloaded: {} models, {} providers", config.models().size(), config.providers().size());
        if (!restart.isEmpty()) {
            LOG.warn("configuration reloaded except {}: those sections apply at the next start", restart);
        }
        return restart;
    }
}
