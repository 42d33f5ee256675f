package io.tokenhub.accounting;

import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.file.AsyncFile;
import io.vertx.core.file.FileSystem;
import io.vertx.core.file.OpenOptions;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every usage record the accounting verticle receives, appended to a file on disk as it arrives,
 * until PostgreSQL (or the spool) holds it: a node killed outright (SIGKILL, the OOM killer) loses
 * the records in its memory, and the next start finds them here and writes them (once: the writer
 * skips records PostgreSQL already holds, so neither a record nor its money counts twice). Written
 * without fsync: the records outlive the process, not the machine. Segments of a second or so;
 * one is deleted once every record in it is durable. The spool's JSON lines, so that a start hands
 * what an earlier run left to the spool's replay. Used on one event loop.
 */
final class Journal {

    private static final Logger LOG = LoggerFactory.getLogger(Journal.class);
    /** How long a segment takes records before the next one starts. */
    static final long SEGMENT_MS = 1_000;
    private static final String PREFIX = "journal-";

    /** A segment (opened asynchronously), and how many records had been received at its last one. */
    private static final class Segment {
        final String path;
        final Future<AsyncFile> file;
        long endReceived;

        Segment(String path, Future<AsyncFile> file) {
            this.path = path;
            this.file = file;
        }
    }

    private final FileSystem fs;
    private final String dir;
    /** Oldest first; the last one is the one taking records, if any is. */
    private final ArrayDeque<Segment> segments = new ArrayDeque<>();
    private Segment current;
    private long currentSince;
    private long sequence;
    /** Set when the disk refused a write: the journal stops, and the pipeline goes on without it. */
    private boolean broken;

    Journal(FileSystem fs, Path dir) {
        this.fs = fs;
        this.dir = dir.toString();
    }

    /**
     * Hands the segments an earlier run left to the spool directory (as spool files), where the
     * spool's replay writes them; answers how many records they hold.
     */
    Future<Long> handOver(Path spoolDir) {
        return fs.mkdirs(dir).compose(v -> fs.mkdirs(spoolDir.toString()))
            .compose(v -> fs.readDir(dir, ".*\\.jsonl$"))
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
        if (broken) {
            return;
        }
        long now = System.currentTimeMillis();
        if (current == null || now - currentSince >= SEGMENT_MS) {
            String name = String.format("%s%013d-%06d.jsonl", PREFIX, now, sequence++ % 1_000_000);
            String path = Path.of(dir, name).toString();
            current = new Segment(path, fs.open(path, new OpenOptions().setCreate(true).setAppend(true)));
            currentSince = now;
            segments.addLast(current);
        }
        current.endReceived = received;
        Buffer lines = Spool.jsonLines(events);
        // Writes queue in order behind the open.
        current.file.compose(file -> file.write(lines)).onFailure(this::broke);
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
    Future<Void> close(long durable) {
        durable(durable);
        Future<Void> closed = Future.succeededFuture();
        for (Segment s : segments) {
            closed = closed.eventually(() -> s.file.compose(AsyncFile::close));
        }
        return closed;
    }

    /** Closed first, which lets the writes still queued finish, then deleted. */
    private void delete(Segment segment) {
        segment.file.compose(AsyncFile::close).eventually(() -> fs.delete(segment.path))
            .onFailure(failure -> LOG.warn("usage journal segment {} could not be deleted ({}); the next start "
                + "writes what it holds again, once", segment.path, failure.getMessage()));
    }

    private void broke(Throwable failure) {
        if (!broken) {
            broken = true;
            LOG.error("usage journal write failed ({}): records in memory are lost if this node is killed",
                failure.getMessage());
        }
    }
}
