package io.tokenhub.provider.mock;

import io.tokenhub.core.Usage;
import io.tokenhub.provider.Chunk;
import io.tokenhub.provider.ChunkStream;
import io.tokenhub.provider.UpstreamClock;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.util.List;

/** Prepared chunks delivered one per tick (or per delay), honouring pause and cancel. */
final class MockChunkStream implements ChunkStream {

    private final Vertx vertx;
    private final List<JsonObject> chunks;
    private final long delayMs;
    private final Usage usage;
    /** The chunk delay plays the upstream's part: time spent waiting on it is upstream time. */
    private final UpstreamClock clock;
    private Handler<Chunk> chunkHandler = c -> { };
    private Handler<Void> endHandler = v -> { };
    private int next;
    private boolean paused = true;
    private boolean scheduled;
    private boolean cancelled;
    private long timer = -1;

    MockChunkStream(Vertx vertx, List<JsonObject> chunks, long delayMs, Usage usage, UpstreamClock clock) {
        this.vertx = vertx;
        this.chunks = chunks;
        this.delayMs = delayMs;
        this.usage = usage;
        this.clock = clock;
    }

    private void schedule() {
        if (paused || scheduled || cancelled) {
            return;
        }
        scheduled = true;
        // The first chunk comes at once, as a fast upstream's would; later ones after the delay.
        if (delayMs == 0 || next == 0) {
            vertx.runOnContext(v -> emit());
        } else {
            timer = vertx.setTimer(delayMs, id -> emit());
        }
    }

    private void emit() {
        scheduled = false;
        timer = -1;
        if (paused || cancelled) {
            return;
        }
        clock.received();
        if (next < chunks.size()) {
            chunkHandler.handle(Chunk.of(chunks.get(next++)));
            schedule();
        } else {
            cancelled = true;
            endHandler.handle(null);
        }
    }

    @Override
    public ChunkStream handler(Handler<Chunk> chunk) {
        this.chunkHandler = chunk;
        return this;
    }

    @Override
    public ChunkStream endHandler(Handler<Void> end) {
        this.endHandler = end;
        return this;
    }

    @Override
    public ChunkStream exceptionHandler(Handler<Throwable> failure) {
        return this;
    }

    @Override
    public void pause() {
        paused = true;
    }

    @Override
    public void resume() {
        paused = false;
        schedule();
    }

    @Override
    public void cancel() {
        cancelled = true;
        if (timer >= 0) {
            vertx.cancelTimer(timer);
        }
    }

    @Override
    public Usage usage() {
        return next >= chunks.size() ? usage : null;
    }

    @Override
    public String label() {
        return chunks.get(0).getString("model");
    }
}
