package io.tokenhub.accounting;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.io.SerializedString;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.file.FileSystem;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.function.LongConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Usage records kept on disk while PostgreSQL cannot take them: one JSON-lines file per batch,
 * written under a temporary name and renamed. Files left by an earlier run are picked up at start,
 * and so is a file it was still writing when it died (its complete lines are records nobody else
 * holds). Bounded by {@code maxBytes}. Used on one event loop.
 *
 * <p>What cannot be read back as a record (a line cut short, a file damaged on disk) must not hold
 * up the records after it, nor be lost: such lines are copied to {@code <file>.bad} next to their
 * file, counted, and logged by file name and count only (lines name accounts and keys, which
 * logs do not). A file that cannot be handled at all is left where it is for
 * the next start, and the replay goes on with the next one.
 */
final class Spool {

    private static final Logger LOG = LoggerFactory.getLogger(Spool.class);
    private static final String SUFFIX = ".jsonl";
    private static final String UNFINISHED = ".tmp";
    private static final String BAD = ".bad";
    private static final JsonFactory JSON = new JsonFactory();
    private static final SerializedString NEW_LINE = new SerializedString("\n");

    private final FileSystem fs;
    private final String dir;
    private final long maxBytes;
    private final LongConsumer onRejected;
    /** File name → (records, bytes), oldest first. */
    private final TreeMap<String, long[]> files = new TreeMap<>();
    /** Files whose bad lines are already in their {@code .bad} file (this run): not copied or counted again. */
    private final Set<String> setAside = new HashSet<>();
    private long bytes;
    private long records;
    private long sequence;

    /** @param onRejected told how many spooled lines were set aside as unreadable */
    Spool(FileSystem fs, Path dir, long maxBytes, LongConsumer onRejected) {
        this.fs = fs;
        this.dir = dir.toString();
        this.maxBytes = maxBytes;
        this.onRejected = onRejected;
    }

    /**
     * Creates the directory and counts what an earlier run left, telling {@code found} each file's
     * records in turn (the next file once the future it answers completes).
     */
    Future<Void> open(Function<List<UsageEvent>, Future<Void>> found) {
        return fs.mkdirs(dir)
            .compose(v -> fs.readDir(dir, ".*\\" + SUFFIX + "\\" + UNFINISHED + "$"))
            .compose(unfinished -> each(unfinished, this::adopt))
            .compose(v -> fs.readDir(dir, ".*\\" + SUFFIX + "$"))
            .compose(paths -> each(paths, path -> fs.readFile(path).compose(content -> {
                track(Path.of(path).getFileName().toString(), lines(content), content.length());
                return found.apply(Lines.of(content).events);
            })));
    }

    /** Runs {@code step} on each path in turn; one that fails is logged and skipped. */
    private static Future<Void> each(List<String> paths, Function<String, Future<Void>> step) {
        Future<Void> chain = Future.succeededFuture();
        for (String path : paths) {
            chain = chain.compose(v -> step.apply(path).recover(failure -> {
                LOG.warn("usage spool file {} could not be opened ({}); left in place for the next start", path,
                    failure.getMessage());
                return Future.succeededFuture();
            }));
        }
        return chain;
    }

    private Future<Void> adopt(String unfinished) {
        String name = unfinished.substring(0, unfinished.length() - UNFINISHED.length());
        LOG.warn("usage spool file {} was being written when an earlier run stopped; replaying what it holds",
            Path.of(name).getFileName());
        return fs.move(unfinished, name);
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
        Buffer content = jsonLines(events);
        if (!hasRoomFor(content.length())) {
            return Future.failedFuture(new IllegalStateException("usage spool is full (" + bytes + " bytes)"));
        }
        String name = String.format("usage-%013d-%06d%s", System.currentTimeMillis(), sequence++ % 1_000_000, SUFFIX);
        String tmp = path(name) + UNFINISHED;
        return fs.writeFile(tmp, content)
            .compose(v -> fs.move(tmp, path(name)))
            .map(v -> {
                track(name, events.size(), content.length());
                return null;
            });
    }

    /**
     * Records PostgreSQL refuses for what they hold (not for being down): kept in a {@code .bad}
     * file of their own and counted with the unreadable lines, so that they neither hold up the
     * records around them, batch after batch, nor get lost.
     */
    Future<Void> refuse(List<UsageEvent> events, String why) {
        Buffer content = jsonLines(events);
        String name = String.format("refused-%013d-%06d%s%s", System.currentTimeMillis(), sequence++ % 1_000_000,
            SUFFIX, BAD);
        return fs.writeFile(path(name), content).map(v -> {
            LOG.warn("PostgreSQL refused {} usage records ({}); set aside in {}", events.size(), why, name);
            onRejected.accept(events.size());
            return null;
        });
    }

