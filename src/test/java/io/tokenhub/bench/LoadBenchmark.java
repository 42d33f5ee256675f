package io.tokenhub.bench;

import io.vertx.core.buffer.Buffer;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.HdrHistogram.Histogram;

/**
 * TokenHub's load benchmark: what putting the gateway in front of a provider costs, against a
 * plain reverse proxy, on this machine.
 *
 * <h2>Commands</h2>
 * <pre>
 * # Everything (11 to 14 minutes with the defaults; needs the local PostgreSQL the integration tests
 * # use, TOKENHUB_TEST_PG_URL; nginx is the baseline when installed: apt-get install -y nginx-light)
 * mvn -Pbench test-compile exec:exec@load
 *
 * # Other settings: key=value pairs, space separated (see Settings below for all of them)
 * mvn -Pbench test-compile exec:exec@load -Dbench.args="warmup=10 duration=8 slowStreams=2000"
 *
 * # The same plus a JFR recording of the gateway under saturation (an extra phase after the others,
 * # so the table's rows are not measured under the profiler); the report ends with the recording's
 * # hot methods, GC and allocation. jfrRate=2000 records at that fixed rate instead, jfrDuration=60
 * # for longer. Any recording can be summarised on its own:
 * mvn -Pbench test-compile exec:exec@load -Dbench.args="jfr=/tmp/gw.jfr"
 * java -cp target/test-classes io.tokenhub.bench.JfrSummary /tmp/gw.jfr
 *
 * # TokenHub set up as a cluster's node: wallet and plan counters in Redis (a script run per
 * # reservation and per settlement; the Redis server's CPU reported beside PostgreSQL's), rate
 * # limits through a Hazelcast member (of a cluster of its own)
 * mvn -Pbench test-compile exec:exec@load -Dbench.args="redis=redis://127.0.0.1:6379 cluster=true"
 *
 * # JMH micro-benchmarks of the hot path (key look-up, request parse, upstream body rewrite,
 * # SSE chunk rewrite), about 2 minutes; JMH options pass through, e.g. -prof gc
 * mvn -Pbench test-compile exec:exec@jmh [-Djmh.args="-prof gc"]
 * </pre>
 * The {@code load} execution runs the JVM under {@code bash -c 'ulimit -n 65536; exec java …'}:
 * 10 000 held streams need about 20 000 file descriptors in the gateway and 10 000 in the fake
 * upstream and in this process. Where the limit cannot be raised that far (a hard limit of 20 000 on
 * the machines here), the held streams go to the upstream through a provider reached over HTTP/2,
 * one socket each in the gateway; below that too, the test is scaled down to what the limit allows
 * (and says so).
 *
 * <h2>What runs</h2>
 * Five processes on 127.0.0.1, so that each one's CPU time can be read from {@code /proc}:
 * <ol>
 *   <li>this one: the load generator ({@link LoadClient}) and the report;</li>
 *   <li>the fake upstream ({@link FakeUpstreamMain}): a fixed OpenAI chat completion, or an SSE
 *   stream with a delay between chunks;</li>
 *   <li>the baseline proxy in front of the same upstream: nginx (keep-alive to the upstream, no
 *   buffering, no access log) if {@code nginx} is on the PATH, else {@link BaselineProxyMain};</li>
 *   <li>the bare Vert.x proxy ({@link BaselineProxyMain}, path {@code vertx}) in front of it too, on the
 *   gateway's JVM options: what Vert.x's HTTP server and client cost with none of TokenHub's work;</li>
 *   <li>TokenHub ({@link GatewayMain}, {@code -Xms512m -Xmx512m -XX:+UseG1GC}) with auth (a key made
 *   through the admin API), usage accounting into a fresh database of the local PostgreSQL, and
 *   metrics.</li>
 * </ol>
 * Each path — direct to the upstream, through the baseline, through the bare Vert.x proxy, through
 * TokenHub — gets a warm-up, then: one request in flight; fixed rates (open model, latency from
 * the intended send time, HdrHistogram, over {@code openConnections} connections opened before the
 * phase, as wrk2 does); saturation (closed loop, N connections); streams at a fixed rate (the same
 * way; time to first token, per-chunk transit time). Then TokenHub alone holds many slow streams open at once. The
 * report gives latencies, overhead over direct, throughput, CPU per request of each process,
 * the gateway's heap (its {@code /metrics}) and RSS, its own {@code tokenhub_overhead_seconds}
 * next to the overhead measured from outside, and a check of every usage record in PostgreSQL.
 */
public final class LoadBenchmark {

    private static final String CHAT_BODY = BenchGateway.CHAT_BODY;
    /** New connections in one phase above which its connections spiralled (a phase needs at most 32 at once). */
    private static final long SPIRAL = 100;
    /** Half the width, in ms, of the window around the accounting's flush in which slow requests are counted. */
    private static final int GRID_WINDOW_MS = 2;
    /** The JIT compilers' share of a core under which TokenHub's warm-up counts as done. */
    private static final double JIT_SETTLED = 0.05;

    /** Everything that can be set: {@code key=value} arguments, or {@code -Dbench.key=value}. */
    static final class Settings {
        int warmup = 30;              // s of warm-up per path (each shape of load, twice)
        int warmupMax = 180;          // s: TokenHub's warm-up goes on, 10 s at a time, until its JIT
                                      // compilers use under 5 % of a core, or this long in all
        int duration = 15;            // s per measured phase
        List<Integer> rates = List.of(500, 2000);   // open-model request rates
        int connections = 32;         // closed-loop users at saturation
        int openConnections = 64;     // connections per path of the fixed-rate phases and streams, all
                                      // opened before each phase (0: opened as requests need them)
        int streamRate = 200;         // streams/s in the streaming phase
        int streamChunks = 20;        // content chunks per stream
        int streamDelayMs = 5;        // upstream delay between chunks
        int slowStreams = 10_000;     // streams held open at once (0 = skip)
        int slowRate = 1_000;         // streams opened per second while ramping up
        int slowIntervalMs = 1_000;   // upstream delay between chunks of a held stream
        int slowHold = 15;            // s during which all of them are open
        List<String> paths = List.of("direct", "baseline", "vertx", "tokenhub");
        String baseline = "auto";     // auto | nginx | vertx
        String jfr = "";              // file: JFR recording of the gateway in an extra saturation phase
        int jfrRate = 0;              // req/s of that phase, open model (0: saturation)
        int jfrDuration = 0;          // s of that phase (0: duration); a longer one gathers more samples
        String gatewayHeap = "512m";   // -Xms and -Xmx of the gateway and the bare Vert.x proxy
        String gatewayJvm = "-XX:+UseG1GC";   // more JVM options for the gateway, space separated
                                              // (the default names the collector k8s/ ships:
                                              // a value given here replaces it, so name one too)
        String gatewayJava = "";      // the gateway's JDK (its home or its java); blank: this JVM's
        boolean upstreamHttp2;        // TokenHub to the fake upstream over HTTP/2 (h2c) instead of HTTP/1.1
        int flushMs = BenchGateway.FLUSH_MS;   // the gateway's accounting.flush_ms
        String redis = "";            // redis://host:port: TokenHub's wallet and plan counters there, as a
                                      // cluster keeps them (blank: in its process, storage.redis: none)
        boolean cluster;              // TokenHub as a Hazelcast member (a cluster of its own, cluster.xml)
        int upstreamLoops = 2;
        int proxyWorkers = 2;
        int clientLoops = 2;
        String out = "";              // also write the report here

