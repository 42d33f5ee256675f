package io.tokenhub.bench;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedStackTrace;
import jdk.jfr.consumer.RecordingFile;

/**
 * Hot methods of a JFR recording, for JDK 17 (whose {@code jfr} tool has no {@code view}):
 * execution samples by top frame (self time), by method anywhere on the stack (total time), by
 * TokenHub method anywhere on the stack, and allocation samples by class and by allocating
 * TokenHub frame. Uses only the JDK: {@code java -cp target/test-classes io.tokenhub.bench.JfrSummary
 * rec.jfr [top]}.
 */
public final class JfrSummary {

    private JfrSummary() {
    }

    public static void main(String[] args) throws IOException {
        System.out.print(summarize(Path.of(args[0]), args.length > 1 ? Integer.parseInt(args[1]) : 25));
    }

    static String summarize(Path file, int top) throws IOException {
        Map<String, Long> self = new HashMap<>();
        Map<String, Long> total = new HashMap<>();
        Map<String, Long> ours = new HashMap<>();
        Map<String, Long> threads = new HashMap<>();
        Map<String, Double> allocatedClass = new HashMap<>();
        Map<String, Double> allocatedAt = new HashMap<>();
        long samples = 0;
        double allocated = 0;
        long gcs = 0;
        double gcPauseMs = 0;
        Map<String, Long> gcNames = new HashMap<>();
        long first = Long.MAX_VALUE;
        long last = Long.MIN_VALUE;
        for (RecordedEvent event : RecordingFile.readAllEvents(file)) {
            String type = event.getEventType().getName();
            RecordedStackTrace stack = event.getStackTrace();
            if (type.equals("jdk.ExecutionSample") && stack != null && !stack.getFrames().isEmpty()) {
                samples++;
                first = Math.min(first, event.getStartTime().toEpochMilli());
                last = Math.max(last, event.getStartTime().toEpochMilli());
                List<RecordedFrame> frames = stack.getFrames();
                self.merge(name(frames.get(0)), 1L, Long::sum);
                Set<String> seen = new HashSet<>();
                for (RecordedFrame frame : frames) {
                    String name = name(frame);
                    if (seen.add(name)) {
                        total.merge(name, 1L, Long::sum);
                        if (name.startsWith("io.tokenhub.")) {
                            ours.merge(name, 1L, Long::sum);
                        }
                    }
                }
                var thread = event.getThread("sampledThread");
                threads.merge(thread == null ? "?" : threadGroup(thread.getJavaName()), 1L, Long::sum);
            } else if (type.equals("jdk.GarbageCollection")) {
                gcs++;
                gcPauseMs += event.getDuration("sumOfPauses").toNanos() / 1e6;
                gcNames.merge(event.getString("name"), 1L, Long::sum);
            } else if (type.equals("jdk.ObjectAllocationSample") && stack != null) {
                double weight = event.getLong("weight");
                allocated += weight;
                allocatedClass.merge(event.getClass("objectClass").getName(), weight, Double::sum);
                for (RecordedFrame frame : stack.getFrames()) {
                    String name = name(frame);
                    if (name.startsWith("io.tokenhub.")) {
                        allocatedAt.merge(name, weight, Double::sum);
                        break;
                    }
                }
            }
        }
        StringBuilder out = new StringBuilder();
        double seconds = Math.max(0.001, (last - first) / 1000.0);
        out.append(String.format(Locale.ROOT, "%d execution samples (Java code only; a thread in a system call is"
            + " not sampled) over %.0f s%n", samples, seconds));
        out.append(String.format(Locale.ROOT, "  garbage collections in the file: %d %s, %.0f ms of pauses%n",
            gcs, gcNames, gcPauseMs));
        section(out, "CPU samples by thread", threads, samples, top);
        section(out, "Hot methods, self (top frame)", self, samples, top);
        section(out, "Hot methods, total (anywhere on the stack)", total, samples, top);
        section(out, "TokenHub methods, total", ours, samples, top);
        if (allocated > 0) {
            sectionD(out, String.format(Locale.ROOT, "Allocation by class (sampled weight, %.0f MB in all)",
                allocated / 1e6), allocatedClass, allocated, 15);
            sectionD(out, "Allocation by first TokenHub frame", allocatedAt, allocated, 15);
        }
        return out.toString();
    }

    private static void section(StringBuilder out, String title, Map<String, Long> counts, long all, int top) {
        out.append("  ").append(title).append('\n');
        counts.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(top)
            .forEach(e -> out.append(String.format(Locale.ROOT, "    %5.1f%%  %6d  %s%n", 100.0 * e.getValue() / all,
                e.getValue(), e.getKey())));
    }

    private static void sectionD(StringBuilder out, String title, Map<String, Double> weights, double all, int top) {
        out.append("  ").append(title).append('\n');
        weights.entrySet().stream().sorted(Map.Entry.<String, Double>comparingByValue().reversed()).limit(top)
            .forEach(e -> out.append(String.format(Locale.ROOT, "    %5.1f%%  %s%n", 100.0 * e.getValue() / all,
                e.getKey())));
    }

    private static String name(RecordedFrame frame) {
        return frame.getMethod().getType().getName() + "." + frame.getMethod().getName();
    }

    private static String threadGroup(String name) {
        return name == null ? "?" : name.replaceAll("-?\\d+$", "-N");
    }
}
