package io.tokenhub.bench;

import io.vertx.core.buffer.Buffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;
import org.HdrHistogram.Histogram;

/**
 * TokenHub's soak benchmark: does the gateway's memory stay flat under a steady load for minutes
 * (issue 6: "flat RSS over a 10-minute soak")? A leak shows as RSS or live heap that keeps
 * climbing at a fixed request rate; so do threads, file descriptors or a usage backlog that grow.
 *
 * <h2>Command</h2>
 * <pre>
 * # 10 minutes at 1000 requests/s, 10 % of them streams (about 13 minutes in all; needs the local
 * # PostgreSQL the integration tests use, TOKENHUB_TEST_PG_URL)
 * mvn -Pbench test-compile exec:exec@soak
 *
 * # Other settings: key=value pairs, space separated (see Settings below for all of them)
 * mvn -Pbench test-compile exec:exec@soak -Dsoak.args="minutes=30 rate=2000 streamShare=20"
 * </pre>
 *
 * <h2>What runs</h2>
 * The fake upstream ({@link FakeUpstreamMain}) and TokenHub ({@link BenchGateway}: auth, limits,
 * billing and usage accounting into PostgreSQL, {@code -Xms512m -Xmx512m -XX:+UseG1GC}) in their own
 * processes on 127.0.0.1, driven by {@link LoadClient} in this one at a fixed open-model rate: a share
 * of the requests are streams, the rest plain chat completions. The rate starts after {@code prime}
 * seconds of closed-loop requests that warm the JIT at a pace the gateway can take; after
 * {@code warmup} seconds of it (pools and caches settle; not part of the verdict) the gateway is
 * sampled every {@code interval}
 * seconds: RSS ({@code /proc/<pid>/status}), heap in use, live heap, live threads, open file
 * descriptors, the usage records not yet written ({@code tokenhub_usage_queue_depth}), its CPU, and
 * the latency of the requests of that interval.
 *
 * <p>The client opens at most {@code connections} connections (256) and queues requests beyond
 * them, still timing each from its intended send time. Without that bound every stall of the
 * machine makes it open thousands more, each holding buffers in the gateway (and an upstream
 * connection): the live heap then follows how many connections the last stall left open, not a leak.
 *
 * <p>Live heap: with {@code fullGc=true} (the default) each sample ends with a full GC
 * ({@code jcmd <pid> GC.run}) and the heap used right after it is the live set: exact, at the
 * price of one pause per interval (it shows in the next interval's p99.9, not in its p99 at these
 * rates). With {@code fullGc=false} the gateway is left alone and the figure is Micrometer's
 * {@code jvm_gc_live_data_size_bytes}: the old generation after the last collection that reduced
 * it, which G1 may not run for minutes of short-lived garbage (the column then stays 0 or stale).
 *
 * <h2>Verdict</h2>
 * The mean of the first third of the samples against that of the last third, for RSS and live
 * heap, and the least-squares slope over all samples per minute. Flat when RSS grew less than
 * {@code rssTolerance} % (5) and live heap less than {@code heapTolerance} % (10); the numbers
 * are printed whatever the verdict. The verdict means something only when the load was steady
 * (every interval within 10 % of the rate, no errors, p99 under a second), which the report says:
 * when the gateway falls behind, queued requests and usage records fill its memory whether it
 * leaks or not, and on a machine busy with other work ({@code other%}) it does. Last, the usage
 * records in PostgreSQL: one with status 200 for each request TokenHub answered with 200, and one
 * in all for each request sent.
 */
public final class SoakBenchmark {

    /** Everything that can be set: {@code key=value} arguments, or {@code -Dsoak.key=value}. */
    static final class Settings {
        int minutes = 10;             // sampled soak, after the warm-up
        int rate = 1_000;             // requests/s, streams included (open model)
        int streamShare = 10;         // % of the requests that are streams
        int streamChunks = 20;        // content chunks per stream
        int streamDelayMs = 5;        // upstream delay between chunks
        int prime = 15;               // s of closed-loop requests (16 at a time) before the rate starts
        int warmup = 60;              // s of the same load before the first sample
        int interval = 30;            // s between samples
        int connections = 256;        // at most, from this client to the gateway (see the class doc)
        boolean fullGc = true;        // a full GC per sample to read the live heap (see the class doc)
        double rssTolerance = 5;      // % growth, first third → last third, still called flat
        double heapTolerance = 10;
        String gatewayHeap = "512m";   // -Xms and -Xmx of the gateway
        String gatewayJvm = "-XX:+UseG1GC";   // more JVM options for the gateway, space separated
                                              // (the default names the collector k8s/ ships:
                                              // a value given here replaces it, so name one too)
        String gatewayJava = "";      // the gateway's JDK (its home or its java); blank: this JVM's
        String redis = "";            // redis://host:port for the wallet counters (blank: in the process)
        boolean cluster;              // the gateway as a Hazelcast member (a cluster of its own)
        int upstreamLoops = 2;
        int clientLoops = 2;
        String out = "";              // also write the report here

