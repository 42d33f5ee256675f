package io.tokenhub.api;

import io.tokenhub.routing.Catalog.Target;
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
 */
record ModelRequest(JsonObject body, String requestedModel, Target target, boolean stream, boolean includeUsage,
                   int maxTokens, int choices, PromptTokens prompt, List<String> fallbackModels) {

    /** The most output the request can produce, what reservations and TPM hold for it. */
    long outputBound() {
        return (long) maxTokens * choices;
    }
}
