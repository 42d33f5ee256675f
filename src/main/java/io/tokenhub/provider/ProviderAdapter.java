package io.tokenhub.provider;

import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * One upstream wire format. Adapters translate from and to the OpenAI shape at the edge of the
 * upstream call and fail with {@link UpstreamException} whenever the upstream did not answer well.
 */
public interface ProviderAdapter {
    // The Abort lets the caller cancel the upstream call at any point: before the response, or mid-stream.

    String providerId();

    /** Extra tries on the same deployment after a provider failure, before moving on. */
    default int retries() {
        return 0;
    }

    Future<Completion> complete(UpstreamCall call, Abort abort);

    /** Completes once the upstream accepted the stream (status 200); see {@link ChunkStream}. */
    Future<ChunkStream> stream(UpstreamCall call, Abort abort);

    /** OpenAI embeddings: the body is OpenAI's {@code list} of embeddings, usage in prompt tokens. */
    default Future<Completion> embeddings(UpstreamCall call, Abort abort) {
        return unsupported("embeddings");
    }

    /**
     * Cohere/Jina rerank: {@code {results: [{index, relevance_score, document?}], usage}}; the
     * usage's prompt tokens are the provider's token count when it reports one.
     */
    default Future<Completion> rerank(UpstreamCall call, Abort abort) {
        return unsupported("rerank");
    }

    /**
     * The field of a chat request that asks for audio output ({@code audio}, or {@code modalities}
     * naming {@code audio}), or null: for the adapters whose models answer in text only.
     */
    static String audioOutputAsked(JsonObject request) {
        if (request.getValue("audio") != null) {
            return "audio";
        }
        return request.getValue("modalities") instanceof JsonArray modalities && modalities.contains("audio")
            ? "modalities" : null;
    }

    private Future<Completion> unsupported(String operation) {
        return Future.failedFuture(new UpstreamException(providerId(), UpstreamException.Kind.UNSUPPORTED, 400,
            "The provider '" + providerId() + "' does not serve " + operation + ".", 0, null));
    }
}