    /**
     * The oldest file's name and records, or null when empty. A file without any record is set
     * aside (or deleted, when it holds nothing at all) and the next one is looked at.
     */
    Future<Map.Entry<String, List<UsageEvent>>> oldest() {
        if (files.isEmpty()) {
            return Future.succeededFuture(null);
        }
        String name = files.firstKey();
        return fs.readFile(path(name))
            .compose(content -> sift(name, content))
            .recover(failure -> {
                LOG.warn("usage spool file {} could not be read back ({}); left in place for the next start", name,
                    failure.getMessage());
                forget(name);
                return Future.succeededFuture(null);
            })
            .compose(events -> events == null ? oldest() : Future.succeededFuture(Map.entry(name, events)));
    }

    /** The file's records once its bad lines are set aside; null when it holds none and is gone. */
    private Future<List<UsageEvent>> sift(String name, Buffer content) {
        Lines lines = Lines.of(content);
        if (lines.events.isEmpty()) {
            Future<Void> gone = lines.rejected == 0 ? fs.delete(path(name))
                : fs.move(path(name), path(name) + BAD).map(v -> {
                    rejected(name, lines.rejected, " (the whole file)");
                    return null;
                });
            return gone.map(v -> {
                forget(name);
                return null;
            });
        }
        long[] stats = files.get(name);
        records -= stats[0] - lines.events.size();
        stats[0] = lines.events.size();
        if (lines.rejected == 0 || setAside.contains(name)) {
            return Future.succeededFuture(lines.events);
        }
        return fs.writeFile(path(name) + BAD, lines.bad).map(v -> {
            setAside.add(name);
            rejected(name, lines.rejected, "");
            return lines.events;
        });
    }

    private void rejected(String name, long count, String extent) {
        if (count > 0) {
            LOG.warn("usage spool file {}: {} lines are not usage records; set aside in {}{}", name, count, name + BAD,
                extent);
            onRejected.accept(count);
        }
    }

    /** Deletes a replayed file; one that cannot be deleted is replayed again at the next start, to no effect. */
    Future<Void> remove(String name) {
        return fs.delete(path(name))
            .recover(failure -> {
                LOG.warn("replayed usage spool file {} could not be deleted ({})", name, failure.getMessage());
                return Future.succeededFuture();
            })
            .map(v -> {
                forget(name);
                return null;
            });
    }

    private String path(String name) {
        return dir + "/" + name;
    }

    private void track(String name, long count, long size) {
        files.put(name, new long[] {count, size});
        records += count;
        bytes += size;
    }

    private void forget(String name) {
        setAside.remove(name);
        long[] stats = files.remove(name);
        if (stats != null) {
            records -= stats[0];
            bytes -= stats[1];
        }
    }

    /** One JSON line per record, as spool files hold them. */
    static Buffer jsonLines(List<UsageEvent> events) {
        return Buffer.buffer(jsonLineBytes(events));
    }

    /** {@link #jsonLines}, as bytes. */
    static byte[] jsonLineBytes(List<UsageEvent> events) {
        if (events.isEmpty()) {
            return new byte[0];
        }
        ByteArrayBuilder bytes = new ByteArrayBuilder(events.size() * 512);
        try (JsonGenerator out = JSON.createGenerator(bytes)) {
            out.setRootValueSeparator(NEW_LINE);
            for (UsageEvent e : events) {
                e.writeJson(out);
            }
            out.writeRaw('\n');
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    static long lines(Buffer content) {
        long n = 0;
        for (int i = 0; i < content.length(); i++) {
            if (content.getByte(i) == '\n') {
                n++;
            }
        }
        return n;
    }

    /** A spooled file split into its records and the lines that are none, kept byte for byte. */
    private static final class Lines {
        final List<UsageEvent> events = new ArrayList<>();
        final Buffer bad = Buffer.buffer();
        long rejected;

        static Lines of(Buffer content) {
            Lines lines = new Lines();
            int start = 0;
            while (start < content.length()) {
                int end = start;
                while (end < content.length() && content.getByte(end) != '\n') {
                    end++;
                }
                end = Math.min(end + 1, content.length());
                Buffer line = content.getBuffer(start, end);
                String text = line.toString();
                if (!text.isBlank()) {
                    UsageEvent event = record(text);
                    if (event != null) {
                        lines.events.add(event);
                    } else {
                        lines.bad.appendBuffer(line);
                        lines.rejected++;
                    }
                }
                start = end;
            }
            return lines;
        }

        /**
         * The record a line holds, or null for one that is not JSON, not a record, or lacks what
         * usage_records requires (PostgreSQL refusing it would fail its whole batch, every time).
         */
        private static UsageEvent record(String line) {
            try {
                UsageEvent e = UsageEvent.fromJson(new JsonObject(line));
                boolean complete = e.requestId() != null && e.accountId() != null && e.keyId() != null
                    && e.requestedModel() != null;
                return complete ? e : null;
            } catch (RuntimeException notARecord) {
                // DecodeException, ClassCastException, DateTimeParseException…: whatever it is, not a record
                return null;
            }
        }
    }
}