        static Settings parse(String[] args) {
            Settings s = new Settings();
            Map<String, String> values = BenchArgs.parse("bench.", args);
            values.forEach((key, value) -> {
                switch (key) {
                    case "warmup" -> s.warmup = Integer.parseInt(value);
                    case "warmupMax" -> s.warmupMax = Integer.parseInt(value);
                    case "duration" -> s.duration = Integer.parseInt(value);
                    case "rates" -> s.rates = value.isBlank() ? List.of()
                        : Arrays.stream(value.split(",")).map(String::trim).map(Integer::parseInt).toList();
                    case "connections" -> s.connections = Integer.parseInt(value);
                    case "openConnections" -> s.openConnections = Integer.parseInt(value);
                    case "streamRate" -> s.streamRate = Integer.parseInt(value);
                    case "streamChunks" -> s.streamChunks = Integer.parseInt(value);
                    case "streamDelayMs" -> s.streamDelayMs = Integer.parseInt(value);
                    case "slowStreams" -> s.slowStreams = Integer.parseInt(value);
                    case "slowRate" -> s.slowRate = Integer.parseInt(value);
                    case "slowIntervalMs" -> s.slowIntervalMs = Integer.parseInt(value);
                    case "slowHold" -> s.slowHold = Integer.parseInt(value);
                    case "paths" -> s.paths = Arrays.stream(value.split(",")).map(String::trim).toList();
                    case "baseline" -> s.baseline = value;
                    case "jfr" -> s.jfr = value;
                    case "jfrRate" -> s.jfrRate = Integer.parseInt(value);
                    case "jfrDuration" -> s.jfrDuration = Integer.parseInt(value);
                    case "gatewayHeap" -> s.gatewayHeap = value;
                    case "gatewayJvm" -> s.gatewayJvm = value;
                    case "gatewayJava" -> s.gatewayJava = value;
                    case "upstreamHttp2" -> s.upstreamHttp2 = Boolean.parseBoolean(value);
                    case "flushMs" -> s.flushMs = Integer.parseInt(value);
                    case "redis" -> s.redis = value;
                    case "cluster" -> s.cluster = Boolean.parseBoolean(value);
                    case "upstreamLoops" -> s.upstreamLoops = Integer.parseInt(value);
                    case "proxyWorkers" -> s.proxyWorkers = Integer.parseInt(value);
                    case "clientLoops" -> s.clientLoops = Integer.parseInt(value);
                    case "out" -> s.out = value;
                    default -> throw new IllegalArgumentException("unknown setting '" + key + "'");
                }
            });
            return s;
        }

        BenchGateway.Setup setup() {
            return new BenchGateway.Setup(upstreamHttp2, flushMs, redis, cluster);
        }

        long estimatedSeconds() {
            int phases = 2 + rates.size() + 1;
            long perPath = warmup + (long) phases * (duration + 2);
            long slow = slowStreams == 0 ? 0 : slowStreams / Math.max(1, slowRate) + slowHold + 15;
            return paths.size() * perPath + slow + 40;
        }

        @Override
        public String toString() {
            return "warmup=" + warmup + "s (TokenHub's up to " + warmupMax + "s) duration=" + duration + "s rates=" + rates + " connections=" + connections
                + " openConnections=" + openConnections
                + " streams=" + streamRate + "/s×" + streamChunks + " chunks every " + streamDelayMs + " ms"
                + " held streams=" + slowStreams + " (opened at " + slowRate + "/s, a chunk every " + slowIntervalMs
                + " ms, held " + slowHold + "s) gateway heap=" + gatewayHeap + " TokenHub: " + setup().describe()
                + (jfr.isEmpty() ? "" : " jfr=" + jfr + (jfrRate > 0 ? " at " + jfrRate + "/s" : " at saturation"));
        }
    }

    enum Kind { SEQUENTIAL, OPEN, SATURATION, STREAMS }

    record Phase(Kind kind, String label, double rate) {
    }

    /** One phase measured on one path. */
    static final class Row {
        final String path;
        final Phase phase;
        final LoadClient.Result result;
        final Map<String, Double> cpuUs = new LinkedHashMap<>();
        long heap = -1;
        long rss = -1;
        double otherCpuPercent;
        String threads = "";
        String connectionsAndGc = "";
        String switches = "";
        Prometheus.Overhead overhead;

        Row(String path, Phase phase, LoadClient.Result result) {
            this.path = path;
            this.phase = phase;
            this.result = result;
        }

        long handled() {
            return result.ok.sum() + result.errors.sum();
        }
    }

    /** CPU ticks of each process, and the gateway's metrics, at one moment. */
    record Snapshot(Map<String, Long> ticks, long machineBusy, long nanos, Prometheus metrics) {
    }

    private final Settings settings;
    private final Path work;
    private final List<Row> rows = new ArrayList<>();
    private final StringBuilder notes = new StringBuilder();
    private String warmUpNote = "";
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
    private Procs.Child upstream;
    private Procs.Child baseline;
    /** The bare Vert.x forwarding proxy: what Vert.x's HTTP server and client cost without TokenHub. */
    private Procs.Child vertxProxy;
    private BenchGateway gateway;
    private String baselineName;
    private int upstreamPort;
    private int baselinePort;
    private int vertxPort;
    private int managementPort;
    private LoadClient client;
    private long tokenhubAnswered;
    private String slowReport = "";
    /** The held streams go through the HTTP/2 provider: the open-file limit does not fit them over HTTP/1.1. */
    private boolean heldOverHttp2;
    /** What the held-streams test saw: most streams open at once, streams not completed, heap with them open. */
    private long heldMaxOpen;
    private long heldFailed;
    private long heldHeap;
    private String jfrReport = "";
    private String usageReport = "";

    private LoadBenchmark(Settings settings, Path work) {
        this.settings = settings;
        this.work = work;
    }

    public static void main(String[] args) throws Exception {
        Settings settings = Settings.parse(args);
        Path work = Files.createTempDirectory("tokenhub-bench");
        LoadBenchmark bench = new LoadBenchmark(settings, work);
        int status = 0;
        try {
            bench.run();
        } catch (Exception e) {
            System.err.println("benchmark failed: " + e);
            e.printStackTrace();
            status = 1;
        } finally {
            bench.close();
        }
        System.exit(status);
    }

    private void run() throws Exception {
        limitHeldStreams();
        System.out.println(machine());
        System.out.println("Settings: " + settings);
        System.out.println("Work directory (logs, configs): " + work);
        System.out.println("Expected duration: about " + (settings.estimatedSeconds() + 59) / 60 + " minutes, "
            + "and up to " + Math.max(0, settings.warmupMax - settings.warmup) + " s more while TokenHub's JIT settles\n");

        startUpstream();
        startBaseline();
        startVertxProxy();
        startGateway();
        int maxConnections = Math.max(4_000, settings.slowStreams + 1_000);
        client = new LoadClient(settings.clientLoops, maxConnections, settings.openConnections);
        for (String path : settings.paths) {
            smokeTest(path);
        }

        // Every path is warmed up first (the first one also warms this load generator and the upstream);
        // then each phase runs on every path in turn, so that the rows compared with each other were
        // measured minutes apart at most, under the same conditions of the machine.
        for (String path : settings.paths) {
            log("== " + path + ": warm-up " + settings.warmup + " s");
            warmUp(path);
        }
        for (Phase phase : phases()) {
            for (String path : settings.paths) {
                log("== " + path + ": " + phase.label() + " for " + settings.duration + " s");
                Row row = measure(path, phase);
                rows.add(row);
                log("   " + summary(row));
            }
        }
        if (settings.paths.contains("tokenhub") && !settings.jfr.isBlank()) {
            profiledPhase();
        }
        if (settings.paths.contains("tokenhub") && settings.slowStreams > 0) {
            heldStreams();
        }
        if (settings.paths.contains("tokenhub")) {
            usageReport = gateway.checkUsage(tokenhubAnswered).toString();
        }
        String report = report();
        System.out.println(report);
        Files.writeString(work.resolve("results.txt"), report);
        if (!settings.out.isBlank()) {
            Files.writeString(Path.of(settings.out), report);
        }
        System.out.println("(report also in " + work.resolve("results.txt") + ")");
    }

    private List<Phase> phases() {
        List<Phase> phases = new ArrayList<>();
        phases.add(new Phase(Kind.SEQUENTIAL, "1 in flight", 0));
        for (int rate : settings.rates) {
            phases.add(new Phase(Kind.OPEN, rate + "/s", rate));
        }
        phases.add(new Phase(Kind.SATURATION, "saturation c=" + settings.connections, 0));
        phases.add(new Phase(Kind.STREAMS, "streams " + settings.streamRate + "/s", settings.streamRate));
        return phases;
    }

    // ------------------------------------------------------------------ processes

    private void startUpstream() throws Exception {
        upstreamPort = freePort();
        upstream = FakeUpstreamMain.start(work, upstreamPort, settings.upstreamLoops);
        log("fake upstream: pid " + upstream.pid() + ", port " + upstreamPort);
    }