        static Settings parse(String[] args) {
            Settings s = new Settings();
            BenchArgs.parse("soak.", args).forEach((key, value) -> {
                switch (key) {
                    case "minutes" -> s.minutes = Integer.parseInt(value);
                    case "rate" -> s.rate = Integer.parseInt(value);
                    case "streamShare" -> s.streamShare = Integer.parseInt(value);
                    case "streamChunks" -> s.streamChunks = Integer.parseInt(value);
                    case "streamDelayMs" -> s.streamDelayMs = Integer.parseInt(value);
                    case "prime" -> s.prime = Integer.parseInt(value);
                    case "warmup" -> s.warmup = Integer.parseInt(value);
                    case "interval" -> s.interval = Integer.parseInt(value);
                    case "connections" -> s.connections = Integer.parseInt(value);
                    case "fullGc" -> s.fullGc = Boolean.parseBoolean(value);
                    case "rssTolerance" -> s.rssTolerance = Double.parseDouble(value);
                    case "heapTolerance" -> s.heapTolerance = Double.parseDouble(value);
                    case "gatewayHeap" -> s.gatewayHeap = value;
                    case "gatewayJvm" -> s.gatewayJvm = value;
                    case "gatewayJava" -> s.gatewayJava = value;
                    case "redis" -> s.redis = value;
                    case "cluster" -> s.cluster = Boolean.parseBoolean(value);
                    case "upstreamLoops" -> s.upstreamLoops = Integer.parseInt(value);
                    case "clientLoops" -> s.clientLoops = Integer.parseInt(value);
                    case "out" -> s.out = value;
                    default -> throw new IllegalArgumentException("unknown setting '" + key + "'");
                }
            });
            if (s.minutes <= 0 || s.interval <= 0 || s.rate <= 0 || s.streamShare < 0 || s.streamShare > 100) {
                throw new IllegalArgumentException("minutes, interval and rate must be positive, streamShare 0..100");
            }
            return s;
        }

        int samples() {
            return Math.max(1, minutes * 60 / interval);
        }

        double streamRate() {
            return rate * streamShare / 100.0;
        }

        @Override
        public String toString() {
            return "minutes=" + minutes + " rate=" + rate + "/s (" + streamShare + " % streams of " + streamChunks
                + " chunks every " + streamDelayMs + " ms) prime=" + prime + "s warmup=" + warmup + "s interval=" + interval + "s connections≤" + connections + " fullGc="
                + fullGc + " tolerance: RSS " + rssTolerance + " %, live heap " + heapTolerance + " % gateway heap="
                + gatewayHeap + (gatewayJvm.isBlank() ? "" : " gatewayJvm=" + gatewayJvm)
                + (gatewayJava.isBlank() ? "" : " gatewayJava=" + gatewayJava) + " TokenHub: " + setup().describe();
        }

        BenchGateway.Setup setup() {
            return new BenchGateway.Setup(false, BenchGateway.FLUSH_MS, redis, cluster);
        }
    }

    /** One reading of the gateway at the end of an interval. Memory in bytes, latency in ms. */
    record Sample(double minute, double throughput, long errors, double p50, double p99, double p999, double ttftP99,
                  long rss, long heap, long liveHeap, long threads, long fds, long backlog, double cpuPercent,
                  double otherPercent) {
    }

    /** Counters read at the start of an interval, to subtract from those at its end. */
    private record Mark(long nanos, Histogram plain, Histogram ttft, long ok, long errors, long gatewayTicks,
                        long ourTicks, long machineTicks) {
    }

