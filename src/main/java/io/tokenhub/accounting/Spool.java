package io.tokenhub.accounting;

import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.file.FileSystem;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Usage records kept on disk while PostgreSQL cannot take them: one JSON-lines file per batch,
 * written under a temporary name and renamed, so a crash leaves whole files only. Files left by an
 * earlier run are picked up at start. Bounded by {@code maxBytes}. Used on one event loop.
 */
final class Spool {

    private static final String SUFFIX = ".jsonl";

    private final FileSystem fs;
    private final String dir;
    private final long maxBytes;
    /** File name → (records, bytes), oldest first. */
    private final TreeMap<String, long[]> files = new TreeMap<>();
    private long bytes;
    private long records;
    private long sequence;

    Spool(FileSystem fs, Path dir, long maxBytes) {
        this.fs = fs;
        this.dir = dir.toString();
        this.maxBytes = maxBytes;
    }

    /** Creates the directory and counts what an earlier run left. */
    Future<Void> open() {
        return fs.mkdirs(dir)
            .compose(v -> fs.readDir(dir, ".*\\" + SUFFIX + "$"))
            .compose(paths -> {
                Future<Void> chain = Future.succeededFuture();
                for (String path : paths) {
                    chain = chain.compose(v -> fs.readFile(path).map(content -> {
                        track(Path.of(path).getFileName().toString(), lines(content), content.length());
                        return null;
                    }));
                }
                return chain;
            });
    }

    boolean hasRoomFor(long moreBytes) {
        return bytes + moreBytes <= maxBytes;
    }

    boolean isEmpty() {
        return files.isEmpty();
    }

    long records() {
        return records;
    }

    Future<Void> append(List<UsageEvent> events) {
        Buffer content = Buffer.buffer();
        for (UsageEvent e : events) {
            content.appendString(e.toJson().encode()).appendByte((byte) '\n');
        }
        if (!hasRoomFor(content.length())) {
            return Future.failedFuture(new IllegalStateException("usage spool is full (" + bytes + " bytes)"));
        }
        String name = String.format("usage-%013d-%06d%s", System.currentTimeMillis(), sequence++ % 1_000_000, SUFFIX);
        String tmp = dir + "/" + name + ".tmp";
        return fs.writeFile(tmp, content)
            .compose(v -> fs.move(tmp, dir + "/" + name))
            .map(v -> {
                track(name, events.size(), content.length());
                return null;
            });
    }

    /** The oldest file's name and records, or null when empty. */
    Future<Map.Entry<String, List<UsageEvent>>> oldest() {
        if (files.isEmpty()) {
            return Future.succeededFuture(null);
        }
        String name = files.firstKey();
        return fs.readFile(dir + "/" + name).map(content -> Map.entry(name, parse(content)));
    }

    Future<Void> remove(String name) {
        return fs.delete(dir + "/" + name).map(v -> {
            long[] stats = files.remove(name);
            if (stats != null) {
                records -= stats[0];
                bytes -= stats[1];
            }
            return null;
        });
    }

    private void track(String name, long count, long size) {
        files.put(name, new long[] {count, size});
        records += count;
        bytes += size;
    }

    private static List<UsageEvent> parse(Buffer content) {
        List<UsageEvent> events = new ArrayList<>();
        for (String line : content.toString().split("\n")) {
            if (!line.isBlank()) {
                events.add(UsageEvent.fromJson(new JsonObject(line)));
            }
        }
        return events;
    }

    private static long lines(Buffer content) {
        long n = 0;
        for (int i = 0; i < content.length(); i++) {
            if (content.getByte(i) == '\n') {
                n++;
            }
        }
        return n;
    }
}
