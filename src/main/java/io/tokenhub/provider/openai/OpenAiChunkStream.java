package io.tokenhub.provider.openai;

import io.tokenhub.core.Usage;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.Chunk;
import io.tokenhub.provider.HttpUpstream;
import io.tokenhub.provider.SseChunkStream;
import io.tokenhub.provider.UpstreamCall;
import io.tokenhub.provider.UpstreamException;
import io.tokenhub.provider.UpstreamException.Kind;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * An OpenAI SSE body read incrementally: one chunk per {@code data:} event until {@code [DONE]}. A
 * chunk that says the provider cut the answer short for want of resources ({@link ResourceShortage})
 * has what it generated delivered without its ending, and the stream fails at {@code [DONE]} rather
 * than completing, once the provider's counts that may follow it are in, so that what was delivered
 * is billed from them.
 */
final class OpenAiChunkStream extends SseChunkStream {

    private static final byte[] DONE = "[DONE]".getBytes(StandardCharsets.US_ASCII);

    private String reportedModel;
    private String label;
    /** The label as a JSON string, for chunks relayed as bytes; made again only when the label changes. */
    private Buffer quotedLabel;
    private Usage usage;
    private boolean done;
    /** Whether any chunk came before {@code [DONE]}. */
    private boolean answered;
    /** Set when the provider cut the answer short: from then on only its counts are read, nothing delivered. */
    private UpstreamException shortage;

    OpenAiChunkStream(HttpClientResponse response, HttpUpstream upstream, UpstreamCall call, Abort abort,
                      Dialect dialect) {
        super(response, upstream, call, abort, dialect != Dialect.DEEPSEEK);
        this.label = providerId() + "/" + call.upstreamModel();
        listen();
    }

    @Override
    protected void onEvent(String event, byte[] data) {
        if (Arrays.equals(data, DONE)) {
            done = true;
            if (shortage != null) {
                fail(shortage);
            } else if (!answered) {
                // [DONE] and nothing before it: no answer, as an empty body is none (a streaming audit
                // found it relayed as an empty 200, no fallback tried).
                fail(UpstreamException.of(providerId(), Kind.CONNECTION, "the provider ended the stream with no answer"));
            } else {
                completeBeforeBodyEnd();
            }
            return;
        }
        if ("error".equals(event)) {
            // An SSE error event (TGI's, vLLM's), whatever its data's shape.
            fail(upstream.streamError(errorOf(data)));
            return;
        }
        RelayedChunk relayed = RelayedChunk.scan(data);
        answered = true;
        if (relayed != null) {
            relabel(relayed.reportedModel());
            if (quotedLabel == null) {
                quotedLabel = JsonScan.quote(label);
            }
            relayed.label(quotedLabel);
            if (relayed.usage() != null) {
                usage = relayed.usage();
            }
            if (shortage == null) {
                deliver(relayed);
            }
            return;
        }
        // The whole parse: for chunks the byte-level relay does not take, errors among them.
        JsonObject chunk;
        try {
            chunk = new JsonObject(Buffer.buffer(data));
        } catch (DecodeException | ClassCastException e) {
            fail(UpstreamException.of(providerId(), Kind.CONNECTION, "malformed chunk in the stream"));
            return;
        }
        JsonObject error = OpenAiAdapter.errorIn(chunk);
        if (error != null) {
            fail(upstream.streamError(error));
            return;
        }
        // DashScope's own error shape, {code, message, request_id}, sent as a chunk.
        if (!chunk.containsKey("choices") && chunk.getValue("message") instanceof String && chunk.containsKey("code")) {
            fail(upstream.streamError(chunk));
            return;
        }
        relabel(chunk.getValue("model"));
        chunk.put("model", label);
        Usage counted = chunk.getValue("usage") instanceof JsonObject u ? Usage.fromOpenAi(u) : null;
        if (counted != null) {
            usage = counted;
        }
        if (shortage != null) {
            return;
        }
        if (ResourceShortage.clearFrom(chunk.getValue("choices"))) {
            shortage = ResourceShortage.failure(providerId());
        }
        ReasoningField.rename(chunk.getValue("choices"), "delta");
        deliver(Chunk.of(chunk));
    }

    /** An error event's data as an error object: its {@code error} object, itself, or its text as the message. */
    private static JsonObject errorOf(byte[] data) {
        try {
            JsonObject json = new JsonObject(Buffer.buffer(data));
            JsonObject error = OpenAiAdapter.errorIn(json);
            return error != null ? error : json;
        } catch (DecodeException | ClassCastException e) {
            return new JsonObject().put("message", new String(data, StandardCharsets.UTF_8));
        }
    }

    /** Follows the model the provider names in its chunks (a dated snapshot for an alias, say). */
    private void relabel(Object model) {
        if (model instanceof String m && !m.isEmpty() && !m.equals(reportedModel)) {
            reportedModel = m;
            label = providerId() + "/" + m;
            quotedLabel = null;
        }
    }

    @Override
    protected void onWholeJson(Buffer body) {
        JsonObject error;
        try {
            error = OpenAiAdapter.errorIn(body.toJsonObject());
        } catch (DecodeException | ClassCastException e) {
            error = null;
        }
        if (error != null) {
            fail(upstream.answerError(error));
        } else {
            super.onWholeJson(body);
        }
    }

    @Override
    protected void onBodyEnd() {
        if (shortage != null) {
            fail(shortage);
        } else if (done) {
            complete();
        } else {
            fail(UpstreamException.of(providerId(), Kind.CONNECTION, "the provider closed the stream before [DONE]"));
        }
    }

    @Override
    public Usage usage() {
        return usage;
    }

    @Override
    public String label() {
        return label;
    }
}