    private final Settings settings;
    private final Path work;
    private final List<Sample> samples = new ArrayList<>();
    private Procs.Child upstream;
    private BenchGateway gateway;
    private LoadClient client;
    private final LoadClient.Result plain = new LoadClient.Result();
    private final LoadClient.Result streams = new LoadClient.Result();
    private final LoadClient.Result primed = new LoadClient.Result();

    private SoakBenchmark(Settings settings, Path work) {
        this.settings = settings;
        this.work = work;
    }

    public static void main(String[] args) throws Exception {
        SoakBenchmark soak = new SoakBenchmark(Settings.parse(args), Files.createTempDirectory("tokenhub-soak"));
        Runtime.getRuntime().addShutdownHook(new Thread(soak::close, "soak-close"));
        int status = 0;
        try {
            soak.run();
        } catch (Exception e) {
            System.err.println("soak failed: " + e);
            e.printStackTrace();
            status = 1;
        } finally {
            soak.close();
        }
        System.exit(status);
    }

    private void run() throws Exception {
        long total = settings.warmup + settings.samples() * (long) settings.interval;
        long expected = settings.prime + total;
        System.out.println(LoadBenchmark.machine());
        System.out.println("Settings: " + settings);
        System.out.println("Work directory (logs, configs): " + work);
        System.out.println("Expected duration: about " + (expected + 60 + 59) / 60 + " minutes\n");

        int upstreamPort = LoadBenchmark.freePort();
        upstream = FakeUpstreamMain.start(work, upstreamPort, settings.upstreamLoops);
        log("fake upstream: pid " + upstream.pid() + ", port " + upstreamPort);
        gateway = BenchGateway.create();
        List<String> jvm = new ArrayList<>(BenchGateway.heap(settings.gatewayHeap));
        if (!settings.gatewayJvm.isBlank()) {
            jvm.addAll(List.of(settings.gatewayJvm.trim().split("\\s+")));
        }
        gateway.start(work, upstreamPort, settings.gatewayJava, jvm, settings.setup());
        log("TokenHub: pid " + gateway.pid() + ", API port " + gateway.apiPort() + ", database "
            + gateway.databaseName() + ", JVM " + jvm);
        client = new LoadClient(settings.clientLoops, settings.connections);
        prime();

        log("== " + settings.rate + " requests/s for " + total + " s: " + settings.warmup + " s of warm-up, then a "
            + "sample every " + settings.interval + " s");
        long loadStart = System.nanoTime();
        CompletableFuture<?> plainLoad = drive(plain, Buffer.buffer(BenchGateway.CHAT_BODY), false,
            settings.rate - settings.streamRate(), total);
        CompletableFuture<?> streamLoad = drive(streams,
            BenchGateway.streamBody(settings.streamChunks, settings.streamDelayMs), true, settings.streamRate(), total);

        sleepUntil(loadStart + TimeUnit.SECONDS.toNanos(settings.warmup));
        if (plain.ok.sum() == 0) {
            throw new IllegalStateException("no request answered during the warm-up: " + plain.firstError.get());
        }
        long liveAtStart = liveHeap();
        log("   warm-up done: " + plain.ok.sum() + " requests, " + streams.ok.sum() + " streams, errors "
            + (plain.errors.sum() + streams.errors.sum()) + "; live heap " + mib(liveAtStart) + " MiB");
        Mark mark = mark();
        for (int k = 1; k <= settings.samples(); k++) {
            sleepUntil(loadStart + TimeUnit.SECONDS.toNanos(settings.warmup + (long) k * settings.interval));
            Mark next = mark();
            Sample sample = sample(k * settings.interval / 60.0, mark, next);
            samples.add(sample);
            log(String.format(Locale.ROOT, "   %5.1f min: %.0f req/s, p99 %.3f ms, RSS %d MiB, live heap %d MiB,"
                    + " threads %d, fds %d, backlog %d, errors %d", sample.minute(), sample.throughput(), sample.p99(),
                mib(sample.rss()), mib(sample.liveHeap()), sample.threads(), sample.fds(), sample.backlog(),
                sample.errors()));
            mark = next;
        }
        plainLoad.get(2, TimeUnit.MINUTES);
        streamLoad.get(2, TimeUnit.MINUTES);
        log("== load done; checking the usage records");
        BenchGateway.UsageCheck usage = gateway.checkUsage(primed.ok.sum() + plain.ok.sum() + streams.ok.sum());

        String report = report(usage);
        System.out.println(report);
        Files.writeString(work.resolve("results.txt"), report);
        if (!settings.out.isBlank()) {
            Files.writeString(Path.of(settings.out), report);
        }
        System.out.println("(report also in " + work.resolve("results.txt") + ")");
    }

