package io.tokenhub.config;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLParser;
import io.tokenhub.config.TokenHubConfig.Accounting;
import io.tokenhub.config.TokenHubConfig.Admin;
import io.tokenhub.config.TokenHubConfig.Billing;
import io.tokenhub.config.TokenHubConfig.CircuitBreaker;
import io.tokenhub.config.TokenHubConfig.Cluster;
import io.tokenhub.config.TokenHubConfig.Deployment;
import io.tokenhub.config.TokenHubConfig.Limits;
import io.tokenhub.config.TokenHubConfig.Model;
import io.tokenhub.config.TokenHubConfig.Pricing;
import io.tokenhub.config.TokenHubConfig.Provider;
import io.tokenhub.config.TokenHubConfig.Server;
import io.tokenhub.config.TokenHubConfig.Storage;
import io.tokenhub.config.TokenHubConfig.Timeouts;
import io.tokenhub.provider.anthropic.ClaudeThinking;
import io.tokenhub.provider.openai.Dialect;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads {@code tokenhub.yaml}: expands {@code ${VAR}} and {@code ${VAR:-default}} from the
 * environment, maps the YAML onto {@link TokenHubConfig} and validates all of it, reporting every
 * problem at once in a {@link ConfigException}.
 */
public final class ConfigLoader {

    private static final Logger LOG = LoggerFactory.getLogger(ConfigLoader.class);

    private static final Pattern VARIABLE = Pattern.compile("\\$\\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?}");
    /**
     * A {@code ${...}} that is a whole value of a flow mapping or list, on its line or on lines of its
     * own (quotes and comments are checked apart).
     */
    private static final Pattern FLOW_PLACEHOLDER = Pattern.compile(
        "(?<=[{\\[,][ \\t\\r\\n]{0,200}|:[ \\t\\r\\n]{1,200})\\$\\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}\\n]*)?}"
            + "(?=[ \\t\\r\\n]*[,}\\]])");
    /** A key given twice in one mapping is a problem, not the later one silently winning (a second models:). */
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
        .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
    /** The highest price accepted, in USD per 1M tokens (or per search). */
    private static final int MAX_PRICE = 10_000;

    private final Function<String, String> env;
    /** What the last file read had that the gateway ignores or works around; logged as it is read. */
    private volatile List<String> warnings = List.of();

    public ConfigLoader(Function<String, String> env) {
        this.env = env;
    }

    public static ConfigLoader fromEnvironment() {
        return new ConfigLoader(System::getenv);
    }

