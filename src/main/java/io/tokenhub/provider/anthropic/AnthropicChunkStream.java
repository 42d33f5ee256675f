package io.tokenhub.provider.anthropic;

import io.tokenhub.core.Usage;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.Chunk;
import io.tokenhub.provider.HttpUpstream;
import io.tokenhub.provider.SseChunkStream;
import io.tokenhub.provider.UpstreamCall;
import io.tokenhub.provider.UpstreamException;
import io.tokenhub.provider.UpstreamException.Kind;
import io.tokenhub.provider.anthropic.AnthropicResponses.ErrorInfo;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.util.List;

/**
 * An Anthropic Messages SSE body read incrementally and handed on as OpenAI chunks. The stream is
 * complete at {@code message_stop}: a body that ends earlier was cut off, whatever the last chunk
 * looked like.
 */
final class AnthropicChunkStream extends SseChunkStream {

    private final AnthropicStreamTranslator translator;
    private String label;

    AnthropicChunkStream(HttpClientResponse response, HttpUpstream upstream, UpstreamCall call, Abort abort) {
        super(response, upstream, call, abort);
        this.label = providerId() + "/" + call.upstreamModel();
        this.translator = new AnthropicStreamTranslator(label, "chatcmpl-" + call.requestId(),
            System.currentTimeMillis() / 1000);
        listen();
    }

    @Override
    protected void onEvent(String event, byte[] data) {
        List<JsonObject> chunks;
        try {
            JsonObject payload = new JsonObject(Buffer.buffer(data));
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
            deliver(Chunk.of(chunk.put("model", label))); // nothing once a chunk handler has cancelled the stream
        }
        if (translator.finished()) {
            // message_stop ends the answer, as [DONE] does OpenAI's: a body kept open after it is let
            // go, not waited on. Before, it turned a whole answer into a timeout (an audit, 2026-12-07).
            JsonObject usageChunk = translator.usageChunk();
            if (usageChunk != null) {
                deliver(Chunk.of(usageChunk.put("model", label)));
            }
            completeBeforeBodyEnd();
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
        String message = upstream.scrub(info.message());
        JsonObject openAi = new JsonObject().put("message", message).put("type", info.type())
            .put("code", info.code());
        return new UpstreamException(providerId(), Kind.SERVER_ERROR, info.status() >= 500 ? info.status() : 500,
            "error event in the stream: " + type + ": " + message, 0, openAi);
    }

    /** The body ended before {@code message_stop}: it was cut off, whatever the last chunk looked like. */
    @Override
    protected void onBodyEnd() {
        fail(UpstreamException.of(providerId(), Kind.CONNECTION, "the provider closed the stream before message_stop"));
    }

    @Override
    public Usage usage() {
        return Usage.fromOpenAi(translator.usage());
    }

    @Override
    public Usage promptUsage() {
        return Usage.fromOpenAi(translator.promptUsage());
    }

    @Override
    public String label() {
        return label;
    }
}
