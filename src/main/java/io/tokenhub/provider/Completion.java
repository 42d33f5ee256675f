package io.tokenhub.provider;

import io.tokenhub.core.Usage;
import io.vertx.core.json.JsonObject;

/**
 * A finished non-streaming answer in OpenAI {@code chat.completion} shape, its {@code model}
 * already {@code provider/upstream-model}.
 */
public record Completion(JsonObject body, Usage usage) {
}