    private void startBaseline() throws Exception {
        if (!settings.paths.contains("baseline")) {
            return;
        }
        baselinePort = freePort();
        boolean nginx = !settings.baseline.equals("vertx") && onPath("nginx");
        if (settings.baseline.equals("nginx") && !nginx) {
            throw new IllegalStateException("baseline=nginx but nginx is not installed (apt-get install -y nginx-light)");
        }
        if (nginx) {
            Path dir = work.resolve("nginx");
            Files.createDirectories(dir.resolve("tmp"));
            Files.writeString(dir.resolve("nginx.conf"), nginxConf(dir));
            baseline = Procs.start("nginx", work.resolve("nginx.log"), List.of("bash", "-c",
                "nginx -p \"$0\" -c \"$0/nginx.conf\" -e \"$0/error.log\" & n=$!; cat > /dev/null; kill $n; wait $n",
                dir.toString()));
            String pid = Procs.awaitFile(dir.resolve("nginx.pid"), baseline, 30_000);
            baseline.measuredPid = Long.parseLong(pid.trim());
            baselineName = Procs.run(List.of("nginx", "-v"), 5).replace("nginx version: ", "")
                + " (" + settings.proxyWorkers + " workers)";
        } else {
            baseline = bareProxy("baseline", baselinePort, "", List.of("-Xmx512m"));
            baselineName = "Vert.x forwarding proxy (" + (settings.baseline.equals("vertx") ? "baseline=vertx"
                : "nginx not installed") + ")";
            if (settings.paths.contains("vertx")) {
                settings.paths = settings.paths.stream().filter(path -> !path.equals("vertx")).toList();
                notes.append("note: the baseline is the bare Vert.x proxy, so it has no path of its own\n");
            }
        }
        awaitHttp(baselinePort);
        log("baseline: " + baselineName + ", pid " + baseline.pid() + ", port " + baselinePort);
    }

    private String nginxConf(Path dir) {
        return """
            worker_processes %d;
            worker_rlimit_nofile 65536;
            daemon off;
            pid %s/nginx.pid;
            error_log %s/error.log warn;
            events { worker_connections 40000; }
            http {
              access_log off;
              client_body_temp_path %s/tmp/body;
              proxy_temp_path %s/tmp/proxy;
              fastcgi_temp_path %s/tmp/fastcgi;
              uwsgi_temp_path %s/tmp/uwsgi;
              scgi_temp_path %s/tmp/scgi;
              upstream fake {
                server 127.0.0.1:%d;
                keepalive 1024;
                keepalive_requests 10000000;
                keepalive_timeout 600s;
              }
              server {
                listen 127.0.0.1:%d backlog=8192;
                keepalive_requests 10000000;
                keepalive_timeout 600s;
                location / {
                  proxy_pass http://fake;
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                  proxy_buffering off;
                  proxy_read_timeout 600s;
                }
              }
            }
            """.formatted(settings.proxyWorkers, dir, dir, dir, dir, dir, dir, dir, upstreamPort, baselinePort);
    }

    /**
     * The bare Vert.x proxy, on the gateway's JVM, heap and options: TokenHub less all it does
     * between its HTTP server and its upstream client. The CPU target is ≤ 2× nginx; this shows how
     * much of that Vert.x itself takes.
     */
    private void startVertxProxy() throws Exception {
        if (!settings.paths.contains("vertx")) {
            return;
        }
        vertxPort = freePort();
        vertxProxy = bareProxy("vertx-proxy", vertxPort, settings.gatewayJava, gatewayJvm(false));
        awaitHttp(vertxPort);
        log("bare Vert.x proxy: pid " + vertxProxy.pid() + ", port " + vertxPort);
    }

    /** {@link BaselineProxyMain} on {@code port} in front of the upstream, started and ready. */
    private Procs.Child bareProxy(String name, int port, String java, List<String> jvm) throws Exception {
        Path ready = work.resolve(name + ".ready");
        Procs.Child proxy = Procs.java(name, work.resolve(name + ".log"), java, jvm, BaselineProxyMain.class.getName(),
            List.of(Integer.toString(port), Integer.toString(upstreamPort), Integer.toString(settings.proxyWorkers),
                ready.toString()));
        Procs.awaitFile(ready, proxy, 60_000);
        return proxy;
    }

    /** The gateway's JVM options (heap, collector, more from gatewayJvm); with the JFR ones for the gateway. */
    private List<String> gatewayJvm(boolean jfr) {
        List<String> jvm = new ArrayList<>(BenchGateway.heap(settings.gatewayHeap));
        if (jfr && !settings.jfr.isBlank()) {
            jvm.addAll(List.of("-XX:+UnlockDiagnosticVMOptions", "-XX:+DebugNonSafepoints",
                "-XX:StartFlightRecording=name=boot,settings=default,maxage=30s"));
        }
        if (!settings.gatewayJvm.isBlank()) {
            jvm.addAll(Arrays.asList(settings.gatewayJvm.trim().split("\\s+")));
        }
        return jvm;
    }

    private void startGateway() throws Exception {
        if (!settings.paths.contains("tokenhub")) {
            return;
        }
        gateway = BenchGateway.create();
        log("database: " + gateway.databaseName());
        Runtime.getRuntime().addShutdownHook(new Thread(this::close, "bench-close"));
        List<String> jvm = gatewayJvm(true);
        gateway.start(work, upstreamPort, settings.gatewayJava, jvm, settings.setup());
        managementPort = gateway.managementPort();
        notes.append(gateway.note());
        log("TokenHub: pid " + gateway.pid() + ", API port " + gateway.apiPort() + ", management port " + managementPort
            + ", JVM " + (settings.gatewayJava.isBlank() ? "" : settings.gatewayJava + " ") + jvm
            + ", " + settings.setup().describe() + "; API key created through the admin API");
    }

    private void smokeTest(String path) {
        LoadClient.Target target = target(path);
        LoadClient.Result plain = client.closed(target, Buffer.buffer(CHAT_BODY), false, 1, 0.2);
        LoadClient.Result stream = client.open(target, BenchGateway.streamBody(3, 0), true, 10, 0.3, 10_000);
        if (plain.ok.sum() == 0 || plain.errors.sum() > 0 || stream.ok.sum() == 0 || stream.errors.sum() > 0) {
            throw new IllegalStateException(path + " does not answer: " + plain.firstError.get() + " / "
                + stream.firstError.get());
        }
        if (path.equals("tokenhub")) {
            tokenhubAnswered += plain.ok.sum() + stream.ok.sum();
        }
        log("smoke test " + path + ": OK");
    }

    // ------------------------------------------------------------------ measuring

    private LoadClient.Target target(String path) {
        return switch (path) {
            case "direct" -> new LoadClient.Target(path, upstreamPort, "/v1/chat/completions", null);
            case "baseline" -> new LoadClient.Target(path, baselinePort, "/v1/chat/completions", null);
            case "vertx" -> new LoadClient.Target(path, vertxPort, "/v1/chat/completions", null);
            case "tokenhub" -> gateway.target();
            default -> throw new IllegalArgumentException("unknown path '" + path + "' (direct, baseline, vertx, tokenhub)");
        };
    }

    /**
     * Warms the path up with each shape of load the phases use (many connections, one request in
     * flight, streams), twice over, and TokenHub's metrics scraped every second as Prometheus would;
     * then TokenHub's goes on until its JIT has settled. The JIT compiles for what it has seen. After
     * a warm-up of closed loop and streams alone, the first phase began with the first scrape: a GET
     * on the management port took branches of the HTTP decoder that the compiled code had left out,
     * which deoptimised it and about 130 other compiled methods, and recompiling them and 600 more
     * kept a compiler thread at 12-15 % of a core through the one-in-flight phase. And on a slow
     * machine 30 s are not enough: the compiler, starved of CPU by the load, still had a backlog that
     * it worked off in whichever phase came next (13 % of a core there). No fixed-rate load here: on
     * a cold JVM it opens connections faster than the gateway can serve them (the spiral the report
     * counts), and every phase after it would run beside thousands of idle connections.
     */
    private void warmUp(String path) {
        LoadClient.Target target = target(path);
        long[] counts = new long[3];
        if (path.equals("tokenhub")) {
            ScheduledExecutorService scraper = Executors.newSingleThreadScheduledExecutor();
            scraper.scheduleWithFixedDelay(() -> Prometheus.scrape(managementPort), 0, 1, TimeUnit.SECONDS);
            try {
                long started = System.nanoTime();
                warmUpRounds(target, counts);
                warmUpNote = settleJit(target, counts, started);
            } finally {
                scraper.shutdownNow();
            }
            tokenhubAnswered += counts[0] + counts[1];
        } else {
            warmUpRounds(target, counts);
        }
        log("   warm-up: " + counts[0] + " requests, " + counts[1] + " streams, errors " + counts[2]);
    }

    private void warmUpRounds(LoadClient.Target target, long[] counts) {
        for (int i = 0; i < 2; i++) {
            warmUpRound(target, settings.warmup / 2.0, counts);
        }
    }

