package io.tokenhub;

import com.hazelcast.config.ClasspathXmlConfig;
import com.hazelcast.config.Config;
import com.hazelcast.config.FileSystemXmlConfig;
import com.hazelcast.core.HazelcastInstance;
import io.tokenhub.config.TokenHubConfig;
import io.tokenhub.limit.HazelcastCounter;
import io.tokenhub.limit.LocalCounter;
import io.tokenhub.limit.SharedCounter;
import io.tokenhub.telemetry.HttpServerMeters;
import io.tokenhub.telemetry.Metrics;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.file.FileSystemOptions;
import io.vertx.micrometer.MetricsDomain;
import io.vertx.micrometer.MicrometerMetricsOptions;
import io.vertx.micrometer.VertxPrometheusOptions;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.io.FileNotFoundException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;

/**
 * Vert.x alone, or clustered through Hazelcast when {@code cluster.enabled}: the event bus then
 * spans every node (key invalidations, circuit states, reloads) and rate-limit windows live in a
 * Hazelcast map shared by all.
 */
final class Clustering {

    /** Sign-in windows kept in one process (least recently used dropped beyond it). */
    private static final long SIGN_IN_WINDOWS = 100_000;

    private final HazelcastClusterManager manager;

    private Clustering(HazelcastClusterManager manager) {
        this.manager = manager;
    }

    /** @param source the configuration file (null if none): a relative cluster.config may sit beside it */
    static Clustering of(TokenHubConfig config, Path source) {
        return new Clustering(config.cluster().enabled() ? new HazelcastClusterManager(hazelcast(config, source))
            : null);
    }

    Future<Vertx> vertx(Metrics metrics) {
        // Vert.x's HTTP server (through HttpServerMeters), pool and connection meters stay; its HTTP
        // client and event-bus meters cost about 4 % of a request's CPU and say nothing
        // tokenhub_upstream_requests_total and the usage metrics do not (upstream calls; usage
        // batches between verticles).
        MicrometerMetricsOptions meters = new MicrometerMetricsOptions().setEnabled(true)
            .addDisabledMetricsCategory(MetricsDomain.HTTP_CLIENT)
            .addDisabledMetricsCategory(MetricsDomain.EVENT_BUS)
            .setPrometheusOptions(new VertxPrometheusOptions().setEnabled(true));
        // Netty's epoll transport where it is available (Linux), Java NIO elsewhere. No class-path
        // file resolution: nothing is served from the class path through Vert.x's file system, and its
        // cache directory is deleted by a JVM shutdown hook of its own, after which every new file
        // (the usage spool's, while a stopping node drains) would fail to resolve.
        VertxOptions options = new VertxOptions().setPreferNativeTransport(true).setMetricsOptions(meters)
            .setFileSystemOptions(new FileSystemOptions().setClassPathResolvingEnabled(false)
                .setFileCachingEnabled(false));
        var builder = Vertx.builder().with(options).withMetrics(HttpServerMeters.factory(metrics.meterRegistry()));
        if (manager == null) {
            return Future.succeededFuture(builder.build());
        }
        // In a pod the event bus must announce the pod's address on a fixed port (see k8s/deployment.yaml).
        String host = System.getenv("TOKENHUB_CLUSTER_HOST");
        String port = System.getenv("TOKENHUB_CLUSTER_PORT");
        if (host != null && !host.isBlank()) {
            options.getEventBusOptions().setHost(host);
        }
        if (port != null && !port.isBlank()) {
            options.getEventBusOptions().setPort(Integer.parseInt(port.trim()));
        }
        return builder.withClusterManager(manager).buildClustered();
    }

    /**
     * Whether this node is a cluster member: Vert.x joined, and its Hazelcast member still runs.
     * The manager's own flag changes only when Vert.x joins and leaves, not when Hazelcast stops by
     * itself (its out-of-memory handler, a failed merge, an operator's tool).
     */
    boolean isActive() {
        return manager != null && manager.isActive() && hazelcast().map(hz -> hz.getLifecycleService().isRunning())
            .orElse(false);
    }

    /** The Hazelcast member, once Vert.x has joined the cluster. */
    Optional<HazelcastInstance> hazelcast() {
        return manager == null ? Optional.empty() : Optional.ofNullable(manager.getHazelcastInstance());
    }

    SharedCounter counter() {
        return manager == null ? new LocalCounter() : new HazelcastCounter(manager.getHazelcastInstance());
    }

    /** Sign-in windows are named after whatever email is tried: bounded, apart from the rate limits'. */
    SharedCounter signInCounter() {
        return manager == null ? new LocalCounter(SIGN_IN_WINDOWS)
            : new HazelcastCounter(manager.getHazelcastInstance(), HazelcastCounter.SIGN_INS);
    }

    /**
     * {@code cluster.config} as a path from the working directory, else beside the configuration
     * file, else in the jar.
     */
    private static Config hazelcast(TokenHubConfig config, Path source) {
        Path file = Path.of(config.cluster().config());
        if (!Files.exists(file) && !file.isAbsolute() && source != null) {
            Path beside = source.toAbsolutePath().resolveSibling(file);
            file = Files.exists(beside) ? beside : file;
        }
        Config hz;
        try {
            hz = Files.exists(file) ? new FileSystemXmlConfig(file.toFile()) : new ClasspathXmlConfig(file.toString());
        } catch (FileNotFoundException e) {
            throw new UncheckedIOException(e);
        }
        if (!config.cluster().name().isEmpty()) {
            hz.setClusterName(config.cluster().name());
        }
        String members = System.getenv("TOKENHUB_CLUSTER_MEMBERS");
        if (members != null && !members.isBlank()) {
            hz.getNetworkConfig().getJoin().getTcpIpConfig().setEnabled(true)
                .setMembers(Arrays.stream(members.split(",")).map(String::trim).toList());
            // Members on other hosts: the loopback-only binding of the laptop default would never reach them.
            hz.getNetworkConfig().getInterfaces().setEnabled(false);
        }
        // Vert.x installs its own shutdown order; Hazelcast's hook would leave the cluster too early.
        hz.setProperty("hazelcast.shutdownhook.enabled", "false");
        return hz;
    }
}