    /**
     * Closed-loop requests first, so that the JIT compiles the gateway's hot path at a pace it can
     * take: a cold gateway hit at once by the full open-model rate falls behind, and the queue it
     * builds (client connections, upstream connections, usage records) takes a minute to drain.
     */
    private void prime() {
        if (settings.prime <= 0) {
            return;
        }
        log("== priming: 16 requests at a time for " + settings.prime + " s");
        LoadClient.Result result = client.closed(gateway.target(), Buffer.buffer(BenchGateway.CHAT_BODY), false, 16,
            settings.prime);
        primed.ok.add(result.ok.sum());
        primed.errors.add(result.errors.sum() + result.unfinished);
        log(String.format(Locale.ROOT, "   %d requests (%.0f/s), %d errors", result.ok.sum(), result.throughput(),
            result.errors.sum()));
    }

    /** One open-model stream of requests on its own thread, for {@code seconds}. */
    private CompletableFuture<?> drive(LoadClient.Result result, Buffer body, boolean stream, double rate, long seconds) {
        if (rate <= 0) {
            return CompletableFuture.completedFuture(null);
        }
        return CompletableFuture.runAsync(() -> client.open(gateway.target(), body, stream, rate, seconds, 30_000, result),
            runnable -> new Thread(runnable, stream ? "soak-streams" : "soak-requests").start());
    }

    private Mark mark() {
        return new Mark(System.nanoTime(), plain.latency.copy(), streams.ttft.copy(),
            plain.ok.sum() + streams.ok.sum(), plain.errors.sum() + streams.errors.sum(),
            Procs.cpuTicks(gateway.pid()), benchTicks(), Procs.machineBusyTicks());
    }

    /** CPU of every process of the benchmark: gateway, upstream, this one, and the gateway's PostgreSQL backends. */
    private long benchTicks() {
        return Procs.cpuTicks(gateway.pid()) + Procs.cpuTicks(upstream.pid())
            + Procs.cpuTicks(ProcessHandle.current().pid()) + Procs.cpuTicksByCommandLine(gateway.databaseName());
    }

    /** What the interval between two marks did, and the gateway's state now (memory read before any GC). */
    private Sample sample(double minute, Mark from, Mark to) {
        double seconds = (to.nanos() - from.nanos()) / 1e9;
        Histogram latency = to.plain().copy();
        latency.subtract(from.plain());
        Histogram ttft = to.ttft().copy();
        ttft.subtract(from.ttft());
        double coreTicks = seconds * Procs.CLK_TCK;
        double machineTicks = coreTicks * Runtime.getRuntime().availableProcessors();
        long other = (to.machineTicks() - from.machineTicks()) - (to.ourTicks() - from.ourTicks());

        long rss = Procs.rssBytes(gateway.pid());
        long fds = Procs.openFiles(gateway.pid());
        Prometheus metrics = gateway.scrape();
        return new Sample(minute, (to.ok() - from.ok()) / seconds, to.errors() - from.errors(), ms(latency, 50),
            ms(latency, 99), ms(latency, 99.9), ms(ttft, 99), rss, metrics.heapUsed(), liveHeap(),
            (long) metrics.value("jvm_threads_live_threads"), fds, (long) metrics.value("tokenhub_usage_queue_depth"),
            (to.gatewayTicks() - from.gatewayTicks()) * 100.0 / coreTicks, Math.max(0, other) * 100.0 / machineTicks);
    }

    /** Heap used right after a full GC, or, with {@code fullGc=false}, what the gateway's JVM last saw survive one. */
    private long liveHeap() {
        if (!settings.fullGc) {
            return (long) gateway.scrape().value("jvm_gc_live_data_size_bytes");
        }
        Procs.run(List.of("jcmd", Long.toString(gateway.pid()), "GC.run"), 60);
        return gateway.scrape().heapUsed();
    }

    // ------------------------------------------------------------------ report

