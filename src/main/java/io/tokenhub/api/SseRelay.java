package io.tokenhub.api;

import io.tokenhub.billing.PriceCalculator;
import io.tokenhub.core.ApiError;
import io.tokenhub.core.Usage;
import io.tokenhub.provider.Chunk;
import io.tokenhub.provider.ChunkStream;
import io.tokenhub.telemetry.Metrics;
import io.tokenhub.routing.Dispatcher;
import io.tokenhub.routing.Served;
import io.tokenhub.routing.StreamStart;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;

/**
 * Writes a started upstream stream to the client as SSE, chunk by chunk as it arrives, pausing the
 * upstream while the client's socket is full. Hides the usage chunk unless the client asked for
 * it (adding {@code cost} when it did), ends a failed stream with an error event and
 * {@code [DONE]}, and records the usage of whatever was delivered exactly once, however it ends.
 */
final class SseRelay implements StreamStart.Sink {

    private static final byte[] DATA = "data: ".getBytes(StandardCharsets.UTF_8);
    private static final byte[] EVENT_END = "\n\n".getBytes(StandardCharsets.UTF_8);
    private static final Buffer DONE = Buffer.buffer("data: [DONE]\n\n");

    private final Exchange ex;
    private final Served<StreamStart> served;
    private final Outcome outcome;
    private final Metrics metrics;
    private final HttpServerResponse response;
    /** Delivered text, for an estimate of the output when the provider sends no usage. */
    private final DeliveredText delivered = new DeliveredText();
    /** The stream's id and created, from its first chunk: for a usage chunk of the relay's own. */
    private JsonObject identity;
    private long ttftNanos = -1;
    /** The provider's last usage chunk, sent (with cost) at the end: one, after the content, as OpenAI sends it. */
    private Chunk usageChunk;
    /**
     * The stream's counts when {@link #usageChunk} came: a later chunk with counts of its own (DeepSeek
     * puts them on its last content chunk) makes that usage chunk stale, and ours goes instead.
     */
    private Usage usageChunkCounts;
    private boolean done;

    SseRelay(Exchange ex, Served<StreamStart> served, Outcome outcome, Metrics metrics) {
        this.ex = ex;
        this.served = served;
        this.outcome = outcome;
        this.metrics = metrics;
        this.response = ex.ctx.response();
    }

    void start() {
        response.setStatusCode(200)
            .putHeader("Content-Type", Headers.EVENT_STREAM)
            .putHeader("Cache-Control", Headers.NO_CACHE)
            .putHeader(Headers.PROVIDER, served.attempt().provider())
            .setChunked(true);
        ex.abort.onAbort(this::clientGone);
        outcome.relaying(this);
        response.drainHandler(v -> served.result().stream().resume());
        served.result().attach(this);
    }

    @Override
    public void chunk(Chunk chunk) {
        if (done) {
            return;
        }
        if (chunk.usageOnly()) {
            // Held for end(): a provider may send one before the content, or several.
            usageChunk = chunk;
            usageChunkCounts = served.result().stream().usage();
            return;
        }
        delivered.add(chunk);
        if (identity == null && ex.request.includeUsage()) {
            identity = chunk.identity();
        }
        write(chunk, null);
        if (ttftNanos < 0 && chunk.hasOutput()) {
            ttftNanos = System.nanoTime() - ex.startNanos;
            metrics.timeToFirstToken(ttftNanos);
            // Up to the first token, everything that was not waiting on upstreams was TokenHub's own work.
            metrics.overhead(ex.overheadNanos());
        }
    }

    @Override
    public void end() {
        if (done) {
            return;
        }
        Usage usage = usage();
        long cost = Outcome.cost(served.attempt(), usage);
        Usage reported = served.result().stream().usage();
        if (ex.request.includeUsage() && usageChunk != null && reported != null && reported.equals(usageChunkCounts)) {
            write(usageChunk, PriceCalculator.toUsd(cost));
        } else if (ex.request.includeUsage()) {
            // Ours, for a provider that sent none (or one that counts nothing), under the stream's own
            // id and created, as every chunk of an OpenAI stream is.
            Object id = identity == null ? null : identity.getValue("id");
            Object created = identity == null ? null : identity.getValue("created");
            write(Chunk.of(new JsonObject().put("id", id != null ? id : "chatcmpl-" + ex.requestId)
                .put("object", "chat.completion.chunk")
                .put("created", created != null ? created : System.currentTimeMillis() / 1000)
                .put("model", served.result().stream().label())
                .put("choices", new JsonArray()).put("usage", usageJson(usage, cost))), null);
        }
        // Settled before the response ends: over HTTP/2 ending the response closes its stream at
        // once, and that close must not be taken for the client going away (499).
        finish(usage, cost, 200, null);
        response.end(DONE);
    }

    @Override
    public void fail(Throwable failure) {
        if (done) {
            return;
        }
        endWith(ErrorWriter.toApiError(Dispatcher.asApiException(failure)));
    }

    private void clientGone() {
        if (done) {
            return;
        }
        served.result().stream().cancel();
        Usage usage = usage();
        finish(usage, Outcome.cost(served.attempt(), usage), outcome.goneStatus(), outcome.goneCode());
    }

    /**
     * This node is stopping and the stream outlasted its grace: the upstream is abandoned, and the
     * client told, with an error event and {@code [DONE]}, before its connection is closed.
     */
    void cut() {
        if (done) {
            return;
        }
        served.result().stream().cancel();
        endWith(new ApiError.ServerShutdown());
    }

    /** Records the stream as ended by {@code error}, then tells the client: an error event and {@code [DONE]}. */
    private void endWith(ApiError error) {
        Usage usage = usage();
        // Before the response ends, as in end().
        finish(usage, Outcome.cost(served.attempt(), usage), error.status(), error.code());
        response.write(event("event: error\ndata: " + ErrorWriter.body(error).encode()));
        response.end(DONE);
    }

    private void finish(Usage usage, long cost, int status, String errorCode) {
        done = true;
        outcome.relayed(this);
        outcome.record(ex, served.attempt(), served.fallback(), usage, cost, status, errorCode, ttftNanos);
    }

    /**
     * The provider's counts if it sent them, else our estimate of what was delivered, marked as such:
     * of the output alone when the provider counted the input first, which is then its count.
     */
    private Usage usage() {
        ChunkStream stream = served.result().stream();
        Usage reported = stream.usage();
        if (reported != null) {
            return reported;
        }
        Usage input = stream.promptUsage();
        return (input != null ? input : new Usage(ex.request.prompt().countedOrEstimate(), 0, 0, 0, true))
            .withEstimatedCompletion(delivered.tokens());
    }

    private static JsonObject usageJson(Usage usage, long cost) {
        return usage.toOpenAi().put("cost", PriceCalculator.toUsd(cost));
    }

    /** Writes the chunk as one SSE event; its usage only if the client asked for it, with cost if given. */
    private void write(Chunk chunk, BigDecimal cost) {
        Buffer event = Buffer.buffer(512).appendBytes(DATA);
        chunk.writeTo(event, ex.request.includeUsage(), cost);
        response.write(event.appendBytes(EVENT_END));
        if (response.writeQueueFull()) {
            served.result().stream().pause();
        }
    }

    private static Buffer event(String text) {
        return Buffer.buffer(text).appendBytes(EVENT_END);
    }
}
