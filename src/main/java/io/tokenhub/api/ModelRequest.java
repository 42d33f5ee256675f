package io.tokenhub.api;

import io.tokenhub.routing.Catalog.Target;
import io.vertx.core.json.JsonObject;
import java.util.List;

/**
 * A validated request for a model (chat, embeddings or rerank).
 *
 * @param body          the client's body, minus what TokenHub consumed; forwarded to the adapter
 * @param includeUsage  the client asked for the usage chunk at the end of the stream
 * @param maxTokens     the output limit, defaulted from the catalog
 * @param promptTokens  our tokenizer's estimate of the prompt
 */
record ModelRequest(JsonObject body, String requestedModel, Target target, boolean stream, boolean includeUsage,
                   int maxTokens, int promptTokens, List<String> fallbackModels) {
}
