package io.tokenhub.accounting;

import io.vertx.core.Future;
import io.vertx.core.file.FileSystem;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.List;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every usage record the accounting verticle receives, appended to a file on disk as it arrives,
 * until PostgreSQL (or the spool) holds it: a node killed outright (SIGKILL, the OOM killer) loses
 * the records in its memory, and the next start finds them here and writes them (once: the writer
 * skips records PostgreSQL already holds, so neither a record nor its money counts twice). Written
 * without fsync: the records outlive the process, not the machine. Segments of a second or so;
 * one is deleted once every record in it is durable. The spool's JSON lines, so that a start hands
 * what an earlier run left to the spool's replay.
 * <p>
 * Appends, closes and deletes are plain blocking file calls, made on the thread that received the
 * records: the accounting verticle runs on a worker context for that. A write through an
 * asynchronous file woke a worker thread and then the verticle's event loop again, for every batch
 * an API verticle sent (one per event loop every few milliseconds): profiled at 500 requests/s, the
 * journal took 9 % of the gateway's CPU that way, and half as much CPU per second with blocking
 * writes. Used by one context at a time (a worker context runs its tasks one after the other).
 * <p>
 * Bounded, as the spool is: while PostgreSQL takes no records and the spool is full, records go on
 * arriving and none becomes durable, so the journal would grow until the disk (the spool's too) was
 * full. Past its bound, records are not journaled until segments are deleted.
 */
final class Journal {

    private static final Logger LOG = LoggerFactory.getLogger(Journal.class);
    /** How long a segment takes records before the next one starts. */
    static final long SEGMENT_MS = 1_000;
    private static final String PREFIX = "journal-";

    /** A segment, open while it takes records, and how many records had been received at its last one. */
    private static final class Segment {
        final Path path;
        FileChannel channel;
        long endReceived;
        long bytes;

        Segment(Path path, FileChannel channel) {
            this.path = path;
            this.channel = channel;
        }

        void close() throws IOException {
            if (channel != null) {
                FileChannel open = channel;
                channel = null;
                open.close();
            }
        }
    }

    private final FileSystem fs;
    private final Path dir;
    /** Oldest first; the last one is the one taking records, if any is. */
    private final ArrayDeque<Segment> segments = new ArrayDeque<>();
    private Segment current;
    private long currentSince;
    private long sequence;
    /**
     * When the disk last refused a write, or -1 while it takes them: the records go on without the
     * journal meanwhile, and a segment of its own is tried again a segment's time later.
     */
    private long brokenSince = -1;
    private final LongSupplier clock;
    private final long maxBytes;
    /** What the segments of this run on disk hold. */
    private long bytes;
    /** Records were left out for want of room, and no record has been journaled since. */
    private boolean full;

    Journal(FileSystem fs, Path dir) {
        this(fs, dir, System::currentTimeMillis, Long.MAX_VALUE);
    }

    /**
     * @param clock    the wall clock in milliseconds: segments are named after it and last {@link #SEGMENT_MS} of it
     * @param maxBytes the most its segments hold on disk
     */
    Journal(FileSystem fs, Path dir, LongSupplier clock, long maxBytes) {
        this.fs = fs;
        this.dir = dir;
        this.clock = clock;
        this.maxBytes = maxBytes;
    }

    /**
     * Hands the segments an earlier run left to the spool directory (as spool files), where the
     * spool's replay writes them; answers how many records they hold.
     */
    Future<Long> handOver(Path spoolDir) {
        return fs.mkdirs(dir.toString()).compose(v -> fs.mkdirs(spoolDir.toString()))
            .compose(v -> fs.readDir(dir.toString(), ".*\\.jsonl$"))
            .compose(left -> {
                Future<Long> moved = Future.succeededFuture(0L);
                for (String path : left.stream().sorted().toList()) {
                    String target = spoolDir.resolve(Path.of(path).getFileName()).toString();
                    moved = moved.compose(n -> fs.readFile(path).compose(content -> content.length() == 0
                        ? fs.delete(path).map(n)
                        : fs.move(path, target).map(n + Spool.lines(content))));
                }
                return moved;
            });
    }

    /** Appends the records; {@code received} is how many have been received, these included. */
    void append(List<UsageEvent> events, long received) {
        long now = clock.getAsLong();
        if (brokenSince >= 0 && now - brokenSince < SEGMENT_MS) {
            return;
        }
        byte[] encoded = Spool.jsonLineBytes(events);
        if (bytes + encoded.length > maxBytes) {
            if (!full) {
                full = true;
                LOG.error("usage journal at its bound of {} bytes (PostgreSQL takes no records and the spool is "
                    + "full?): records are not journaled until it has room, and are lost if this node is killed",
                    maxBytes);
            }
            return;
        }
        try {
            if (current == null || now - currentSince >= SEGMENT_MS) {
                start(now);
            }
            current.endReceived = received;
            ByteBuffer lines = ByteBuffer.wrap(encoded);
            while (lines.hasRemaining()) {
                current.channel.write(lines);
            }
            current.bytes += encoded.length;
            bytes += encoded.length;
            if (full) {
                full = false;
                LOG.warn("usage journal taking records again");
            }
            if (brokenSince >= 0) {
                brokenSince = -1;
                LOG.warn("usage journal writing again");
            }
        } catch (IOException | RuntimeException e) {
            broke(e, now);
        }
    }

    /** A new segment takes the records from now on; the one before is closed (it stays until durable). */
    private void start(long now) throws IOException {
        if (current != null) {
            current.close();
        }
        Path path = dir.resolve(String.format("%s%013d-%06d.jsonl", PREFIX, now, sequence++ % 1_000_000));
        current = new Segment(path, FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
            StandardOpenOption.APPEND));
        currentSince = now;
        segments.addLast(current);
    }

    /** Every record received up to {@code durable} is in PostgreSQL or the spool: their segments go. */
    void durable(long durable) {
        while (!segments.isEmpty() && segments.peekFirst().endReceived <= durable) {
            Segment done = segments.pollFirst();
            if (done == current) {
                current = null; // the next record starts a segment of its own
            }
            delete(done);
        }
    }

    /** Closes the segments; those whose records are all durable are deleted, the others kept for the next start. */
    void close(long durable) {
        durable(durable);
        for (Segment s : segments) {
            try {
                s.close();
            } catch (IOException e) {
                LOG.warn("usage journal segment {} could not be closed ({})", s.path, e.getMessage());
            }
        }
        current = null;
    }

    private void delete(Segment segment) {
        bytes -= segment.bytes;
        try {
            segment.close();
            Files.deleteIfExists(segment.path);
        } catch (IOException e) {
            LOG.warn("usage journal segment {} could not be deleted ({}); the next start writes what it holds "
                + "again, once", segment.path, e.getMessage());
        }
    }

    private void broke(Exception failure, long now) {
        if (brokenSince < 0) {
            LOG.error("usage journal write failed ({}): records in memory are lost if this node is killed, until "
                + "it writes again (tried every {} ms)", failure.getMessage(), SEGMENT_MS);
        }
        brokenSince = now;
        // The segment that failed takes nothing more (it goes once its records are durable): the next
        // try starts one of its own.
        if (current != null) {
            try {
                current.close();
            } catch (IOException ignored) {
                // closed or not, it is written to no more
            }
            current = null;
        }
    }
}
