package io.tokenhub.provider.openai;

import io.tokenhub.core.Usage;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.ChunkStream;
import io.tokenhub.provider.HttpUpstream;
import io.tokenhub.provider.IdleTimeout;
import io.tokenhub.provider.SseParser;
import io.tokenhub.provider.UpstreamCall;
import io.tokenhub.provider.UpstreamException;
import io.tokenhub.provider.UpstreamException.Kind;
import io.vertx.core.Handler;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;

/** An OpenAI SSE body read incrementally: one chunk per {@code data:} event until {@code [DONE]}. */
final class OpenAiChunkStream implements ChunkStream {

    private final HttpClientResponse response;
    private final HttpUpstream upstream;
    private final SseParser parser = new SseParser(this::onEvent);
    private final IdleTimeout idle;
    private Handler<JsonObject> chunkHandler = chunk -> { };
    private Handler<Void> endHandler = v -> { };
    private Handler<Throwable> exceptionHandler = e -> { };
    private String reportedModel;
    private String label;
    private Usage usage;
    private boolean done;
    private boolean finished;

    OpenAiChunkStream(HttpClientResponse response, HttpUpstream upstream, UpstreamCall call, Abort abort) {
        this.response = response;
        this.upstream = upstream;
        this.label = upstream.provider().id() + "/" + call.upstreamModel();
        this.idle = upstream.idleTimeout(() -> fail(UpstreamException.of(upstream.provider().id(), Kind.TIMEOUT,
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

    private void onEvent(String event, String data) {
        if (finished) {
            return;
        }
        if (data.equals("[DONE]")) {
            done = true;
            return;
        }
        JsonObject chunk;
        try {
            chunk = new JsonObject(data);
        } catch (DecodeException e) {
            fail(UpstreamException.of(upstream.provider().id(), Kind.CONNECTION, "malformed chunk in the stream"));
            return;
        }
        if (chunk.getValue("error") instanceof JsonObject error) {
            fail(upstream.statusFailure(500, 0, error));
            return;
        }
        relabel(chunk);
        if (chunk.getValue("usage") instanceof JsonObject u) {
            usage = Usage.fromOpenAi(u);
        }
        chunkHandler.handle(chunk);
    }

    private void relabel(JsonObject chunk) {
        Object model = chunk.getValue("model");
        if (model instanceof String m && !m.isEmpty() && !m.equals(reportedModel)) {
            reportedModel = m;
            label = upstream.provider().id() + "/" + m;
        }
        chunk.put("model", label);
    }

    private void onEnd() {
        idle.stop();
        parser.end();
        if (finished) {
            return;
        }
        if (!done) {
            fail(UpstreamException.of(upstream.provider().id(), Kind.CONNECTION,
                "the provider closed the stream before [DONE]"));
            return;
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
        return usage;
    }
}
