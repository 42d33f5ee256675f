package io.tokenhub.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * Child processes of the benchmark and what {@code /proc} says about them: CPU time (utime +
 * stime) and resident memory. Every child is stopped when the benchmark's JVM exits (a shutdown
 * hook), and the Java children also exit by themselves when their standard input closes, which
 * happens even when this JVM is killed.
 */
final class Procs {

    /** Clock ticks per second of {@code /proc/<pid>/stat} times (USER_HZ); 100 on Linux everywhere. */
    static final long CLK_TCK = clockTicks();

    private static final List<Child> CHILDREN = new CopyOnWriteArrayList<>();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(Procs::stopAll, "bench-children-stop"));
    }

    private Procs() {
    }

    /** A started child process; {@link #pid()} is the process whose CPU is measured. */
    static final class Child implements AutoCloseable {
        final String name;
        final Process process;
        volatile long measuredPid;
        private final OutputStream stdin;

        Child(String name, Process process) {
            this.name = name;
            this.process = process;
            this.measuredPid = process.pid();
            this.stdin = process.getOutputStream();
        }

        long pid() {
            return measuredPid;
        }

        boolean alive() {
            return process.isAlive();
        }

        /** Closes the child's stdin (its signal to stop), then waits, then kills. */
        @Override
        public void close() {
            try {
                stdin.close();
            } catch (IOException ignored) {
                // already gone
            }
            try {
                if (!process.waitFor(15, TimeUnit.SECONDS)) {
                    process.destroy();
                    if (!process.waitFor(5, TimeUnit.SECONDS)) {
                        process.destroyForcibly();
                        process.waitFor(5, TimeUnit.SECONDS);
                    }
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
            CHILDREN.remove(this);
        }
    }

    /** Starts {@code java <jvmArgs> -cp <this classpath> mainClass args}, output to {@code log}. */
    static Child java(String name, Path log, List<String> jvmArgs, String mainClass, List<String> args)
        throws IOException {
        return java(name, log, "", jvmArgs, mainClass, args);
    }

    /** The same with another {@code java} executable (a JDK's home or its binary); blank for this JVM's. */
    static Child java(String name, Path log, String java, List<String> jvmArgs, String mainClass, List<String> args)
        throws IOException {
        List<String> command = new ArrayList<>();
        command.add(javaExecutable(java));
        command.addAll(jvmArgs);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(mainClass);
        command.addAll(args);
        return start(name, log, command);
    }

    private static String javaExecutable(String java) {
        if (java.isBlank()) {
            return Path.of(System.getProperty("java.home"), "bin", "java").toString();
        }
        Path path = Path.of(java);
        return Files.isDirectory(path) ? path.resolve("bin").resolve("java").toString() : java;
    }

    static Child start(String name, Path log, List<String> command) throws IOException {
        Process process = new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
            .start();
        Child child = new Child(name, process);
        CHILDREN.add(child);
        return child;
    }

    static void stopAll() {
        for (Child child : List.copyOf(CHILDREN)) {
            child.close();
        }
    }

    /**
     * Blocks until the file holds a whole line (children write it with {@link #writeReady}; nginx
     * writes its pid file the same way); that line. Fails when the child died.
     */
    static String awaitFile(Path file, Child child, long timeoutMs) throws IOException, InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (System.currentTimeMillis() < deadline) {
            String content = Files.exists(file) ? Files.readString(file) : "";
            if (content.endsWith("\n")) {
                return content.trim();
            }
            if (child != null && !child.alive()) {
                throw new IllegalStateException(child.name + " exited with " + child.process.exitValue()
                    + " before it was ready");
            }
            Thread.sleep(50);
        }
        throw new IllegalStateException("timed out waiting for " + file);
    }

    /** Called by a child once it serves: the ready line, written whole (to a temporary file, then moved). */
    static void writeReady(Path file, String line) throws IOException {
        Path partial = file.resolveSibling(file.getFileName() + ".partial");
        Files.writeString(partial, line + "\n");
        Files.move(partial, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    /** Called by a Java child: runs {@code onExit} and exits once the parent closes our stdin. */
    static void exitWhenStdinCloses(Runnable onExit) {
        Thread watcher = new Thread(() -> {
            try {
                InputStream in = System.in;
                byte[] buffer = new byte[64];
                while (in.read(buffer) >= 0) {
                    // nothing is ever sent; EOF is the signal
                }
            } catch (IOException ignored) {
                // treat like EOF
            }
            try {
                onExit.run();
            } finally {
                // exit, not halt: shutdown hooks run, so a profiler agent writes its file
                System.exit(0);
            }
        }, "parent-watch");
        watcher.setDaemon(false);
        watcher.start();
    }

    // ---------------------------------------------------------------- /proc

    /** utime + stime of the process (all its threads, live and dead), in clock ticks; -1 if gone. */
    static long cpuTicks(long pid) {
        String[] f = statFields(pid);
        return f == null ? -1 : Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    /** {utime, stime} of the process in clock ticks; {0, 0} if gone. */
    static long[] userSysTicks(long pid) {
        String[] f = statFields(pid);
        return f == null ? new long[2] : new long[] {Long.parseLong(f[11]), Long.parseLong(f[12])};
    }

    /** CPU ticks of the process and its direct children (nginx: master + workers). */
    static long treeCpuTicks(long pid) {
        long total = Math.max(0, cpuTicks(pid));
        for (long child : childrenOf(pid)) {
            total += Math.max(0, cpuTicks(child));
        }
        return total;
    }

    /**
     * Summed CPU ticks of every process whose command line contains {@code text}: PostgreSQL names
     * each backend after its database ({@code postgres: 15/main: user db 127.0.0.1(…) idle}), so
     * this is the CPU of the connections to one database.
     */
    static long cpuTicksByCommandLine(String text) {
        long total = 0;
        for (long pid : allPids()) {
            try {
                String cmdline = new String(Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline")));
                if (cmdline.contains(text)) {
                    total += Math.max(0, cpuTicks(pid));
                }
            } catch (IOException ignored) {
                // exited meanwhile
            }
        }
        return total;
    }

    /** CPU ticks of each JIT compiler thread of a JVM, by thread id (the JVM starts and stops some as needed). */
    static java.util.Map<Long, Long> compilerThreadTicks(long pid) {
        java.util.Map<Long, Long> out = new java.util.HashMap<>();
        eachThread(pid, (tid, name, ticks) -> {
            if (name.contains("CompilerThre")) {
                out.put(tid, ticks);
            }
        });
        return out;
    }

    /** CPU ticks per thread group of a process (thread names with their numbers folded: "GC Thread#N"). */
    static java.util.Map<String, Long> threadTicks(long pid) {
        java.util.Map<String, Long> out = new java.util.TreeMap<>();
        eachThread(pid, (tid, name, ticks) -> out.merge(name.replaceAll("\\d+", "N"), ticks, Long::sum));
        return out;
    }

    private interface ThreadTicks {
        void accept(long tid, String name, long ticks);
    }

    /** utime + stime of each live thread of a process, with its id and name. */
    private static void eachThread(long pid, ThreadTicks visitor) {
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            tasks.forEach(task -> {
                try {
                    String stat = Files.readString(task.resolve("stat"));
                    String name = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    visitor.accept(Long.parseLong(task.getFileName().toString()), name,
                        Long.parseLong(f[11]) + Long.parseLong(f[12]));
                } catch (IOException | RuntimeException ignored) {
                    // the thread ended meanwhile
                }
            });
        } catch (IOException ignored) {
            // the process is gone
        }
    }

    /**
     * Context switches of a process's live threads, voluntary (a thread went to sleep: an event
     * loop with nothing left to do) and not (the scheduler took its core away): {voluntary, involuntary}.
     * Per request, they say how much of its work each wake-up found waiting.
     */
    static long[] contextSwitches(long pid) {
        long[] out = new long[2];
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            tasks.forEach(task -> {
                try {
                    for (String line : Files.readAllLines(task.resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches:")) {
                            out[0] += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        } else if (line.startsWith("nonvoluntary_ctxt_switches:")) {
                            out[1] += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        }
                    }
                } catch (IOException | RuntimeException ignored) {
                    // the thread ended meanwhile
                }
            });
        } catch (IOException ignored) {
            // the process is gone
        }
        return out;
    }

    /** Busy CPU ticks of the whole machine (all CPUs) from /proc/stat: user+nice+system+irq+softirq+steal. */
    static long machineBusyTicks() {
        try {
            String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
            return Long.parseLong(f[1]) + Long.parseLong(f[2]) + Long.parseLong(f[3]) + Long.parseLong(f[6])
                + Long.parseLong(f[7]) + Long.parseLong(f[8]);
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /** Resident set size in bytes (VmRSS), -1 if gone. */
    static long rssBytes(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // gone
        }
        return -1;
    }

    /** Open file descriptors of the process (entries of /proc/pid/fd), -1 if gone. */
    static long openFiles(long pid) {
        try (var fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            return fds.count();
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    static long treeRssBytes(long pid) {
        long total = Math.max(0, rssBytes(pid));
        for (long child : childrenOf(pid)) {
            total += Math.max(0, rssBytes(child));
        }
        return total;
    }

    static List<Long> childrenOf(long pid) {
        List<Long> out = new ArrayList<>();
        for (long candidate : allPids()) {
            String[] f = statFields(candidate);
            if (f != null && Long.parseLong(f[1]) == pid) {
                out.add(candidate);
            }
        }
        return out;
    }

    private static List<Long> allPids() {
        List<Long> pids = new ArrayList<>();
        try (var dirs = Files.list(Path.of("/proc"))) {
            dirs.forEach(p -> {
                String name = p.getFileName().toString();
                if (!name.isEmpty() && name.chars().allMatch(Character::isDigit)) {
                    pids.add(Long.parseLong(name));
                }
            });
        } catch (IOException ignored) {
            // no /proc: nothing to report
        }
        return pids;
    }

    /** Fields of /proc/pid/stat after the command name: index 0 = state (field 3), 11 = utime, 12 = stime. */
    private static String[] statFields(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static long clockTicks() {
        try {
            Process p = new ProcessBuilder("getconf", "CLK_TCK").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            p.waitFor(5, TimeUnit.SECONDS);
            return Long.parseLong(out);
        } catch (Exception e) {
            return 100;
        }
    }

    /** Runs a short command and returns its output (for jcmd, nproc…); never throws. */
    static String run(List<String> command, long timeoutSeconds) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            p.getOutputStream().close();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
            return new String(out).trim();
        } catch (Exception e) {
            return "(" + command.get(0) + " failed: " + e.getMessage() + ")";
        }
    }
}
