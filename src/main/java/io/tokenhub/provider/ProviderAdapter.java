package io.tokenhub.provider;

import io.vertx.core.Future;

/**
 * One upstream wire format. Adapters translate from and to the OpenAI shape at the edge of the
 * upstream call and fail with {@link UpstreamException} whenever the upstream did not answer well.
 */
public interface ProviderAdapter {
    // The Abort lets the caller cancel the upstream call at any point: before the response, or mid-stream.

    String providerId();

    Future<Completion> complete(UpstreamCall call, Abort abort);

    /** Completes once the upstream accepted the stream (status 200); see {@link ChunkStream}. */
    Future<ChunkStream> stream(UpstreamCall call, Abort abort);
}
