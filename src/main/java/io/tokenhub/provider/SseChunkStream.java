package io.tokenhub.provider;

import io.tokenhub.provider.UpstreamException.Kind;
import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpClientResponse;

/**
 * What every provider's SSE stream shares: the upstream body read incrementally through an
 * {@link SseParser}, the provider's idle timeout between reads (comments too, but for DeepSeek's),
 * back-pressure, cancellation, and the {@link ChunkStream} promise that exactly one of end and
 * failure is delivered, once, and no chunk after it. A subclass turns events into OpenAI chunks
 * ({@link #onEvent}) and says whether the body's end completes the answer ({@link #onBodyEnd}); it
 * calls {@link #listen} last in its constructor, once its own state is ready for the first event.
 */
public abstract class SseChunkStream implements ChunkStream {

    protected final HttpUpstream upstream;
    private final HttpClientResponse response;
    private final UpstreamCall call;
    private final Abort abort;
    private final SseParser parser = new SseParser(this::event);
    private final IdleTimeout idle;
    private final boolean commentsAreProgress;
    private Handler<Chunk> chunkHandler = chunk -> { };
    private Handler<Void> endHandler = v -> { };
    private Handler<Throwable> exceptionHandler = e -> { };
    /** Set once the outcome is decided (ended, failed or cancelled): nothing is delivered after it. */
    private boolean finished;
    /** Labelled {@code application/json}: its first byte says whether it is a stream after all. */
    private final boolean labelledJson;
    private boolean sniffed;
    /** A JSON body where a stream was asked for, gathered whole (up to {@link #MAX_WHOLE_JSON}); else null. */
    private Buffer wholeJson;
    private static final int MAX_WHOLE_JSON = 1 << 20;

    protected SseChunkStream(HttpClientResponse response, HttpUpstream upstream, UpstreamCall call, Abort abort) {
        this(response, upstream, call, abort, true);
    }

    /**
     * @param commentsAreProgress whether an SSE comment holds off {@code idle_ms}: it does for most
     *                            providers (OpenRouter's "processing" comments while a model reasons
     *                            unseen), not for DeepSeek's queue, which keeps a request waiting for
     *                            inference open with them for up to ten minutes
     */
    protected SseChunkStream(HttpClientResponse response, HttpUpstream upstream, UpstreamCall call, Abort abort,
                             boolean commentsAreProgress) {
        this.commentsAreProgress = commentsAreProgress;
        this.response = response;
        this.upstream = upstream;
        this.call = call;
        this.abort = abort;
        this.idle = upstream.idleTimeout(this::quiet);
        String type = response.getHeader(HttpHeaders.CONTENT_TYPE);
        this.labelledJson = type != null && type.regionMatches(true, 0, "application/json", 0, 16);
    }

    /**
     * {@code idle_ms} without data: the stream fails as timed out; or, once the answer ended
     * ({@link #completeBeforeBodyEnd}) and the body did not, its connection is let go.
     */
    private void quiet() {
        if (finished) {
            response.request().reset();
            return;
        }
        fail(UpstreamException.of(providerId(), Kind.TIMEOUT,
            "no data for " + upstream.provider().timeouts().idleMs() + " ms in the stream"));
    }

    /** Starts reading the body: the subclass's last step of construction. */
    protected final void listen() {
        response.handler(buffer -> {
            if (finished) {
                return; // what follows the answer's end, read to the body's end and dropped
            }
            call.clock().received();
            if (!sniffed && labelledJson) {
                sniff(buffer);
            }
            if (wholeJson != null) {
                // Not a stream: an error the provider put in a 200, or a whole answer; judged at its end.
                if (wholeJson.length() < MAX_WHOLE_JSON) {
                    wholeJson.appendBuffer(buffer);
                }
                idle.touch();
                return;
            }
            boolean fields;
            try {
                fields = parser.feed(buffer);
            } catch (SseParser.TooLarge tooLarge) {
                fail(tooLarge);
                return;
            }
            if (fields || commentsAreProgress) {
                idle.touch();
            }
        });
        response.endHandler(v -> end());
        response.exceptionHandler(e -> fail(upstream.classify(e)));
        abort.onAbort(this::cancel);
    }

