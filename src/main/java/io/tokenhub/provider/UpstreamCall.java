package io.tokenhub.provider;

import io.tokenhub.config.TokenHubConfig.Deployment;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;

/**
 * One call to one upstream deployment.
 *
 * @param body      the client's request body in OpenAI shape; adapters copy before changing it
 * @param raw       the body's bytes as the client sent them, or null: {@code body} differs from
 *                  them only by top-level fields TokenHub removed, so an adapter may relay them
 * @param maxTokens the output limit to send, already defaulted and checked against the catalog
 * @param clock     the request's time on upstreams, which the adapter marks as bytes go and come
 */
public record UpstreamCall(String requestId, JsonObject body, Buffer raw, Deployment deployment, int maxTokens,
                           UpstreamClock clock) {

    /** A call whose upstream time nobody reads, with no bytes to relay. */
    public UpstreamCall(String requestId, JsonObject body, Deployment deployment, int maxTokens) {
        this(requestId, body, null, deployment, maxTokens, new UpstreamClock());
    }

    public String upstreamModel() {
        return deployment.model();
    }
}
