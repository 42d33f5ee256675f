package io.tokenhub.routing;

import io.tokenhub.provider.Chunk;
import io.tokenhub.provider.ChunkStream;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.util.ArrayList;
import java.util.List;

/**
 * Holds a stream back until its first real output (a content, reasoning or tool-call delta), so
 * that an upstream that fails before producing anything can still be replaced by the next
 * candidate without the client noticing. Chunks before that point are kept and handed over, in
 * order, to whoever {@link #attach attaches}.
 */
public final class StreamStart {

    /** Receives the stream once it has started. */
    public interface Sink {
        void chunk(Chunk chunk);

        void end();

        void fail(Throwable failure);
    }

    private final ChunkStream stream;
    private final Promise<StreamStart> started = Promise.promise();
    private List<Chunk> held = new ArrayList<>();
    private Sink sink;
    private boolean ended;
    private Throwable failure;

    private StreamStart(ChunkStream stream) {
        this.stream = stream;
    }

    /** Completes when the stream has produced output or ended; fails if it failed before that. */
    public static Future<StreamStart> await(ChunkStream stream) {
        StreamStart start = new StreamStart(stream);
        stream.handler(start::onChunk).endHandler(start::onEnd).exceptionHandler(start::onFailure);
        stream.resume();
        return start.started.future();
    }

    public ChunkStream stream() {
        return stream;
    }

    private void onChunk(Chunk chunk) {
        if (sink != null) {
            sink.chunk(chunk);
            return;
        }
        held.add(chunk);
        if (chunk.hasOutput()) {
            // Paused before completing: the completion may attach and resume synchronously.
            stream.pause();
            started.tryComplete(this);
        }
    }

    private void onEnd(Void v) {
        if (sink != null) {
            sink.end();
        } else {
            ended = true;
            started.tryComplete(this);
        }
    }

    private void onFailure(Throwable t) {
        if (sink != null) {
            sink.fail(t);
        } else {
            failure = t;
            started.tryFail(t);
        }
    }

    /** Delivers the held chunks, then everything that follows, to {@code target}; resumes the stream. */
    public void attach(Sink target) {
        List<Chunk> backlog = held;
        held = List.of();
        for (Chunk chunk : backlog) {
            target.chunk(chunk);
        }
        this.sink = target;
        if (ended) {
            target.end();
        } else if (failure != null) {
            target.fail(failure);
        } else {
            stream.resume();
        }
    }
}
