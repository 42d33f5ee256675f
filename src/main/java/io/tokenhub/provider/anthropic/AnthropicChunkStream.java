package io.tokenhub.provider.anthropic;

import io.tokenhub.core.Usage;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.ChunkStream;
import io.tokenhub.provider.HttpUpstream;
import io.tokenhub.provider.IdleTimeout;
import io.tokenhub.provider.SseParser;
import io.tokenhub.provider.UpstreamCall;
import io.tokenhub.provider.UpstreamException;
import io.tokenhub.provider.UpstreamException.Kind;
import io.tokenhub.provider.anthropic.AnthropicResponses.ErrorInfo;
import io.vertx.core.Handler;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.util.List;

/**
 * An Anthropic Messages SSE body read incrementally and handed on as OpenAI chunks. The stream
 * only counts as complete when {@code message_stop} arrived and the body then ended: a body that
 * ends earlier was cut off, whatever the last chunk looked like.
 */
final class AnthropicChunkStream implements ChunkStream {

    private final HttpClientResponse response;
    private final HttpUpstream upstream;
    private final AnthropicStreamTranslator translator;
    private final Abort abort;
    private final SseParser parser = new SseParser(this::onEvent);
    private final IdleTimeout idle;
    private Handler<JsonObject> chunkHandler = chunk -> { };
    private Handler<Void> endHandler = v -> { };
    private Handler<Throwable> exceptionHandler = e -> { };
    private String label;
    /** Set once the outcome is decided (ended, failed or cancelled): nothing is delivered after it. */
    private boolean finished;

    AnthropicChunkStream(HttpClientResponse response, HttpUpstream upstream, UpstreamCall call, Abort abort) {
        this.response = response;
        this.upstream = upstream;
        this.abort = abort;
        this.label = providerId() + "/" + call.upstreamModel();
        this.translator = new AnthropicStreamTranslator(label, "chatcmpl-" + call.requestId(),
            System.currentTimeMillis() / 1000);
        this.idle = upstream.idleTimeout(() -> fail(UpstreamException.of(providerId(), Kind.TIMEOUT,
            "no data for " + upstream.provider().timeouts().idleMs() + " ms in the stream")));
        response.handler(buffer -> {
            idle.touch();
            call.clock().received();
            parser.feed(buffer);
        });
        response.endHandler(v -> onEnd());
        response.exceptionHandler(e -> fail(upstream.classify(e)));
        abort.onAbort(this::cancel);
    }

    private String providerId() {
        return upstream.provider().id();
    }

    private void onEvent(String event, String data) {
        if (finished) {
            return;
        }
        List<JsonObject> chunks;
        try {
            JsonObject payload = new JsonObject(data);
            if ("message_start".equals(event != null ? event : payload.getValue("type"))) {
                relabel(payload);
            }
            chunks = translator.onEvent(event, payload);
        } catch (DecodeException | ClassCastException e) {
            // Not JSON, or a field of the wrong JSON type: the body is not what the protocol promised.
            fail(UpstreamException.of(providerId(), Kind.CONNECTION, "malformed event in the stream"));
            return;
        }
        if (translator.error() != null) {
            fail(streamError(translator.error()));
            return;
        }
        for (JsonObject chunk : chunks) {
            if (finished) {
                return; // a chunk handler cancelled the stream
            }
            chunkHandler.handle(chunk.put("model", label));
        }
    }

    /**
     * The translator was built before the answer named its model; the model Anthropic reports
     * (a dated snapshot for an alias) is the one the non-streamed path shows, so chunks show it too.
     */
    private void relabel(JsonObject payload) {
        if (payload.getValue("message") instanceof JsonObject message
            && message.getValue("model") instanceof String model && !model.isEmpty()) {
            label = providerId() + "/" + model;
        }
    }

    /**
     * An in-stream error arrives after the 200, so whatever its type (overloaded_error, api_error)
     * the provider failed mid-answer: always a provider fault, never the caller's.
     */
    private UpstreamException streamError(JsonObject error) {
        ErrorInfo info = AnthropicResponses.mapError(500, new JsonObject().put("error", error));
        String type = error.getValue("type") instanceof String t ? t : "error";
        JsonObject openAi = new JsonObject().put("message", info.message()).put("type", info.type())
            .put("code", info.code());
        return new UpstreamException(providerId(), Kind.SERVER_ERROR, info.status() >= 500 ? info.status() : 500,
            "error event in the stream: " + type + ": " + info.message(), 0, openAi);
    }

    private void onEnd() {
        idle.stop();
        parser.end();
        if (finished) {
            return;
        }
        if (!translator.finished()) {
            fail(UpstreamException.of(providerId(), Kind.CONNECTION,
                "the provider closed the stream before message_stop"));
            return;
        }
        JsonObject usageChunk = translator.usageChunk();
        if (usageChunk != null) {
            chunkHandler.handle(usageChunk.put("model", label));
            if (finished) {
                return;
            }
        }
        finished = true;
        endHandler.handle(null);
    }

    private void fail(UpstreamException failure) {
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

    @Override
    public ChunkStream handler(Handler<JsonObject> chunk) {
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
        this.exceptionHandler = failure;
        return this;
    }

    @Override
    public void pause() {
        idle.suspend();
        response.pause();
    }

    @Override
    public void resume() {
        response.resume();
        idle.start();
    }

    @Override
    public void cancel() {
        if (!finished) {
            finished = true;
            idle.stop();
            response.request().reset();
        }
    }

    @Override
    public Usage usage() {
        return Usage.fromOpenAi(translator.usage());
    }
}