    /** More rounds of 10 s until the gateway's JIT compilers are nearly idle, or warmupMax; says how it went. */
    private String settleJit(LoadClient.Target target, long[] counts, long started) {
        double compiler = Double.NaN;
        while ((Double.isNaN(compiler) || compiler > JIT_SETTLED)
            && (System.nanoTime() - started) / 1e9 + 10 <= settings.warmupMax) {
            Map<Long, Long> before = Procs.compilerThreadTicks(gateway.pid());
            long t0 = System.nanoTime();
            warmUpRound(target, 10, counts);
            compiler = compilerShare(before, Procs.compilerThreadTicks(gateway.pid()), (System.nanoTime() - t0) / 1e9);
            log(String.format(Locale.ROOT, "   JIT compilers: %.0f %% of a core in the last 10 s", compiler * 100));
        }
        double took = (System.nanoTime() - started) / 1e9;
        if (Double.isNaN(compiler)) {
            return String.format(Locale.ROOT, "TokenHub's warm-up: %.0f s (warmupMax=%d s left no time to wait "
                + "for its JIT compilers)%n", took, settings.warmupMax);
        }
        return String.format(Locale.ROOT, "TokenHub's warm-up: %.0f s, until its JIT compilers used %.0f %% of a "
            + "core (%s)%n", took, compiler * 100,
            compiler > JIT_SETTLED ? "not settled within warmupMax=" + settings.warmupMax + " s" : "settled");
    }

    /** Many connections, then one request in flight, then streams; adds requests, streams, errors to counts. */
    private void warmUpRound(LoadClient.Target target, double seconds, long[] counts) {
        Buffer chat = Buffer.buffer(CHAT_BODY);
        LoadClient.Result many = client.closed(target, chat, false, 16, seconds * 0.5);
        LoadClient.Result one = client.closed(target, chat, false, 1, seconds * 0.2);
        LoadClient.Result streamed = client.open(target, BenchGateway.streamBody(settings.streamChunks,
            settings.streamDelayMs), true, settings.streamRate, seconds * 0.3, 30_000);
        counts[0] += many.ok.sum() + one.ok.sum();
        counts[1] += streamed.ok.sum();
        counts[2] += many.errors.sum() + one.errors.sum() + streamed.errors.sum();
    }

    /** Per compiler thread, so that one the JVM starts meanwhile counts from zero and one it stops drops out. */
    private static double compilerShare(Map<Long, Long> before, Map<Long, Long> after, double seconds) {
        long ticks = 0;
        for (var e : after.entrySet()) {
            ticks += Math.max(0, e.getValue() - before.getOrDefault(e.getKey(), 0L));
        }
        return ticks / (double) Procs.CLK_TCK / seconds;
    }

    /**
     * One more phase on TokenHub, at saturation or at {@code jfrRate}, with a JFR recording
     * ({@code settings=profile}, sampling every millisecond). The gateway was started with a low-overhead recording already
     * running, so that starting this one does not instrument JDK classes (and deoptimise hot code)
     * in the middle of the load.
     */
    private void profiledPhase() throws Exception {
        awaitHealthy("tokenhub");
        Path file = Path.of(settings.jfr);
        Files.deleteIfExists(file);
        int length = settings.jfrDuration > 0 ? settings.jfrDuration : settings.duration;
        log("== tokenhub: " + profiledLoad() + " with JFR for " + length + " s");
        // A Java sample every millisecond instead of every 10 (profile's own): the gateway's event
        // loops are in system calls much of the time, and 15 s at the default gave 300-400 samples.
        log("   " + Procs.run(List.of("jcmd", Long.toString(gateway.pid()), "JFR.start", "name=bench",
            "settings=profile", "method-profiling=max"), 30).replace('\n', ' '));
        Map<String, Long> threadsBefore = Procs.threadTicks(gateway.pid());
        long cpuBefore = Procs.cpuTicks(gateway.pid());
        long started = System.nanoTime();
        LoadClient.Result result = settings.jfrRate > 0
            ? client.open(target("tokenhub"), Buffer.buffer(CHAT_BODY), false, settings.jfrRate, length, 15_000)
            : client.closed(target("tokenhub"), Buffer.buffer(CHAT_BODY), false, settings.connections, length);
        double seconds = (System.nanoTime() - started) / 1e9;
        long cpu = Procs.cpuTicks(gateway.pid()) - cpuBefore;
        String threads = threadShares(threadsBefore, Procs.threadTicks(gateway.pid()), seconds);
        tokenhubAnswered += result.ok.sum();
        // JFR.stop returns once the recording is written whole.
        Procs.run(List.of("jcmd", Long.toString(gateway.pid()), "JFR.stop", "name=bench", "filename=" + file), 60);
        jfrReport = String.format(Locale.ROOT, "while recording: %.0f req/s, gateway CPU %.1f µs/req; threads: %s%n",
            result.throughput(), cpu * 1e6 / Procs.CLK_TCK / Math.max(1, result.ok.sum() + result.errors.sum()), threads)
            + (Files.exists(file) ? JfrSummary.summarize(file, 25) : "JFR recording " + file + " was not written\n");
    }

    private String profiledLoad() {
        return settings.jfrRate > 0 ? settings.jfrRate + " req/s" : "saturation c=" + settings.connections;
    }

    /** After an overload the gateway's breaker may be open: wait (bounded) until the path answers again. */
    private void awaitHealthy(String path) {
        LoadClient.Target target = target(path);
        long deadline = System.currentTimeMillis() + 60_000;
        int failures = 0;
        while (System.currentTimeMillis() < deadline) {
            LoadClient.Result probe = client.closed(target, Buffer.buffer(CHAT_BODY), false, 1, 0.1);
            if (path.equals("tokenhub")) {
                tokenhubAnswered += probe.ok.sum();
            }
            if (probe.errors.sum() == 0 && probe.ok.sum() > 0) {
                if (failures > 0) {
                    log("   " + path + " answers again after " + failures + " failed probes");
                    notes.append("note: before ").append(path).append("'s next phase, ").append(failures)
                        .append(" probes failed (").append(probe.firstError.get() == null ? lastProbeError
                            : probe.firstError.get()).append(")\n");
                }
                return;
            }
            failures++;
            lastProbeError = probe.firstError.get();
            sleep(500);
        }
        log("   " + path + " still failing after 60 s: " + lastProbeError);
    }

    private String lastProbeError;
    private boolean closed;

    private Row measure(String path, Phase phase) throws Exception {
        awaitHealthy(path);
        LoadClient.Target target = target(path);
        Buffer chat = Buffer.buffer(CHAT_BODY);
        boolean tokenhub = path.equals("tokenhub");
        boolean fixed = settings.openConnections > 0 && (phase.kind() == Kind.OPEN || phase.kind() == Kind.STREAMS);
        if (fixed) {
            prime(path, target, phase);
        }
        Map<String, Long> threadsBefore = tokenhub ? Procs.threadTicks(gateway.pid()) : Map.of();
        long[] userSysBefore = tokenhub ? Procs.userSysTicks(gateway.pid()) : null;
        long[] gatewaySwitches = tokenhub ? Procs.contextSwitches(gateway.pid()) : null;
        long[] upstreamSwitches = Procs.contextSwitches(upstream.pid());
        Snapshot before = snapshot(path);
        long openedBefore = client.connectionsOpened();
        LoadClient.Result result = switch (phase.kind()) {
            case SEQUENTIAL -> client.closed(target, chat, false, 1, settings.duration);
            case OPEN -> client.open(target, chat, false, phase.rate(), settings.duration, 15_000, fixed);
            case SATURATION -> client.closed(target, chat, false, settings.connections, settings.duration);
            case STREAMS -> client.open(target, BenchGateway.streamBody(settings.streamChunks, settings.streamDelayMs),
                true, phase.rate(), settings.duration, 30_000, fixed);
        };
        Snapshot after = snapshot(path);
        Row row = new Row(path, phase, result);
        if (tokenhub) {
            long[] userSys = Procs.userSysTicks(gateway.pid());
            long user = userSys[0] - userSysBefore[0];
            long sys = userSys[1] - userSysBefore[1];
            row.threads = String.format(Locale.ROOT, "[user %.0f%% / kernel %.0f%% of its CPU] ",
                user * 100.0 / Math.max(1, user + sys), sys * 100.0 / Math.max(1, user + sys))
                + threadShares(threadsBefore, Procs.threadTicks(gateway.pid()), (after.nanos() - before.nanos()) / 1e9);
        }
        long handled = Math.max(1, row.handled());
        long ours = 0;
        for (String process : before.ticks().keySet()) {
            long ticks = after.ticks().get(process) - before.ticks().get(process);
            ours += ticks;
            row.cpuUs.put(process, ticks * 1e6 / Procs.CLK_TCK / handled);
        }
        // CPU used by anything else on the machine meanwhile (other builds and tests): a noise gauge.
        double capacity = (after.nanos() - before.nanos()) / 1e9 * Procs.CLK_TCK
            * Runtime.getRuntime().availableProcessors();
        row.otherCpuPercent = capacity <= 0 ? 0 : Math.max(0, (after.machineBusy() - before.machineBusy() - ours))
            * 100.0 / capacity;
        if (tokenhub) {
            tokenhubAnswered += result.ok.sum();
            row.heap = after.metrics().heapUsed();
            row.rss = Procs.rssBytes(gateway.pid());
            row.overhead = Prometheus.overheadBetween(before.metrics(), after.metrics());
            row.connectionsAndGc = (client.connectionsOpened() - openedBefore) + " new from the load generator, "
                + Prometheus.connectionsAndGc(before.metrics(), after.metrics());
            row.switches = "gateway " + switchesPer(gatewaySwitches, Procs.contextSwitches(gateway.pid()), handled)
                + ", upstream " + switchesPer(upstreamSwitches, Procs.contextSwitches(upstream.pid()), handled);
        } else if (path.equals("baseline")) {
            row.rss = Procs.treeRssBytes(baseline.pid());
        } else if (path.equals("vertx")) {
            row.rss = Procs.treeRssBytes(vertxProxy.pid());
        }
        long opened = client.connectionsOpened() - openedBefore;
        if (opened > SPIRAL) {
            // Left open, they would carry the next phase's requests (one each, spread thin) and hold
            // the server's memory: a spiral would spoil every phase after its own.
            client.reconnect();
            notes.append("note: ").append(path).append(' ').append(phase.label()).append(" opened ").append(opened)
                .append(" new connections (the load generator's connections spiralled); they were closed before the ")
                .append("next phase\n");
        }
        return row;
    }