    private String report(BenchGateway.UsageCheck usage) {
        StringBuilder out = new StringBuilder();
        out.append('\n').append("=".repeat(100)).append('\n');
        out.append("TokenHub soak benchmark, ").append(LocalDateTime.now().withNano(0)).append('\n');
        out.append(LoadBenchmark.machine()).append('\n');
        out.append("Settings: ").append(settings).append('\n');
        out.append(String.format(Locale.ROOT, "Requests: %d priming (%d errors), %d plain (%d errors), %d streams"
                + " (%d errors), %d unfinished%n", primed.ok.sum(), primed.errors.sum(), plain.ok.sum(),
            plain.errors.sum(), streams.ok.sum(), streams.errors.sum(), plain.unfinished + streams.unfinished));
        out.append("Each row: the interval that ended at that minute after the warm-up. Latency of plain requests"
            + " in ms from their intended send time; ttft99 = streams' time to first token, p99;\nrss = gateway VmRSS;"
            + " heap = heap in use; live = ").append(settings.fullGc ? "heap in use right after a full GC (jcmd GC.run)"
                : "jvm_gc_live_data_size_bytes").append("; cpu% = gateway CPU in % of one core; other% = the rest of"
            + " the machine, % of all cores\n\n");
        out.append(String.format(Locale.ROOT, "%6s %7s %6s %7s %7s %8s %7s %7s %7s %7s %7s %5s %7s %6s %6s%n", "min",
            "req/s", "errors", "p50", "p99", "p99.9", "ttft99", "rssMiB", "heapMiB", "liveMiB", "threads", "fds",
            "backlog", "cpu%", "other%"));
        for (Sample s : samples) {
            out.append(String.format(Locale.ROOT, "%6.1f %7.0f %6d %7.3f %7.3f %8.3f %7.3f %7d %7d %7d %7d %5d %7d %6.0f"
                    + " %6.0f%n", s.minute(), s.throughput(), s.errors(), s.p50(), s.p99(), s.p999(), s.ttftP99(),
                mib(s.rss()), mib(s.heap()), mib(s.liveHeap()), s.threads(), s.fds(), s.backlog(), s.cpuPercent(),
                s.otherPercent()));
        }
        out.append('\n').append(verdict()).append(usage);
        long sent = primed.ok.sum() + primed.errors.sum() + plain.sent + streams.sent;
        out.append(String.format(Locale.ROOT, "usage records in all: %d for the %d requests sent (%s)%n", usage.all(),
            sent, usage.all() == sent ? "one for each, whatever its outcome" : "MISMATCH: " + (usage.all() - sent)));
        if (!usage.exact() && usage.all() == sent) {
            out.append("  (a request this client gave up on, after 30 s without an answer, can still be answered"
                + " upstream and recorded with status 200)\n");
        }
        String errors = firstErrors();
        if (!errors.isEmpty()) {
            out.append(errors);
        }
        out.append(gateway.note());
        return out.toString();
    }

    private String verdict() {
        StringBuilder out = new StringBuilder();
        int third = Math.max(1, samples.size() / 3);
        out.append(String.format(Locale.ROOT, "Growth from the first %d to the last %d sample(s), and the slope over"
            + " all %d:%n", third, third, samples.size()));
        double rss = growth(out, "RSS", s -> mib(s.rss()), " MiB", third, settings.rssTolerance);
        double live = growth(out, "live heap", s -> mib(s.liveHeap()), " MiB", third, settings.heapTolerance);
        growth(out, "threads", Sample::threads, "", third, Double.NaN);
        growth(out, "open files", Sample::fds, "", third, Double.NaN);
        boolean flat = rss < settings.rssTolerance && live < settings.heapTolerance;
        out.append(String.format(Locale.ROOT, "Verdict: %s (RSS %+.1f %% against %.0f %%, live heap %+.1f %% against"
                + " %.0f %%, over %d minutes at %d requests/s)%n", flat ? "FLAT" : "NOT FLAT", rss,
            settings.rssTolerance, live, settings.heapTolerance, settings.minutes, settings.rate));
        out.append(steadiness());
        return out.toString();
    }

