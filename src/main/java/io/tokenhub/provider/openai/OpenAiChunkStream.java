package io.tokenhub.provider.openai;

import io.tokenhub.core.Usage;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.HttpUpstream;
import io.tokenhub.provider.SseChunkStream;
import io.tokenhub.provider.UpstreamCall;
import io.tokenhub.provider.UpstreamException;
import io.tokenhub.provider.UpstreamException.Kind;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;

/** An OpenAI SSE body read incrementally: one chunk per {@code data:} event until {@code [DONE]}. */
final class OpenAiChunkStream extends SseChunkStream {

    private String reportedModel;
    private String label;
    private Usage usage;
    private boolean done;

    OpenAiChunkStream(HttpClientResponse response, HttpUpstream upstream, UpstreamCall call, Abort abort) {
        super(response, upstream, call, abort);
        this.label = providerId() + "/" + call.upstreamModel();
        listen();
    }

    @Override
    protected void onEvent(String event, String data) {
        if (data.equals("[DONE]")) {
            done = true;
            return;
        }
        JsonObject chunk;
        try {
            chunk = new JsonObject(data);
        } catch (DecodeException e) {
            fail(UpstreamException.of(providerId(), Kind.CONNECTION, "malformed chunk in the stream"));
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
        deliver(chunk);
    }

    private void relabel(JsonObject chunk) {
        Object model = chunk.getValue("model");
        if (model instanceof String m && !m.isEmpty() && !m.equals(reportedModel)) {
            reportedModel = m;
            label = providerId() + "/" + m;
        }
        chunk.put("model", label);
    }

    @Override
    protected void onBodyEnd() {
        if (done) {
            complete();
        } else {
            fail(UpstreamException.of(providerId(), Kind.CONNECTION, "the provider closed the stream before [DONE]"));
        }
    }

    @Override
    public Usage usage() {
        return usage;
    }
}