    /** Opens the fixed pools' connections to the path before its phase, so that none opens during it. */
    private void prime(String path, LoadClient.Target target, Phase phase) {
        long openedBefore = client.connectionsOpened();
        LoadClient.Result primed = client.prime(target, Buffer.buffer(CHAT_BODY));
        if (path.equals("tokenhub")) {
            tokenhubAnswered += primed.ok.sum();
        }
        long opened = client.connectionsOpened() - openedBefore;
        if (opened > 0) {
            log("   " + opened + " connections opened for the phase");
        }
        if (primed.errors.sum() + primed.unfinished > 0) {
            notes.append("note: before ").append(path).append(' ').append(phase.label()).append(", ")
                .append(primed.errors.sum() + primed.unfinished).append(" of the requests opening its ")
                .append(client.fixedConnections()).append(" connections failed (")
                .append(primed.firstError.get() != null ? primed.firstError.get() : "no answer within 30 s")
                .append(")\n");
        }
    }

    /**
     * How many answered requests took over 1 ms; with a period (not 0), how many of those were due
     * within ±{@link #GRID_WINDOW_MS} of the one phase of that period that holds the most of them.
     */
    static String slowRequests(Row row, long periodMs) {
        LoadClient.Result r = row.result;
        long answered = Math.max(1, r.ok.sum());
        String out = String.format(Locale.ROOT, "%d over 1 ms (%.2f %% of %d)", r.slowCount.get(),
            r.slowCount.get() * 100.0 / answered, answered);
        List<Long> times = new ArrayList<>(r.slow);
        if (periodMs <= 2 * GRID_WINDOW_MS || times.isEmpty()) {
            return out;
        }
        long origin = times.stream().mapToLong(Long::longValue).min().orElse(0);
        int[] perMs = new int[(int) periodMs];
        for (long t : times) {
            perMs[(int) ((t - origin) / 1_000_000 % periodMs)]++;
        }
        int best = 0;
        for (int phase = 0; phase < periodMs; phase++) {
            int near = 0;
            for (int d = -GRID_WINDOW_MS; d <= GRID_WINDOW_MS; d++) {
                near += perMs[(int) Math.floorMod(phase + d, periodMs)];
            }
            best = Math.max(best, near);
        }
        return out + String.format(Locale.ROOT, "; %d of them (%.0f %%) on the grid", best,
            best * 100.0 / times.size());
    }

    /**
     * The period of TokenHub's usage writes at a fixed rate: its flush_ms, unless a batch fills before
     * (then writes follow the batches, on no grid of flush_ms's: 0).
     */
    private long flushPeriodMs(double rate) {
        return rate * settings.flushMs / 1000 < BenchGateway.USAGE_BATCH ? settings.flushMs : 0;
    }

    private static String switchesPer(long[] before, long[] after, long handled) {
        return String.format(Locale.ROOT, "%.2f + %.2f", (after[0] - before[0]) / (double) handled,
            (after[1] - before[1]) / (double) handled);
    }

    /** Where the gateway's CPU went during a phase: % of one core per thread group, largest first. */
    private static String threadShares(Map<String, Long> before, Map<String, Long> after, double seconds) {
        StringBuilder out = new StringBuilder();
        after.entrySet().stream()
            .map(e -> Map.entry(e.getKey(), e.getValue() - before.getOrDefault(e.getKey(), 0L)))
            .filter(e -> e.getValue() > 0)
            .sorted(Map.Entry.<String, Long>comparingByValue().reversed())
            .limit(8)
            .forEach(e -> out.append(out.length() == 0 ? "" : ", ").append(e.getKey()).append(' ')
                .append(String.format(Locale.ROOT, "%.0f%%", e.getValue() * 100.0 / Procs.CLK_TCK / seconds)));
        return out.toString();
    }

    private Snapshot snapshot(String path) {
        Map<String, Long> ticks = new LinkedHashMap<>();
        switch (path) {
            case "baseline" -> ticks.put("proxy", Procs.treeCpuTicks(baseline.pid()));
            case "vertx" -> ticks.put("proxy", Procs.treeCpuTicks(vertxProxy.pid()));
            case "tokenhub" -> ticks.put("proxy", Procs.cpuTicks(gateway.pid()));
            default -> { }
        }
        ticks.put("upstream", Procs.cpuTicks(upstream.pid()));
        ticks.put("loadgen", Procs.cpuTicks(ProcessHandle.current().pid()));
        if (path.equals("tokenhub")) {
            ticks.put("postgres", Procs.cpuTicksByCommandLine(gateway.databaseName()));
            if (!settings.redis.isBlank()) {
                // Every redis-server on this machine, the URL's among them: the gateway is their only client here.
                ticks.put("redis", Procs.cpuTicksByCommandLine("redis-server"));
            }
        }
        return new Snapshot(ticks, Procs.machineBusyTicks(), System.nanoTime(),
            path.equals("tokenhub") ? Prometheus.scrape(managementPort) : null);
    }