    /**
     * Whether the gateway kept up with the rate in every interval: throughput within 10 % of it, no
     * errors, p99 under a second. When it did not, requests and usage records queued up, and the
     * memory they held says nothing about a leak: the verdict then needs a quieter machine or a lower
     * rate.
     */
    private String steadiness() {
        double slowest = samples.stream().mapToDouble(Sample::throughput).min().orElse(0);
        double fastest = samples.stream().mapToDouble(Sample::throughput).max().orElse(0);
        long errors = samples.stream().mapToLong(Sample::errors).sum();
        double worstP99 = samples.stream().mapToDouble(Sample::p99).max().orElse(0);
        double busiest = samples.stream().mapToDouble(Sample::otherPercent).max().orElse(0);
        boolean steady = slowest >= settings.rate * 0.9 && fastest <= settings.rate * 1.1 && errors == 0
            && worstP99 <= 1_000;
        return String.format(Locale.ROOT, "Load: %s — intervals at %.0f to %.0f req/s for a rate of %d, %d errors,"
                + " p99 up to %.3f ms, other processes up to %.0f %% of the machine%s%n", steady ? "steady" : "NOT steady",
            slowest, fastest, settings.rate, errors, worstP99, busiest, steady ? ""
                : "\n  (the gateway or this machine did not keep up, so the gateway's memory also held queued requests"
                    + " and usage records: rerun on a quieter machine or at a lower rate before trusting the verdict)");
    }

    /**
     * Appends one line: the mean of the first {@code third} samples → that of the last, the growth in %
     * (returned), the slope per minute, and how that compares with {@code tolerance} (NaN: no limit).
     */
    private double growth(StringBuilder out, String what, ToDoubleFunction<Sample> value, String unit, int third,
                          double tolerance) {
        double first = samples.subList(0, third).stream().mapToDouble(value).average().orElse(0);
        double last = samples.subList(samples.size() - third, samples.size()).stream().mapToDouble(value).average()
            .orElse(0);
        double percent = first == 0 ? (last == 0 ? 0 : Double.POSITIVE_INFINITY) : (last - first) * 100 / first;
        out.append(String.format(Locale.ROOT, "  %-10s %8.1f%-4s → %8.1f%-4s %+7.1f %%   slope %+.2f%s/min%s%n", what,
            first, unit, last, unit, percent, slope(value), unit,
            Double.isNaN(tolerance) ? "" : percent < tolerance ? "   (under " + tolerance + " %)"
                : "   (OVER " + tolerance + " %)"));
        return percent;
    }

    /** Least-squares slope of the value against the sample's minute. */
    private double slope(ToDoubleFunction<Sample> value) {
        int n = samples.size();
        if (n < 2) {
            return 0;
        }
        double meanX = samples.stream().mapToDouble(Sample::minute).average().orElse(0);
        double meanY = samples.stream().mapToDouble(value).average().orElse(0);
        double num = 0;
        double den = 0;
        for (Sample s : samples) {
            num += (s.minute() - meanX) * (value.applyAsDouble(s) - meanY);
            den += (s.minute() - meanX) * (s.minute() - meanX);
        }
        return den == 0 ? 0 : num / den;
    }

    private String firstErrors() {
        StringBuilder out = new StringBuilder();
        if (plain.firstError.get() != null) {
            out.append("first error of a plain request: ").append(plain.firstError.get()).append('\n');
        }
        if (streams.firstError.get() != null) {
            out.append("first error of a stream: ").append(streams.firstError.get()).append('\n');
        }
        return out.toString();
    }

    // ------------------------------------------------------------------ helpers

    private static double ms(Histogram h, double percentile) {
        return h.getTotalCount() == 0 ? Double.NaN : h.getValueAtPercentile(percentile) / 1e6;
    }

    private static long mib(long bytes) {
        return bytes < 0 ? -1 : bytes >> 20;
    }

    private static void sleepUntil(long nanos) throws InterruptedException {
        long wait;
        while ((wait = nanos - System.nanoTime()) > 0) {
            TimeUnit.NANOSECONDS.sleep(wait);
        }
    }

    private static void log(String line) {
        System.out.println(LocalDateTime.now().toLocalTime().withNano(0) + " " + line);
    }

    private synchronized void close() {
        if (client != null) {
            client.close();
            client = null;
        }
        if (gateway != null) {
            gateway.close();
            gateway = null;
        }
        if (upstream != null) {
            upstream.close();
            upstream = null;
        }
    }
}
