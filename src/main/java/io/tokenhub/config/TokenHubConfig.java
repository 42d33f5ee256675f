package io.tokenhub.config;

import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The whole of {@code tokenhub.yaml}, validated and immutable. Durations are milliseconds; money in
 * the file is USD and is held here in integer micro-USD.
 */
public record TokenHubConfig(Server server, Admin admin, Storage storage, Cluster cluster, Billing billing,
                             Accounting accounting, List<Provider> providers, List<Model> models) {

    public record Server(String host, int port, int managementPort, int instances, long maxBodyBytes,
                         long shutdownGraceMs) {

        /** Event-loop verticle instances: 0 in the file means one per core. */
        public int effectiveInstances() {
            return instances > 0 ? instances : Runtime.getRuntime().availableProcessors();
        }
    }

    /** @param bootstrap on a fresh database, generate and print an admin key and a first account key */
    public record Admin(String masterKey, boolean bootstrap) {
        @Override
        public String toString() {
            return "Admin[masterKey=" + (masterKey.isEmpty() ? "" : "***") + ", bootstrap=" + bootstrap + "]";
        }
    }

    /**
     * @param postgres {@code embedded} or a {@code postgresql://} URL
     * @param redis    {@code none} or a {@code redis://} URL
     * @param dataDir  where the embedded database and the usage spool live
     * @param reportPoolSize  connections of the pool that reads usage and logs (reports), apart from the
     *                        request path's
     * @param reportTimeoutMs longest a report's statement may run (PostgreSQL's statement_timeout)
     */
    public record Storage(String postgres, String redis, String dataDir, int embeddedPort, int poolSize,
                          int reportPoolSize, long reportTimeoutMs) {
        public boolean embeddedPostgres() {
            return "embedded".equals(postgres);
        }

        @Override
        public String toString() {
            return "Storage[postgres=" + redact(postgres) + ", redis=" + redact(redis) + ", dataDir=" + dataDir + "]";
        }

        /**
         * The URL without its user information, nor a {@code password} parameter. A password may
         * hold '@', '/', '?' or '#' (a generated one often does): everything up to the last '@' is
         * hidden (a query holding an '@' hides the host too, which is harmless).
         */
        public static String redact(String url) {
            return url.replaceFirst("^([A-Za-z][A-Za-z0-9+.-]*://).*@", "$1***@")
                .replaceAll("(?i)([?&]password=)[^&#]*", "$1***");
        }
    }

    /**
     * @param config Hazelcast XML (file path, else classpath resource)
     * @param name   overrides the cluster name of that file when not empty (isolates clusters on one network)
     */
    public record Cluster(boolean enabled, String config, String name) {
    }

    /**
     * @param signupCreditMicroUsd what a new account is given
     * @param nodeShare            with the counters in Redis: the fraction of what an account has left
     *                             (and of what a key's monthly cap has left) that a node may hold for
     *                             its own requests, so that they reserve without a round trip to
     *                             Redis; 0 = every request reserves in Redis
     */
    public record Billing(long signupCreditMicroUsd, double nodeShare) {
        public static final double DEFAULT_NODE_SHARE = 0.1;
        public static final double MAX_NODE_SHARE = 0.5;
    }

    /**
     * @param batchSize     records per PostgreSQL insert
     * @param flushMs       longest a record waits before it is written
     * @param spoolMaxBytes disk kept for records while PostgreSQL is unreachable
     * @param journal       every record on disk as it arrives, until it is durable (for a node killed outright)
     */
    public record Accounting(int batchSize, long flushMs, long spoolMaxBytes, boolean journal) {
    }

    public record Timeouts(long connectMs, long firstByteMs, long idleMs) {
    }

    public record CircuitBreaker(int maxFailures, long windowMs, long resetMs) {
    }

    /**
     * @param maxConnections connections per upstream host per event loop: over HTTP/1.1 a stream holds
     *                       one; over HTTP/2 one carries as many requests at once as the provider allows
     * @param http2          HTTP/2 to the provider: over TLS offered by ALPN (HTTP/1.1 if the provider
     *                       declines), over plain HTTP with prior knowledge (h2c; the provider must speak it)
     * @param chunkDelayMs   mock provider only: delay between streamed chunks
     * @param dialect        how an OpenAI-compatible provider takes TokenHub's extensions; empty: known by its host
     * @param cacheAutomatically Anthropic only: a request that marks nothing for the prompt cache is
     *                       cached automatically ({@code prompt_caching: automatic})
     */
    public record Provider(String id, String type, String baseUrl, String apiKey, String apiVersion,
                           Timeouts timeouts, CircuitBreaker circuitBreaker, int retries, int maxConnections,
                           boolean http2, long chunkDelayMs, String dialect, boolean cacheAutomatically) {

        public static final Set<String> TYPES = Set.of("openai", "anthropic", "mock");

        @Override
        public String toString() {
            return "Provider[id=" + id + ", type=" + type + ", baseUrl=" + baseUrl + ", apiKey="
                + (apiKey.isEmpty() ? "" : "***") + "]";
        }
    }

    /** @param thinking how an Anthropic model is asked to think (budget, adaptive, adaptive_only); empty: known by its id */
    public record Deployment(String provider, String model, int priority, int weight, String thinking) {

        public Deployment(String provider, String model, int priority, int weight) {
            this(provider, model, priority, weight, "");
        }
    }

    public record Limits(long rpm, long tpm) {
    }

    /**
     * USD per 1M tokens as written in the file; {@code perSearch} in USD for rerank. The version
     * changes whenever any price changes, and is stored on each usage record.
     */
    public record Pricing(double input, double cachedInput, double cacheWrite, double output, double perSearch) {
        public static final Pricing FREE = new Pricing(0, 0, 0, 0, 0);

        public boolean free() {
            return input == 0 && cachedInput == 0 && cacheWrite == 0 && output == 0 && perSearch == 0;
        }

        public String version() {
            return Integer.toHexString(hashCode());
        }
    }

    public record Model(String id, String type, List<String> aliases, int contextWindow, int maxOutputTokens,
                        int defaultMaxTokens, Set<String> capabilities, Limits limits, Pricing pricing,
                        List<Deployment> deployments, List<String> fallbacks) {

        public static final Set<String> TYPES = Set.of("chat", "embedding", "rerank");
        public static final Set<String> CAPABILITIES =
            Set.of("tools", "vision", "structured_output", "thinking", "search");

        public boolean supports(String capability) {
            return capabilities.contains(capability);
        }
    }

    public Optional<Provider> provider(String id) {
        return providers.stream().filter(p -> p.id().equals(id)).findFirst();
    }
}
