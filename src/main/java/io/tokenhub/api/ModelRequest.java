package io.tokenhub.api;

import io.tokenhub.config.TokenHubConfig.Model;
import io.tokenhub.routing.Catalog.Target;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import java.util.List;

/**
 * A validated request for a model (chat, embeddings or rerank).
 *
 * @param body          the client's body, minus what TokenHub consumed; forwarded to the adapter
 * @param includeUsage  the client asked for the usage chunk at the end of the stream
 * @param maxTokens     the output limit of one choice, defaulted from the catalog
 * @param choices       how many choices ({@code n}) the model is asked for: each may use {@code maxTokens}
 * @param prompt        our estimate of the prompt, and the tokenizer's count on demand
 * @param fit           whether a fallback's model can take the request
 */
record ModelRequest(JsonObject body, String requestedModel, Target target, boolean stream, boolean includeUsage,
                   int maxTokens, int choices, PromptTokens prompt, List<String> fallbackModels, Fit fit) {

    /**
     * The checks the requested model passed, asked of a fallback's model before it is called. A
     * model that fails them is passed over rather than sent a request it would refuse, or answer
     * without the tools, images or room the caller counted on; the request stays good for the
     * models that can take it.
     */
    interface Fit {
        /** Completes when {@code model} can take the request; else fails with what it would have been refused for. */
        Future<Void> check(Model model);
    }

    /** The most output the request can produce, what reservations and TPM hold for it. */
    long outputBound() {
        return (long) maxTokens * choices;
    }
}