    /** Many slow streams open at once through TokenHub: do they all survive, and what do they cost? */
    private void heldStreams() throws Exception {
        int n = settings.slowStreams;
        double ramp = (double) n / settings.slowRate;
        int chunks = (int) Math.ceil((ramp + settings.slowHold) * 1000 / settings.slowIntervalMs) + 1;
        log("== tokenhub: " + n + " streams held open (opened at " + settings.slowRate + "/s over " + fmt1(ramp)
            + " s, " + chunks + " chunks each, one every " + settings.slowIntervalMs + " ms"
            + (heldOverHttp2 || settings.upstreamHttp2 ? ", HTTP/2 to the upstream)" : ")"));
        Procs.run(List.of("jcmd", Long.toString(gateway.pid()), "GC.run"), 30);
        long idleHeap = Prometheus.scrape(managementPort).heapUsed();
        long idleRss = Procs.rssBytes(gateway.pid());
        LoadClient.Result result = new LoadClient.Result();
        long[] sample = new long[6];
        String[] histogram = {""};
        long sampleAtMs = (long) ((ramp + settings.slowHold / 2.0) * 1000);
        CompletableFuture<Void> sampler = CompletableFuture.runAsync(() -> {
            sleep(sampleAtMs);
            sample[0] = result.openStreams.get();
            sample[1] = Prometheus.scrape(managementPort).heapUsed();
            sample[2] = Procs.rssBytes(gateway.pid());
            long cpuBefore = Procs.cpuTicks(gateway.pid());
            sleep(2_000);
            sample[5] = (Procs.cpuTicks(gateway.pid()) - cpuBefore) * 1_000_000 / Procs.CLK_TCK / 2;
            Procs.run(List.of("jcmd", Long.toString(gateway.pid()), "GC.run"), 30);
            sample[3] = Prometheus.scrape(managementPort).heapUsed();
            sample[4] = result.openStreams.get();
            histogram[0] = Procs.run(List.of("jcmd", Long.toString(gateway.pid()), "GC.class_histogram"), 60);
        });
        long started = System.nanoTime();
        String model = heldOverHttp2 ? BenchGateway.MODEL_H2 : BenchGateway.MODEL;
        client.open(target("tokenhub"), BenchGateway.streamBody(model, chunks, settings.slowIntervalMs), true,
            settings.slowRate, ramp, (long) ((ramp + settings.slowHold) * 1000) + 60_000, result);
        double took = (System.nanoTime() - started) / 1e9;
        sampler.get(120, TimeUnit.SECONDS);
        tokenhubAnswered += result.ok.sum();
        heldMaxOpen = result.maxOpenStreams.get();
        heldFailed = result.errors.sum() + result.unfinished;
        heldHeap = sample[1];
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "%d streams requested, %d completed with [DONE], %d failed, %d unfinished;"
                + " at most %d open at once (%d at the mid-hold sample, %d after the GC)%n",
            (long) (ramp * settings.slowRate), result.ok.sum(), result.errors.sum(), result.unfinished,
            result.maxOpenStreams.get(), sample[0], sample[4]));
        if (result.firstError.get() != null) {
            out.append("first error: ").append(result.firstError.get()).append('\n');
        }
        out.append(String.format(Locale.ROOT, "gateway heap used: idle after GC %s; with the streams open %s, after a"
                + " full GC %s (max heap %s) → %.1f KiB per open stream%n",
            mib(idleHeap), mib(sample[1]), mib(sample[3]), settings.gatewayHeap,
            sample[4] == 0 ? Double.NaN : (sample[3] - idleHeap) / 1024.0 / sample[4]));
        out.append(String.format(Locale.ROOT, "gateway RSS: idle %s, with the streams open %s; gateway CPU while"
                + " holding them: %.0f ms/s (%.1f µs per relayed chunk at %d chunks/s)%n",
            mib(idleRss), mib(sample[2]), sample[5] / 1000.0,
            sample[0] == 0 ? Double.NaN : sample[5] / (sample[0] * 1000.0 / settings.slowIntervalMs),
            sample[0] * 1000 / settings.slowIntervalMs));
        out.append(String.format(Locale.ROOT, "time to first token p50 %s ms, p99 %s ms; chunk transit p50 %s ms,"
                + " p99 %s ms; whole test %.0f s%n",
            ms(result.ttft, 50), ms(result.ttft, 99), ms(result.chunk, 50), ms(result.chunk, 99), took));
        out.append("largest classes on the gateway's heap with the streams open (jcmd GC.class_histogram):\n");
        histogram[0].lines().filter(l -> l.matches("\\s*\\d+:\\s+\\d+\\s+\\d+\\s+.*")).limit(15)
            .forEach(l -> out.append("  ").append(l.trim()).append('\n'));
        slowReport = out.toString();
        log(slowReport);
    }

    // ------------------------------------------------------------------ report

    private String report() {
        StringBuilder out = new StringBuilder();
        out.append("\n").append("=".repeat(100)).append('\n');
        out.append("TokenHub load benchmark, ").append(LocalDateTime.now().withNano(0)).append('\n');
        out.append(machine()).append('\n');
        out.append("Settings: ").append(settings).append('\n');
        out.append("Baseline: ").append(baselineName == null ? "-" : baselineName).append('\n');
        if (vertxProxy != null) {
            out.append("vertx: a bare Vert.x forwarding proxy (TokenHub's server and client settings, JVM and heap, none of"
                + " its work): the floor of a gateway on Vert.x\n");
        }
        out.append("Request: POST /v1/chat/completions, ").append(CHAT_BODY.length()).append(" B body; answer ")
            .append(FakeUpstreamMain.COMPLETION_JSON.length()).append(" B (direct/baseline) — TokenHub adds its "
                + "headers and usage.cost\n");
        out.append("Latency in ms; +p50/+p99/+p99.9 = the path's percentile minus direct's at the same load; CPU in µs"
            + " per request from /proc utime+stime of each process\n");
        out.append("(prx = nginx master+workers / the bare Vert.x proxy's JVM / the TokenHub JVM; up = fake"
            + " upstream; gen = load generator; pg = PostgreSQL backends of the gateway's database, i.e. usage"
            + " inserts;" + (settings.redis.isBlank() ? "" : " rds = the Redis server, TokenHub's wallet counters;")
            + "\n other% = CPU used by other processes on the machine during the phase, as % of all cores:"
            + " a noise gauge)\n\n");

        String header = String.format(Locale.ROOT, "%-9s %-16s %8s %7s %7s %8s %7s %7s %8s %6s %7s %7s %7s %7s%s %7s %7s %6s%n",
            "path", "load", "req/s", "p50", "p99", "p99.9", "+p50", "+p99", "+p99.9", "errors",
            "cpu:prx", "cpu:up", "cpu:gen", "cpu:pg", settings.redis.isBlank() ? "" : " cpu:rds", "heapMiB", "rssMiB",
            "other%");
        out.append("Non-streaming requests\n").append(header);
        for (Phase phase : phases()) {
            if (phase.kind() == Kind.STREAMS) {
                continue;
            }
            for (String path : settings.paths) {
                Row row = find(path, phase.label());
                if (row == null) {
                    continue;
                }
                Row direct = find("direct", phase.label());
                Histogram h = row.result.latency;
                out.append(String.format(Locale.ROOT, "%-9s %-16s %8.0f %7s %7s %8s %7s %7s %8s %6d %7s %7s %7s %7s%s %7s %7s %6.0f%n",
                    path, phase.label(), row.result.throughput(), ms(h, 50), ms(h, 99), ms(h, 99.9),
                    diff(row, direct, 50), diff(row, direct, 99), diff(row, direct, 99.9),
                    row.result.errors.sum() + row.result.unfinished,
                    cpu(row, "proxy"), cpu(row, "upstream"), cpu(row, "loadgen"), cpu(row, "postgres"),
                    settings.redis.isBlank() ? "" : String.format(Locale.ROOT, " %7s", cpu(row, "redis")),
                    row.heap < 0 ? "-" : String.valueOf(row.heap >> 20), row.rss < 0 ? "-" : String.valueOf(row.rss >> 20),
                    row.otherCpuPercent));
            }
        }

        out.append("\nMaximum throughput (closed loop, ").append(settings.connections).append(" connections; the load"
            + " generator and every server share the same cores)\n");
        Row directSat = findKind("direct", Kind.SATURATION);
        Row baseSat = findKind("baseline", Kind.SATURATION);
        Row vertxSat = findKind("vertx", Kind.SATURATION);
        Row hubSat = findKind("tokenhub", Kind.SATURATION);
        for (Row row : new Row[] {directSat, baseSat, vertxSat, hubSat}) {
            if (row == null) {
                continue;
            }
            out.append(String.format(Locale.ROOT, "  %-9s %8.0f req/s  %s  proxy CPU %s µs/req%s%s%n", row.path,
                row.result.throughput(),
                baseSat == null || row == baseSat ? "          "
                    : String.format(Locale.ROOT, "%5.2f× baseline", row.result.throughput() / baseSat.result.throughput()),
                cpu(row, "proxy"),
                baseSat == null || row == baseSat || row == directSat || !row.cpuUs.containsKey("proxy") ? ""
                    : String.format(Locale.ROOT, " = %.2f× the baseline's", cpuRatio(row, baseSat)),
                row != hubSat || vertxSat == null ? ""
                    : String.format(Locale.ROOT, ", %.2f× the bare Vert.x proxy's", cpuRatio(hubSat, vertxSat))));
        }

        out.append("\nStreaming (").append(settings.streamRate).append(" streams/s, ").append(settings.streamChunks)
            .append(" content chunks each, one every ").append(settings.streamDelayMs).append(" ms)\n");
        out.append(String.format(Locale.ROOT, "%-9s %7s %8s %8s %9s %9s %9s %9s %10s %10s %9s %6s %7s %7s %6s%n", "path",
            "streams", "ttft p50", "ttft p99", "+ttft p50", "+ttft p99", "chunk p50", "chunk p99", "+chunk p50",
            "+chunk p99", "chunks/s", "errors", "cpu:prx", "heapMiB", "other%"));
        for (String path : settings.paths) {
            Row row = findKind(path, Kind.STREAMS);
            if (row == null) {
                continue;
            }
            Row direct = findKind("direct", Kind.STREAMS);
            LoadClient.Result r = row.result;
            out.append(String.format(Locale.ROOT, "%-9s %7d %8s %8s %9s %9s %9s %9s %10s %10s %9.0f %6d %7s %7s %6.0f%n",
                path, r.ok.sum(), ms(r.ttft, 50), ms(r.ttft, 99),
                direct == null || direct == row ? "-" : msDiff(r.ttft, direct.result.ttft, 50),
                direct == null || direct == row ? "-" : msDiff(r.ttft, direct.result.ttft, 99),
                ms(r.chunk, 50), ms(r.chunk, 99),
                direct == null || direct == row ? "-" : msDiff(r.chunk, direct.result.chunk, 50),
                direct == null || direct == row ? "-" : msDiff(r.chunk, direct.result.chunk, 99),
                r.chunks.sum() / (double) settings.duration, r.errors.sum() + r.unfinished, cpu(row, "proxy"),
                row.heap < 0 ? "-" : String.valueOf(row.heap >> 20), row.otherCpuPercent));
        }
        out.append("(ttft: intended send → first content chunk; chunk: upstream write → client read, per chunk;"
            + " cpu:prx per stream)\n");

        if (settings.paths.contains("tokenhub")) {
            out.append("\ntokenhub_overhead_seconds (the gateway's own histogram, between the phase's scrapes) vs the"
                + " overhead measured outside\n");
            out.append(String.format(Locale.ROOT, "%-18s %9s %10s %12s %12s %14s %14s%n", "phase", "count", "mean ms",
                "p50 ≤ ms", "p99 ≤ ms", "outside +mean", "outside +p50"));
            for (Row row : rows) {
                if (!row.path.equals("tokenhub") || row.overhead == null) {
                    continue;
                }
                Row direct = find("direct", row.phase.label());
                boolean stream = row.phase.kind() == Kind.STREAMS;
                Histogram mine = stream ? row.result.ttft : row.result.latency;
                Histogram theirs = direct == null ? null : stream ? direct.result.ttft : direct.result.latency;
                out.append(String.format(Locale.ROOT, "%-18s %9d %10.3f %12s %12s %14s %14s%n", row.phase.label(),
                    row.overhead.count(), row.overhead.meanMs(), bound(row.overhead.quantileUpperMs(0.5)),
                    bound(row.overhead.quantileUpperMs(0.99)),
                    theirs == null ? "-" : String.format(Locale.ROOT, "%.3f", (mine.getMean() - theirs.getMean()) / 1e6),
                    theirs == null ? "-" : msDiff(mine, theirs, 50)));
            }
            out.append("(for streams both sides are the time-to-first-token overhead; the gateway's histogram buckets"
                + " are 0.01/0.025/0.05/0.1/0.25/0.5/1/2/5 ms, so its quantiles are bucket bounds)\n");
        }

        if (settings.paths.contains("tokenhub")) {
            out.append("\n").append(warmUpNote);
            out.append("TokenHub CPU by thread (% of one core, during each phase)\n");
            for (Row row : rows) {
                if (row.path.equals("tokenhub")) {
                    out.append(String.format(Locale.ROOT, "  %-18s %s%n", row.phase.label(), row.threads));
                }
            }
            // A p99 that jumps to seconds at a fixed rate has come with a burst of new connections.
            out.append("\nTokenHub's HTTP connections and GC pauses (its /metrics, during each phase; the load generator"
                + " opened " + client.connectionsOpened() + " connections in all, warm-ups included)\n");
            for (Row row : rows) {
                if (row.path.equals("tokenhub")) {
                    out.append(String.format(Locale.ROOT, "  %-18s %s%n", row.phase.label(), row.connectionsAndGc));
                }
            }
            out.append("\nRequests over 1 ms at fixed rates, by intended send time, and how many fell within ±"
                + GRID_WINDOW_MS + " ms of one phase of a " + settings.flushMs + " ms grid: TokenHub's accounting\n"
                + " flushes on it, and the PostgreSQL insert each flush sets off shares these cores; the other paths"
                + " have no flush, so their share is what chance gives\n");
            for (Row row : rows) {
                if (row.phase.kind() == Kind.OPEN) {
                    out.append(String.format(Locale.ROOT, "  %-9s %-18s %s%n", row.path, row.phase.label(),
                        slowRequests(row, flushPeriodMs(row.phase.rate()))));
                }
            }
            // Fewer wake-ups per request is more work found at each: a change in them moves every
            // process's CPU per request at a fixed rate, whatever code each runs.
            out.append("\nContext switches per request, voluntary + involuntary (live threads, during each phase)\n");
            for (Row row : rows) {
                if (row.path.equals("tokenhub")) {
                    out.append(String.format(Locale.ROOT, "  %-18s %s%n", row.phase.label(), row.switches));
                }
            }
        }
        if (!slowReport.isEmpty()) {
            out.append("\nHeld streams through TokenHub").append(heldOverHttp2 || settings.upstreamHttp2
                ? " (HTTP/2 to the upstream)\n" : " (HTTP/1.1 to the upstream)\n").append(slowReport);
        }
        if (!usageReport.isEmpty()) {
            out.append('\n').append(usageReport);
        }
        out.append('\n').append(targets());
        String errors = errorSamples();
        if (!errors.isEmpty()) {
            out.append("\nFirst error of each phase that had errors:\n").append(errors);
        }
        if (notes.length() > 0) {
            out.append('\n').append(notes);
        }
        if (!jfrReport.isEmpty()) {
            out.append("\nJFR of the gateway in an extra phase, ").append(profiledLoad()).append(" (").append(settings.jfr)
                .append(")\n")
                .append(jfrReport);
        }
        return out.toString();
    }

    /**
     * Each target with TokenHub's figure and its verdict, then the same figure for nginx and the bare
     * Vert.x proxy where they ran: which targets a proxy that does nothing meets on this machine.
     */
    private String targets() {
        StringBuilder out = new StringBuilder("Targets (issue 6); in brackets the same figure for the proxies that"
            + " do nothing else\n");
        Row oneDirect = findKind("direct", Kind.SEQUENTIAL);
        target(out, "added latency, 1 in flight, p50 ≤ 0.1 ms", 0.1,
            path -> diffMs(findKind(path, Kind.SEQUENTIAL), oneDirect, 50));
        target(out, "added latency, 1 in flight, p99 ≤ 0.5 ms", 0.5,
            path -> diffMs(findKind(path, Kind.SEQUENTIAL), oneDirect, 99));
        Row d2000 = find("direct", "2000/s");
        target(out, "p99 overhead at 2000/s ≤ 1 ms", 1.0, path -> diffMs(find(path, "2000/s"), d2000, 99));
        Row hub2000 = find("tokenhub", "2000/s");
        if (hub2000 != null && d2000 != null && hub2000.result.slowCount.get() > 0) {
            // Most of that tail is the usage insert's PostgreSQL backend on these same cores: say so here.
            out.append("    TokenHub's requests there: ").append(slowRequests(hub2000, flushPeriodMs(2000)))
                .append("; direct's ").append(slowRequests(d2000, flushPeriodMs(2000)))
                .append(" (requests over 1 ms, above)\n");
        }
        Row hubSat = findKind("tokenhub", Kind.SATURATION);
        Row baseSat = findKind("baseline", Kind.SATURATION);
        Row vertxSat = findKind("vertx", Kind.SATURATION);
        if (hubSat != null && baseSat != null) {
            double ratio = cpuRatio(hubSat, baseSat);
            out.append(String.format(Locale.ROOT, "  %-52s %8.2f×   %s%s%n", "CPU per request at saturation ≤ 2× baseline",
                ratio, ratio <= 2 ? "met" : "NOT met", vertxSat == null ? ""
                    : String.format(Locale.ROOT, " (bare Vert.x proxy %.2f×; TokenHub %.2f× the bare Vert.x proxy)",
                        cpuRatio(vertxSat, baseSat), cpuRatio(hubSat, vertxSat))));
        }
        Row directStream = findKind("direct", Kind.STREAMS);
        target(out, "time-to-first-token overhead p99 ≤ 1 ms", 1.0, path -> streamDiffMs(path, directStream, true, 99));
        target(out, "per-chunk overhead (p50) ≤ 0.05 ms", 0.05, path -> streamDiffMs(path, directStream, false, 50));
        if (heldMaxOpen > 0) {
            // The gateway runs with -Xmx512m (unless gatewayHeap says otherwise): held is held within it.
            boolean met = heldMaxOpen >= 10_000 && heldFailed == 0 && "512m".equals(settings.gatewayHeap);
            out.append(String.format(Locale.ROOT, "  %-52s %8d open, heap %s, %d failed: %s%n",
                "10 000 concurrent streams within a 512 MiB heap", heldMaxOpen, mib(heldHeap), heldFailed,
                met ? "met" : "NOT met"));
        }
        return out.toString();
    }

    /** One latency target: TokenHub's figure (path → ms over direct, null where it did not run), then the proxies'. */
    private void target(StringBuilder out, String what, double limit, Function<String, Double> overDirect) {
        Double measured = overDirect.apply("tokenhub");
        if (measured == null) {
            return;
        }
        // Below zero, direct itself was slower in its phase than the path in its own: noise, not a result.
        String verdict = measured < 0 ? "not shown (direct was slower: noise)" : measured <= limit ? "met" : "NOT met";
        StringBuilder others = new StringBuilder();
        for (String path : List.of("baseline", "vertx")) {
            Double theirs = overDirect.apply(path);
            if (theirs != null) {
                others.append(others.length() == 0 ? " (" : ", ")
                    .append(path.equals("vertx") ? "bare Vert.x proxy"
                        : baselineName != null && baselineName.startsWith("nginx") ? "nginx" : path)
                    .append(String.format(Locale.ROOT, " %.3f", theirs));
            }
        }
        out.append(String.format(Locale.ROOT, "  %-52s %8.3f ms %s%s%n", what, measured, verdict,
            others.length() == 0 ? "" : others.append(')')));
    }

    /** A stream phase's time to first token or chunk transit over direct's at a percentile, in ms; null if either did not run. */
    private Double streamDiffMs(String path, Row direct, boolean ttft, double percentile) {
        Row row = findKind(path, Kind.STREAMS);
        if (row == null || direct == null) {
            return null;
        }
        Histogram mine = ttft ? row.result.ttft : row.result.chunk;
        Histogram theirs = ttft ? direct.result.ttft : direct.result.chunk;
        return (mine.getValueAtPercentile(percentile) - theirs.getValueAtPercentile(percentile)) / 1e6;
    }

    private static double cpuRatio(Row row, Row to) {
        return row.cpuUs.get("proxy") / to.cpuUs.get("proxy");
    }

    private String errorSamples() {
        StringBuilder out = new StringBuilder();
        for (Row row : rows) {
            if (row.result.firstError.get() != null) {
                out.append("  ").append(row.path).append(' ').append(row.phase.label()).append(": ")
                    .append(row.result.firstError.get()).append('\n');
            }
        }
        return out.toString();
    }

    private Row find(String path, String label) {
        return rows.stream().filter(r -> r.path.equals(path) && r.phase.label().equals(label)).findFirst().orElse(null);
    }

    private Row findKind(String path, Kind kind) {
        return rows.stream().filter(r -> r.path.equals(path) && r.phase.kind() == kind).findFirst().orElse(null);
    }

    private static String summary(Row row) {
        Histogram h = row.phase.kind() == Kind.STREAMS ? row.result.ttft : row.result.latency;
        return String.format(Locale.ROOT, "%s %s: %.0f/s, %sp50 %s ms, p99 %s ms, p99.9 %s ms, errors %d, CPU µs/req %s,"
                + " other processes %.0f%% of the machine",
            row.path, row.phase.label(), row.result.throughput(), row.phase.kind() == Kind.STREAMS ? "ttft " : "",
            ms(h, 50), ms(h, 99), ms(h, 99.9), row.result.errors.sum() + row.result.unfinished, row.cpuUs.entrySet()
                .stream().map(e -> e.getKey() + "=" + fmt1(e.getValue())).toList(), row.otherCpuPercent);
    }

    private static String ms(Histogram h, double percentile) {
        return h.getTotalCount() == 0 ? "-" : String.format(Locale.ROOT, "%.3f", h.getValueAtPercentile(percentile) / 1e6);
    }

    private static String msDiff(Histogram a, Histogram b, double percentile) {
        if (a.getTotalCount() == 0 || b.getTotalCount() == 0) {
            return "-";
        }
        return String.format(Locale.ROOT, "%+.3f", (a.getValueAtPercentile(percentile) - b.getValueAtPercentile(percentile)) / 1e6);
    }

    private static String diff(Row row, Row direct, double percentile) {
        if (direct == null || direct == row) {
            return "-";
        }
        return msDiff(row.result.latency, direct.result.latency, percentile);
    }

    /** The row's latency over direct's at a percentile, in ms; null when either did not run. */
    private static Double diffMs(Row row, Row direct, double percentile) {
        if (row == null || direct == null) {
            return null;
        }
        return (row.result.latency.getValueAtPercentile(percentile)
            - direct.result.latency.getValueAtPercentile(percentile)) / 1e6;
    }

    private static String cpu(Row row, String process) {
        Double v = row.cpuUs.get(process);
        return v == null ? "-" : fmt1(v);
    }

    private static String bound(double ms) {
        return Double.isNaN(ms) ? "-" : Double.isInfinite(ms) ? "> 50" : String.format(Locale.ROOT, "%.3f", ms);
    }

    private static String mib(long bytes) {
        return bytes < 0 ? "-" : String.format(Locale.ROOT, "%.0f MiB", bytes / 1048576.0);
    }

    private static String fmt1(double v) {
        return String.format(Locale.ROOT, "%.1f", v);
    }

    // ------------------------------------------------------------------ helpers

    /** The held-streams test needs 1 to 2 descriptors per stream in the gateway: scale it to the limit we have. */
    private void limitHeldStreams() {
        long limit = openFileLimit();
        if (limit > 0 && settings.slowStreams > 0) {
            // Each stream holds its client's socket in the gateway and, over HTTP/1.1, an upstream socket
            // too (over HTTP/2 the upstream's connections carry 100 streams each); keep ~600 for the JVM.
            double perStream = settings.upstreamHttp2 ? 1.01 : 2;
            int affordable = (int) Math.max(0, (limit - 600) / perStream);
            int overHttp2 = (int) Math.max(0, (limit - 600) / 1.01);
            if (affordable < settings.slowStreams && overHttp2 > affordable) {
                // The same streams to the same upstream through a provider reached over HTTP/2.
                heldOverHttp2 = true;
                notes.append("note: the open-file limit is ").append(limit).append(": the held streams go to the"
                    + " upstream over HTTP/2 (over HTTP/1.1, ").append(affordable).append(" would fit)\n");
                affordable = overHttp2;
            }
            if (affordable < settings.slowStreams) {
                notes.append("note: the open-file limit is ").append(limit).append(", so only ").append(affordable)
                    .append(" of the ").append(settings.slowStreams).append(" held streams were run (raise it with"
                        + " ulimit -n, as the bench profile does)\n");
                System.out.println(notes);
                settings.slowStreams = affordable;
            }
        }
    }

    private static long openFileLimit() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
                if (line.startsWith("Max open files")) {
                    String[] parts = line.substring("Max open files".length()).trim().split("\\s+");
                    return parts[1].equals("unlimited") ? Long.MAX_VALUE : Long.parseLong(parts[1]);
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux
        }
        return -1;
    }

    static String machine() {
        String cpu = "?";
        try {
            cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                .findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("?");
        } catch (IOException ignored) {
            // not Linux
        }
        String memory = "?";
        try {
            memory = Files.readAllLines(Path.of("/proc/meminfo")).get(0).replaceAll("[^0-9]", "");
            memory = Long.parseLong(memory) / 1024 / 1024 + " GiB";
        } catch (IOException | RuntimeException ignored) {
            // not Linux
        }
        String kernel = "?";
        try {
            kernel = Files.readString(Path.of("/proc/sys/kernel/osrelease")).trim();
        } catch (IOException ignored) {
            // not Linux
        }
        return "Machine: " + Runtime.getRuntime().availableProcessors() + " CPUs (" + cpu + "), " + memory
            + " RAM, Linux " + kernel + ", Java " + System.getProperty("java.vm.version") + " ("
            + System.getProperty("java.vm.name") + ")";
    }

    private static boolean onPath(String command) {
        return Procs.run(List.of("bash", "-c", "command -v " + command), 5).startsWith("/");
    }

    private void awaitHttp(int port) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 30_000;
        while (System.currentTimeMillis() < deadline) {
            try {
                http.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/chat/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString(CHAT_BODY)).timeout(Duration.ofSeconds(5)).build(),
                    HttpResponse.BodyHandlers.discarding()).get(10, TimeUnit.SECONDS);
                return;
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                Thread.sleep(100);
            }
        }
        throw new IllegalStateException("nothing answers on port " + port);
    }

    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void log(String line) {
        System.out.println(LocalDateTime.now().toLocalTime().withNano(0) + " " + line);
    }

    private synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (client != null) {
            try {
                client.close();
            } catch (RuntimeException ignored) {
                // exiting anyway
            }
        }
        if (gateway != null) {
            gateway.close();
        }
        for (Procs.Child child : new Procs.Child[] {baseline, vertxProxy, upstream}) {
            if (child != null) {
                child.close();
            }
        }
    }
}
