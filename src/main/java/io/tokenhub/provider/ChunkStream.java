package io.tokenhub.provider;

import io.tokenhub.core.Usage;
import io.vertx.core.Handler;

/**
 * A streaming answer as OpenAI {@code chat.completion.chunk}s, {@code model} already
 * {@code provider/upstream-model}. Returned paused: set the handlers, then {@link #resume()}.
 * Exactly one of the end and exception handlers is called, once, unless the stream is cancelled.
 */
public interface ChunkStream {

    ChunkStream handler(Handler<Chunk> chunk);

    ChunkStream endHandler(Handler<Void> end);

    ChunkStream exceptionHandler(Handler<Throwable> failure);

    void pause();

    void resume();

    /** Stops delivery and aborts the upstream request at once (the client went away). */
    void cancel();

    /** The provider's own counts, once its usage arrived; null if it sent none (yet). */
    Usage usage();

    /**
     * The provider's own input counts (completion 0) where they come before its output count, as
     * Anthropic's on {@code message_start}; null if it sent none. They are real counts when
     * {@link #usage()} is still null because the stream ended first, so only the output is estimated.
     */
    default Usage promptUsage() {
        return null;
    }

    /** The {@code model} its chunks carry: {@code provider/upstream-model}, as the provider last named it. */
    String label();
}