    /** {@code --config PATH}, else {@code TOKENHUB_CONFIG}, else {@code conf/tokenhub.yaml}. */
    public static Path locate(String[] args, Function<String, String> env) {
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--config") && i + 1 < args.length) {
                return Path.of(args[i + 1]);
            }
            if (args[i].startsWith("--config=")) {
                return Path.of(args[i].substring("--config=".length()));
            }
        }
        String fromEnv = env.apply("TOKENHUB_CONFIG");
        return Path.of(fromEnv == null || fromEnv.isBlank() ? "conf/tokenhub.yaml" : fromEnv);
    }

    public TokenHubConfig load(Path file) {
        return load(file, true);
    }

    /** @param logWarnings false for a file read again that was read (and its warnings logged) already */
    public TokenHubConfig load(Path file, boolean logWarnings) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new ConfigException(file.toString(), List.of("cannot read the file: " + e.getMessage()));
        }
        return parse(text, file.toString(), logWarnings);
    }

    public TokenHubConfig parse(String yaml, String source) {
        return parse(yaml, source, true);
    }

    private TokenHubConfig parse(String yaml, String source, boolean logWarnings) {
        List<String> problems = new ArrayList<>();
        Map<String, Object> tree;
        try {
            String quoted = quotePlaceholders(yaml);
            List<String> aliases = aliasesIn(quoted);
            if (!aliases.isEmpty()) {
                throw new ConfigException(source, aliases);
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> parsed = YAML.readValue(quoted, Map.class);
            tree = parsed == null ? Map.of() : parsed;
        } catch (IOException | ClassCastException e) {
            // The line, as the parser saw it (placeholders quoted keep the lines; the columns may move).
            String line = e instanceof JsonProcessingException j && j.getLocation() != null
                && j.getLocation().getLineNr() > 0 ? " (line " + j.getLocation().getLineNr() + ")" : "";
            throw new ConfigException(source, List.of("not valid YAML" + line + ": " + firstLine(e.getMessage())));
        }
        @SuppressWarnings("unchecked")
        List<String> warned = new ArrayList<>();
        Map<String, Object> expanded = (Map<String, Object>) expandValues(tree, warned);
        TokenHubConfig config = read(new ConfigNode("", expanded, problems, warned));
        if (!problems.isEmpty()) {
            throw new ConfigException(source, problems);
        }
        if (logWarnings) {
            warned.forEach(w -> LOG.warn("{}: {}", source, w));
        }
        warnings = List.copyOf(warned);
        return config;
    }

    /**
     * YAML's aliases ({@code *name}) and merge keys ({@code <<}), each a problem: the mapping onto
     * the configuration does not resolve them, and read an alias as its anchor's name (until
     * 2026-12-08 {@code api_key: *key} was the key "key", without a word).
     */
    private static List<String> aliasesIn(String yaml) throws IOException {
        List<String> found = new ArrayList<>();
        try (YAMLParser parser = (YAMLParser) YAML.getFactory().createParser(yaml)) {
            for (JsonToken token = parser.nextToken(); token != null; token = parser.nextToken()) {
                int line = parser.currentTokenLocation().getLineNr();
                if (parser.isCurrentAlias()) {
                    found.add("line " + line + ": the alias *" + parser.getText() + " is not supported: write the "
                        + "value out (anchors and aliases are not read)");
                } else if (token == JsonToken.FIELD_NAME && "<<".equals(parser.currentName())) {
                    found.add("line " + line + ": the merge key << is not supported: write the settings out "
                        + "(anchors and aliases are not read)");
                }
            }
        }
        return found;
    }

    /** The warnings of the last file this loader read without problems. */
    public List<String> warnings() {
        return warnings;
    }

    /**
     * A whole value that is a {@code ${...}} in a flow mapping or list ({@code { port: ${PORT:-8080} }})
     * is not valid YAML as written: its braces are flow indicators. Such values are quoted before
     * parsing, to be expanded like any string; numbers are read from strings anyway.
     */
    static String quotePlaceholders(String yaml) {
        Matcher m = FLOW_PLACEHOLDER.matcher(yaml);
        StringBuilder out = new StringBuilder(yaml.length() + 16);
        QuoteScan scan = new QuoteScan(yaml);
        int copied = 0;
        while (m.find()) {
            if (scan.insideAt(m.start())) {
                continue;
            }
            out.append(yaml, copied, m.start()).append('"').append(m.group()).append('"');
            copied = m.end();
        }
        return out.append(yaml, copied, yaml.length()).toString();
    }

    /**
     * Whether places of a YAML text, in increasing order, are inside a quoted scalar or a comment:
     * read from the start of the text, since a quoted scalar may go on over lines (until 2026-12-08
     * only the place's own line was read, which held while a placeholder had to follow a flow
     * indicator on its line). A quote opens a scalar only where one may begin: first on its line,
     * after {@code ,}, {@code [} or <code>{</code>, or after a blank following {@code :}, {@code -}
     * or {@code ?} (so that the quote of {@code Bob's} opens nothing).
     */
    private static final class QuoteScan {
        private final String yaml;
        private int scanned;
        private char quote;
        private boolean comment;

        QuoteScan(String yaml) {
            this.yaml = yaml;
        }

        boolean insideAt(int at) {
            for (; scanned < at; scanned++) {
                char c = yaml.charAt(scanned);
                if (comment) {
                    comment = c != '\n';
                } else if (quote == '"') {
                    if (c == '\\') {
                        scanned++;
                    } else if (c == '"') {
                        quote = 0;
                    }
                } else if (quote == '\'') {
                    if (c == '\'' && scanned + 1 < yaml.length() && yaml.charAt(scanned + 1) == '\'') {
                        scanned++;
                    } else if (c == '\'') {
                        quote = 0;
                    }
                } else if (c == '#' && (scanned == 0 || Character.isWhitespace(yaml.charAt(scanned - 1)))) {
                    comment = true;
                } else if ((c == '"' || c == '\'') && scalarMayBeginAt(scanned)) {
                    quote = c;
                }
            }
            return quote != 0 || comment;
        }

        private boolean scalarMayBeginAt(int at) {
            int before = at - 1;
            boolean blank = false;
            while (before >= 0 && (yaml.charAt(before) == ' ' || yaml.charAt(before) == '\t')) {
                before--;
                blank = true;
            }
            if (before < 0) {
                return true;
            }
            char indicator = yaml.charAt(before);
            return indicator == '\n' || ",[{".indexOf(indicator) >= 0 || blank && ":-?".indexOf(indicator) >= 0;
        }
    }

    /** Expands variables inside string values only, so comments may mention ${...} freely. */
    private Object expandValues(Object value, List<String> warnings) {
        if (value instanceof String text) {
            return expand(text, warnings);
        }
        if (value instanceof Map<?, ?> map) {
            Map<String, Object> out = new java.util.LinkedHashMap<>();
            map.forEach((k, v) -> out.put(String.valueOf(k), expandValues(v, warnings)));
            return out;
        }
        if (value instanceof List<?> list) {
            List<Object> out = new ArrayList<>();
            list.forEach(v -> out.add(expandValues(v, warnings)));
            return out;
        }
        return value;
    }

    /**
     * Expands {@code ${VAR}} and {@code ${VAR:-default}}; an unset variable without a default reads as
     * empty, with a warning.
     */
    String expand(String text, List<String> warnings) {
        Matcher m = VARIABLE.matcher(text);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String value = env.apply(m.group(1));
            if (value == null || value.isEmpty() && m.group(2) != null) {
                value = m.group(2);
            }
            if (value == null) {
                warnings.add("${" + m.group(1) + "} is not set and has no default: read as empty (write ${"
                    + m.group(1) + ":-default})");
                value = "";
            }
            m.appendReplacement(out, Matcher.quoteReplacement(value));
        }
        m.appendTail(out);
        return out.toString();
    }

    private TokenHubConfig read(ConfigNode root) {
        Server server = server(root.child("server"));
        Admin admin = admin(root.child("admin"));
        Storage storage = storage(root.child("storage"));
        Cluster cluster = cluster(root.child("cluster"));
        Billing billing = billing(root.child("billing"));
        Accounting accounting = accounting(root.child("accounting"));
        List<Provider> providers = root.children("providers").stream().map(this::provider).toList();
        List<Model> models = root.children("models").stream().map(this::model).toList();
        root.warnUnknown();
        crossCheck(root, providers, models);
        if (models.isEmpty()) {
            root.warn("models", "none: every model request gets 404 model_not_found");
        }
        if (cluster.enabled() && storage.redis().equals("none")) {
            root.warn("cluster.enabled", "without storage.redis each node keeps its own quota counters, so the"
                + " cluster may overdraw a wallet by up to a balance per node; rate limits are shared all the same");
        }
        if (cluster.enabled() && storage.embeddedPostgres()) {
            root.problem("cluster.enabled", "a cluster needs a shared storage.postgres server, not 'embedded'");
        }
        return new TokenHubConfig(server, admin, storage, cluster, billing, accounting, providers, models);
    }

    private Server server(ConfigNode n) {
        Server s = new Server(
            n.string("host", "0.0.0.0"),
            n.integer("port", 8080, 0, 65535),
            n.integer("management_port", 9090, 0, 65535),
            n.integer("instances", 0, 0, 256),
            n.number("max_body_bytes", 10 * 1024 * 1024, 1, Integer.MAX_VALUE),
            n.number("shutdown_grace_ms", 30_000, 0, 3_600_000));
        n.warnUnknown();
        if (s.port() != 0 && s.port() == s.managementPort()) {
            n.problem("management_port", "must differ from port");
        }
        return s;
    }

    private Admin admin(ConfigNode n) {
        Admin a = new Admin(n.string("master_key", ""), n.bool("bootstrap", false));
        n.warnUnknown();
        if (!a.masterKey().isEmpty() && a.masterKey().length() < 16) {
            n.warn("master_key", "shorter than 16 characters, easy to guess: use a long random key outside of tests");
        }
        return a;
    }

    private Storage storage(ConfigNode n) {
        Storage s = new Storage(
            n.string("postgres", "embedded"),
            n.string("redis", "none"),
            n.string("data_dir", "data"),
            n.integer("embedded_port", 54329, 1, 65535),
            n.integer("pool_size", 16, 1, 1000),
            n.integer("report_pool_size", 4, 1, 1000),
            n.integer("report_timeout_ms", 30_000, 100, 3_600_000));
        n.warnUnknown();
        if (!s.embeddedPostgres() && !s.postgres().matches("postgres(ql)?://.+")) {
            n.problem("postgres", "must be 'embedded' or a postgresql:// URL");
        } else if (!s.embeddedPostgres()) {
            // The client's own defaults stand in for what the URL leaves out: a role named "user" and a
            // database named "db", which the refusals then name (an operator audit).
            String rest = s.postgres().replaceFirst("^postgres(ql)?://", "");
            if (!rest.matches("[^/?#]*@.*")) {
                n.warn("postgres", "names no user (postgresql://USER:PASSWORD@HOST:5432/DATABASE): the client "
                    + "connects as 'user'");
            }
            if (!rest.matches("[^/?#]*/[^/?#]+.*")) {
                n.warn("postgres", "names no database (postgresql://USER:PASSWORD@HOST:5432/DATABASE): the client "
                    + "opens 'db'");
            }
        }
        if (!s.redis().equals("none") && !s.redis().matches("rediss?://.+")) {
            n.problem("redis", "must be 'none' or a redis:// URL");
        }
        return s;
    }

    private Cluster cluster(ConfigNode n) {
        Cluster c = new Cluster(n.bool("enabled", false), n.string("config", "cluster.xml"), n.string("name", ""));
        n.warnUnknown();
        return c;
    }

    private Billing billing(ConfigNode n) {
        // §4 of the product document calls it signup_credit; both names mean USD.
        if (n.has("signup_credit") && n.has("signup_credit_usd")) {
            n.problem("signup_credit", "give signup_credit_usd or signup_credit, not both");
        }
        // The default is the product document's: a dollar to try the gateway with.
        double usd = n.has("signup_credit") ? n.decimal("signup_credit", 1) : n.decimal("signup_credit_usd", 1);
        double share = n.decimal("node_share", Billing.DEFAULT_NODE_SHARE);
        if (share > Billing.MAX_NODE_SHARE) {
            n.problem("node_share", "must be at most " + Billing.MAX_NODE_SHARE + " (a fraction of what an account has "
                + "left), not " + share);
        }
        Billing b = new Billing(Math.round(usd * 1_000_000), share);
        n.warnUnknown();
        return b;
    }

    private Accounting accounting(ConfigNode n) {
        Accounting a = new Accounting(
            n.integer("batch_size", 500, 1, 10_000),
            n.number("flush_ms", 100, 1, 60_000),
            n.number("spool_max_bytes", 1L << 30, 1024, Long.MAX_VALUE),
            n.bool("journal", true));
        n.warnUnknown();
        return a;
    }

    private Provider provider(ConfigNode n) {
        String type = n.requiredString("type");
        if (!type.isEmpty() && !Provider.TYPES.contains(type)) {
            n.problem("type", "unknown provider type '" + type + "' (one of " + sorted(Provider.TYPES) + ")");
        }
        String baseUrl = n.string("base_url", "");
        if (!type.equals("mock")) {
            if (baseUrl.isEmpty()) {
                n.problem("base_url", "is required for a provider of type " + type);
            } else if (!baseUrl.matches("https?://[^\\s/]+.*")) {
                n.problem("base_url", "must be an http:// or https:// URL, not '" + baseUrl + "'");
            }
        }
        ConfigNode t = n.child("timeouts");
        Timeouts timeouts = new Timeouts(
            t.number("connect_ms", 5_000, 1, 600_000),
            t.number("first_byte_ms", 60_000, 1, 3_600_000),
            t.number("idle_ms", 60_000, 1, 3_600_000));
        t.warnUnknown();
        ConfigNode b = n.child("circuit_breaker");
        CircuitBreaker breaker = new CircuitBreaker(
            b.integer("max_failures", 5, 1, 10_000),
            b.number("window_ms", 10_000, 1, 3_600_000),
            b.number("reset_ms", 30_000, 1, 3_600_000));
        b.warnUnknown();
        Provider p = new Provider(
            n.requiredString("id"), type, stripSlash(baseUrl), n.string("api_key", ""), n.string("api_version", ""),
            timeouts, breaker, n.integer("retries", 0, 0, 10), n.integer("max_connections", 1000, 1, 100_000),
            n.bool("http2", false), n.number("chunk_delay_ms", 0, 0, 60_000), dialect(n, type), cachesAutomatically(n, type));
        // A key left out (an unset ${VAR:-} default, say) reads as the provider's failure at the first
        // call; a server on this machine (vLLM, a proxy) may need none.
        if (!type.equals("mock") && p.apiKey().isEmpty() && !baseUrl.matches("https?://(localhost|127\\.[0-9.]+|\\[::1])([:/].*)?")) {
            n.warn("api_key", "is empty: the provider is called without credentials");
        }
        n.warnUnknown();
        return p;
    }

    private Model model(ConfigNode n) {
        String type = n.string("type", "chat");
        if (!Model.TYPES.contains(type)) {
            n.problem("type", "unknown model type '" + type + "' (one of " + sorted(Model.TYPES) + ")");
        }
        int contextWindow = n.integer("context_window", 8192, 1, 100_000_000);
        int maxOutput = n.integer("max_output_tokens", Math.min(4096, contextWindow), 1, 100_000_000);
        // A request without an output limit gets this one, checked with its prompt against the context
        // window: by default it leaves at least half the window for the prompt.
        int defaultMax = n.integer("default_max_tokens", Math.max(1, Math.min(Math.min(4096, maxOutput),
            contextWindow / 2)), 1, 100_000_000);
        if (defaultMax > maxOutput) {
            n.problem("default_max_tokens", "(" + defaultMax + ") exceeds max_output_tokens (" + maxOutput + ")");
        }
        if (type.equals("chat") && maxOutput > contextWindow) {
            n.problem("max_output_tokens", "(" + maxOutput + ") exceeds context_window (" + contextWindow + ")");
        }
        if (type.equals("chat") && defaultMax >= contextWindow && defaultMax <= maxOutput) {
            n.problem("default_max_tokens", "(" + defaultMax + ") leaves no room in context_window (" + contextWindow
                + ") for a prompt: every request without max_tokens would be refused");
        }
        Set<String> capabilities = new LinkedHashSet<>(n.strings("capabilities"));
        for (String c : capabilities) {
            if (!Model.CAPABILITIES.contains(c)) {
                n.problem("capabilities", "unknown capability '" + c + "' (one of " + sorted(Model.CAPABILITIES) + ")");
            }
        }
        ConfigNode l = n.child("limits");
        Limits limits = new Limits(l.number("rpm", 0, 0, Long.MAX_VALUE), l.number("tpm", 0, 0, Long.MAX_VALUE));
        l.warnUnknown();
        ConfigNode p = n.child("pricing");
        Pricing pricing = new Pricing(price(p, "input", 0), price(p, "cached_input", p.has("input") ? -1 : 0),
            price(p, "cache_write", -1), price(p, "output", 0), price(p, "per_search", 0));
        p.warnUnknown();
        // Cached reads and cache writes default to the input price when not given.
        pricing = new Pricing(pricing.input(), pricing.cachedInput() < 0 ? pricing.input() : pricing.cachedInput(),
            pricing.cacheWrite() < 0 ? pricing.input() : pricing.cacheWrite(), pricing.output(), pricing.perSearch());
        List<Deployment> deployments = n.children("deployments").stream().map(this::deployment).toList();
        if (deployments.isEmpty()) {
            n.problem("deployments", "at least one deployment is required");
        }
        Model m = new Model(n.requiredString("id"), type, n.strings("aliases"), contextWindow, maxOutput, defaultMax,
            Set.copyOf(capabilities), limits, pricing, deployments, n.strings("fallbacks"));
        n.warnUnknown();
        if (m.id().contains("/")) {
            n.problem("id", "must not contain '/' (it separates provider and model in requests)");
        }
        return m;
    }

    /**
     * A price with at most 6 decimals and at most {@value #MAX_PRICE}: per 1M tokens that is a whole
     * number of pico-USD per token (per search, of micro-USD), so costs are exact integer arithmetic,
     * and a request within the largest context window (10^8 tokens) cannot overflow a long. Refused
     * rather than rounded, so what is charged is always exactly the price written.
     */
    private static double price(ConfigNode p, String field, double fallback) {
        double price = p.decimal(field, fallback);
        BigDecimal exact = BigDecimal.valueOf(price).stripTrailingZeros();
        if (price > MAX_PRICE || exact.scale() > 6) {
            p.problem(field, "must have at most 6 decimals and be at most " + MAX_PRICE + ", not " + exact.toPlainString());
        }
        return price;
    }

    private Deployment deployment(ConfigNode n) {
        String thinking = n.string("thinking", "");
        if (!thinking.isEmpty() && !ClaudeThinking.names().contains(thinking)) {
            n.problem("thinking", "unknown thinking mode '" + thinking + "' (one of " + sorted(ClaudeThinking.names()) + ")");
        }
        Deployment d = new Deployment(n.requiredString("provider"), n.requiredString("model"),
            n.integer("priority", 0, 0, 1000), n.integer("weight", 1, 0, 1_000_000), thinking);
        n.warnUnknown();
        return d;
    }

    private void crossCheck(ConfigNode root, List<Provider> providers, List<Model> models) {
        Set<String> providerIds = new HashSet<>();
        for (int i = 0; i < providers.size(); i++) {
            if (!providerIds.add(providers.get(i).id())) {
                root.problem("providers[" + i + "].id", "duplicate provider id '" + providers.get(i).id() + "'");
            }
        }
        Map<String, String> names = new HashMap<>();
        for (int i = 0; i < models.size(); i++) {
            Model m = models.get(i);
            String at = "models[" + i + "]";
            claim(root, names, m.id(), at + ".id", "model id");
            for (String alias : m.aliases()) {
                claim(root, names, alias, at + ".aliases", "alias");
            }
            for (int d = 0; d < m.deployments().size(); d++) {
                Deployment deployment = m.deployments().get(d);
                String provider = deployment.provider();
                if (!provider.isEmpty() && !providerIds.contains(provider)) {
                    root.problem(at + ".deployments[" + d + "].provider", "unknown provider '" + provider + "'");
                }
                boolean anthropic = providers.stream().anyMatch(p -> p.id().equals(provider) && p.type().equals("anthropic"));
                if (!deployment.thinking().isEmpty() && !anthropic) {
                    root.problem(at + ".deployments[" + d + "].thinking", "applies to deployments at anthropic providers only");
                } else if (anthropic && deployment.thinking().isEmpty() && !ClaudeThinking.versioned(deployment.model())) {
                    root.warn(at + ".deployments[" + d + "].model", "'" + deployment.model() + "' names no Claude "
                        + "version: taken for a model that thinks adaptively only and takes no temperature or top_p; "
                        + "set thinking: budget or adaptive for an older one");
                }
            }
        }
        for (int i = 0; i < models.size(); i++) {
            for (String fallback : models.get(i).fallbacks()) {
                if (!names.containsKey(fallback)) {
                    root.warn("models[" + i + "].fallbacks", "unknown model '" + fallback + "', skipped");
                }
            }
        }
    }

    private static void claim(ConfigNode root, Map<String, String> names, String name, String at, String what) {
        if (name.isEmpty()) {
            return;
        }
        String previous = names.putIfAbsent(name, at);
        if (previous != null) {
            root.problem(at, "duplicate " + what + " '" + name + "' (already used at " + previous + ")");
        }
    }

    private static String dialect(ConfigNode n, String type) {
        String dialect = n.string("dialect", "");
        if (dialect.isEmpty()) {
            return "";
        }
        if (!type.equals("openai")) {
            n.problem("dialect", "applies to providers of type openai only");
        } else if (!Dialect.names().contains(dialect)) {
            n.problem("dialect", "unknown dialect '" + dialect + "' (one of " + sorted(Dialect.names()) + ")");
        }
        return dialect;
    }

    private static boolean cachesAutomatically(ConfigNode n, String type) {
        String caching = n.string("prompt_caching", "explicit");
        if (!caching.equals("explicit") && !caching.equals("automatic")) {
            n.problem("prompt_caching", "must be 'explicit' or 'automatic', not '" + caching + "'");
        } else if (caching.equals("automatic") && !type.equals("anthropic")) {
            n.problem("prompt_caching", "applies to providers of type anthropic only");
        }
        return caching.equals("automatic");
    }

    private static String stripSlash(String url) {
        return url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
    }

    private static String sorted(Set<String> values) {
        return String.join(", ", values.stream().sorted().toList());
    }

    private static String firstLine(String message) {
        return message == null ? "" : message.lines().findFirst().orElse("");
    }
}