    /**
     * Whether the body's first bytes, labelled JSON, are JSON (an object): then it is gathered whole.
     * Some servers label a real stream {@code application/json}, and that one is read as a stream.
     */
    private void sniff(Buffer buffer) {
        for (int i = 0; i < buffer.length() && !sniffed; i++) {
            byte b = buffer.getByte(i);
            if (b != ' ' && b != '\n' && b != '\r' && b != '\t') {
                sniffed = true;
                wholeJson = b == '{' ? Buffer.buffer() : null;
            }
        }
    }

    private void fail(SseParser.TooLarge tooLarge) {
        fail(UpstreamException.of(providerId(), Kind.CONNECTION, tooLarge.getMessage()));
    }

    /**
     * A 200 JSON body where a stream was asked for, whole (its first {@link #MAX_WHOLE_JSON} bytes):
     * this candidate failed. By default it says so; a provider that knows its errors' shape reads it.
     */
    protected void onWholeJson(Buffer body) {
        fail(UpstreamException.of(providerId(), Kind.CONNECTION,
            "the provider answered a streamed request with a whole answer (application/json)"));
    }

    /** One SSE event of the body, never called once the outcome is decided. */
    protected abstract void onEvent(String event, byte[] data);

    /**
     * The body ended with the outcome still open: deliver what remains and {@link #complete()},
     * or {@link #fail} if the provider stopped short of a whole answer.
     */
    protected abstract void onBodyEnd();

    protected final String providerId() {
        return upstream.provider().id();
    }

    /** Whether the outcome is decided; a chunk handler may decide it by cancelling. */
    protected final boolean finished() {
        return finished;
    }

    protected final void deliver(Chunk chunk) {
        if (!finished) {
            chunkHandler.handle(chunk);
        }
    }

    protected final void complete() {
        if (!finished) {
            finished = true;
            idle.stop();
            endHandler.handle(null);
        }
    }

    /**
     * The answer is whole before the body ended (OpenAI's {@code [DONE]}): it completes now, and what
     * the body still holds is read and dropped; a body that does not end within {@code idle_ms} has
     * its connection closed rather than returned to the pool. Before, a provider that kept the body
     * open after {@code [DONE]} turned a whole answer into a timeout, and chunks it sent after it
     * reached the client.
     */
    protected final void completeBeforeBodyEnd() {
        if (!finished) {
            finished = true;
            endHandler.handle(null);
            response.resume();
            idle.start();
        }
    }

    protected final void fail(UpstreamException failure) {
        if (finished) {
            return;
        }
        finished = true;
        idle.stop();
        if (abort.aborted()) {
            // HttpUpstream's own abort action resets the request before our cancel() runs, and the
            // reset surfaces here as a connection failure: it is the cancellation, not an outcome.
            return;
        }
        // The connection may still carry the rest of a broken answer; it must not go back to the pool.
        response.request().reset();
        exceptionHandler.handle(failure);
    }

    private void event(String event, byte[] data) {
        if (!finished) {
            onEvent(event, data);
        }
    }

    private void end() {
        idle.stop();
        if (wholeJson != null) {
            if (!finished) {
                onWholeJson(wholeJson);
            }
            return;
        }
        try {
            parser.end();
        } catch (SseParser.TooLarge tooLarge) {
            fail(tooLarge);
            return;
        }
        if (!finished) {
            onBodyEnd();
        }
    }

    @Override
    public final ChunkStream handler(Handler<Chunk> chunk) {
        this.chunkHandler = chunk;
        return this;
    }

    @Override
    public final ChunkStream endHandler(Handler<Void> end) {
        this.endHandler = end;
        return this;
    }

    @Override
    public final ChunkStream exceptionHandler(Handler<Throwable> failure) {
        this.exceptionHandler = failure;
        return this;
    }

    @Override
    public final void pause() {
        idle.suspend();
        response.pause();
    }

    @Override
    public final void resume() {
        response.resume();
        idle.start();
    }

    @Override
    public final void cancel() {
        if (!finished) {
            finished = true;
            idle.stop();
            response.request().reset();
        }
    }
}
