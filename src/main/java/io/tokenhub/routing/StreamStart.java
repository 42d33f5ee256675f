package io.tokenhub.routing;

import io.tokenhub.provider.Abort;
import io.tokenhub.provider.Chunk;
import io.tokenhub.provider.ChunkStream;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VertxException;
import java.util.ArrayList;
import java.util.List;

/**
 * Holds a stream back until its first real output (a content, reasoning or tool-call delta), so
 * that an upstream that fails before producing anything can still be replaced by the next
 * candidate without the client noticing. Chunks before that point are kept and handed over, in
 * order, to whoever {@link #attach attaches}. Its {@link #ended end} is the upstream call's outcome.
 */
public final class StreamStart {

    /** Receives the stream once it has started. */
    public interface Sink {
        void chunk(Chunk chunk);

        void end();

        void fail(Throwable failure);
    }

    /** What a stream the client cancelled ends with: a cancelled stream reports neither end nor failure. */
    private static final VertxException CANCELLED = new VertxException("cancelled by the client", true);

    private final ChunkStream stream;
    private final Promise<StreamStart> started = Promise.promise();
    private final Promise<Void> end = Promise.promise();
    private List<Chunk> held = new ArrayList<>();
    private Sink sink;
    private boolean ended;
    private Throwable failure;

    private StreamStart(ChunkStream stream) {
        this.stream = stream;
    }

    /**
     * Completes when the stream has produced output or ended; fails if it failed or the client
     * cancelled it before that.
     */
    public static Future<StreamStart> await(ChunkStream stream, Abort abort) {
        StreamStart start = new StreamStart(stream);
        stream.handler(start::onChunk).endHandler(start::onEnd).exceptionHandler(start::onFailure);
        abort.onAbort(start::cancelled);
        stream.resume();
        return start.started.future();
    }

    public ChunkStream stream() {
        return stream;
    }

    /**
     * Completes when the stream ends well; fails when it fails or the client cancels it, so that
     * every stream has an outcome. Known before the sink hears of it, so that the breaker and the
     * metrics have it before the client has the stream's last bytes.
     */
    public Future<Void> ended() {
        return end.future();
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
        end.tryComplete();
        if (sink != null) {
            sink.end();
        } else {
            ended = true;
            started.tryComplete(this);
        }
    }

    private void onFailure(Throwable t) {
        end.tryFail(t);
        if (sink != null) {
            sink.fail(t);
        } else {
            failure = t;
            started.tryFail(t);
        }
    }

    private void cancelled() {
        started.tryFail(CANCELLED);
        end.tryFail(CANCELLED);
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
