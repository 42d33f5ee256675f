package io.tokenhub.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** A scrape of the gateway's {@code /metrics}, and the two readings the benchmark takes from it. */
final class Prometheus {

    /** HTTP/1.1: the JDK client's h2c upgrade attempt on plain HTTP hung a scrape here once. */
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
    static final String OVERHEAD = "tokenhub_overhead_seconds";

    /** series ({@code name{labels}}) → value */
    final Map<String, Double> series;

    private Prometheus(Map<String, Double> series) {
        this.series = series;
    }

    static Prometheus scrape(int managementPort) {
        try {
            HttpResponse<String> response = HTTP.sendAsync(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + managementPort + "/metrics")).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString()).get(15, java.util.concurrent.TimeUnit.SECONDS);
            return parse(response.body());
        } catch (Exception e) {
            return new Prometheus(Map.of());
        }
    }

    static Prometheus parse(String text) {
        Map<String, Double> out = new TreeMap<>();
        for (String line : text.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            int space = line.lastIndexOf(' ');
            if (space < 0) {
                continue;
            }
            try {
                out.put(line.substring(0, space).trim(), Double.parseDouble(line.substring(space + 1).trim()));
            } catch (NumberFormatException ignored) {
                // a timestamp or something we do not read
            }
        }
        return new Prometheus(out);
    }

    /** Bytes of heap in use: the sum of {@code jvm_memory_used_bytes{area="heap",…}}; -1 if absent. */
    long heapUsed() {
        double sum = 0;
        boolean any = false;
        for (var e : series.entrySet()) {
            if (e.getKey().startsWith("jvm_memory_used_bytes{") && e.getKey().contains("area=\"heap\"")) {
                sum += e.getValue();
                any = true;
            }
        }
        return any ? (long) sum : -1;
    }

    double value(String name) {
        Double v = series.get(name);
        if (v == null) {
            for (var e : series.entrySet()) {
                if (e.getKey().equals(name) || e.getKey().startsWith(name + "{")) {
                    return e.getValue();
                }
            }
            return 0;
        }
        return v;
    }

    /** The overhead histogram between two scrapes. */
    record Overhead(long count, double sumSeconds, List<double[]> buckets) {

        double meanMs() {
            return count == 0 ? Double.NaN : sumSeconds / count * 1000;
        }

        /** The upper bound (ms) of the bucket that holds quantile q; +Inf → Double.POSITIVE_INFINITY. */
        double quantileUpperMs(double q) {
            if (count == 0) {
                return Double.NaN;
            }
            double needed = q * count;
            for (double[] b : buckets) {
                if (b[1] >= needed) {
                    return b[0] * 1000;
                }
            }
            return Double.POSITIVE_INFINITY;
        }
    }

    /** The sum of every series of {@code name} (all label sets); 0 if there is none. */
    double total(String name) {
        double sum = 0;
        for (var e : series.entrySet()) {
            if (e.getKey().equals(name) || e.getKey().startsWith(name + "{")) {
                sum += e.getValue();
            }
        }
        return sum;
    }

    /** The gateway's HTTP connections open at the end of a phase, and its GC pauses during it (count, total ms). */
    static String connectionsAndGc(Prometheus before, Prometheus after) {
        return String.format(java.util.Locale.ROOT, "%.0f connections open at the end; GC: %.0f pauses, %.0f ms in all",
            after.total("vertx_http_server_active_connections"),
            after.total("jvm_gc_pause_seconds_count") - before.total("jvm_gc_pause_seconds_count"),
            (after.total("jvm_gc_pause_seconds_sum") - before.total("jvm_gc_pause_seconds_sum")) * 1000);
    }

    static Overhead overheadBetween(Prometheus before, Prometheus after) {
        long count = (long) (after.value(OVERHEAD + "_count") - before.value(OVERHEAD + "_count"));
        double sum = after.value(OVERHEAD + "_sum") - before.value(OVERHEAD + "_sum");
        Map<Double, Double> buckets = new TreeMap<>();
        for (var e : after.series.entrySet()) {
            String key = e.getKey();
            if (key.startsWith(OVERHEAD + "_bucket{")) {
                int le = key.indexOf("le=\"");
                String bound = key.substring(le + 4, key.indexOf('"', le + 4));
                double upper = bound.equals("+Inf") ? Double.POSITIVE_INFINITY : Double.parseDouble(bound);
                buckets.put(upper, e.getValue() - before.series.getOrDefault(key, 0.0));
            }
        }
        List<double[]> list = new ArrayList<>();
        buckets.forEach((upper, cumulative) -> list.add(new double[] {upper, cumulative}));
        return new Overhead(count, sum, list);
    }
}
