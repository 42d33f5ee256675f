package io.tokenhub.routing;

import io.tokenhub.config.TokenHubConfig.Model;
import io.tokenhub.config.TokenHubConfig.Pricing;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * A catalog model as clients see it: the OpenAI model object plus context window, output limit,
 * capabilities, prices and limits ({@code /v1/models} and the console's catalog).
 */
public final class ModelCard {

    /** The catalog has no creation date; a fixed one keeps the OpenAI shape without pretending. */
    private static final long CREATED = 1_700_000_000L;

    private ModelCard() {
    }

    public static JsonObject of(Model m) {
        // Only a chat model writes output: the others' cards have no output limit.
        return new JsonObject()
            .put("id", m.id())
            .put("object", "model")
            .put("created", CREATED)
            .put("owned_by", m.deployments().get(0).provider())
            .put("type", m.type())
            .put("aliases", new JsonArray(m.aliases()))
            .put("context_window", m.contextWindow())
            .put("max_output_tokens", m.type().equals("chat") ? m.maxOutputTokens() : null)
            .put("capabilities", new JsonArray(m.capabilities().stream().sorted().toList()))
            .put("pricing", pricing(m))
            .put("limits", new JsonObject().put("rpm", unlessUnlimited(m.limits().rpm()))
                .put("tpm", unlessUnlimited(m.limits().tpm())));
    }

    /**
     * The prices a model of its type is charged by: per search (and per input token, when a rerank
     * model has that price too), per input token, or the chat model's four.
     */
    private static JsonObject pricing(Model m) {
        Pricing p = m.pricing();
        return switch (m.type()) {
            case "rerank" -> p.input() == 0 ? new JsonObject().put("per_search", p.perSearch())
                : new JsonObject().put("per_search", p.perSearch()).put("input", p.input())
                    .put("unit", "USD per search; input: USD per 1M tokens");
            case "chat" -> new JsonObject().put("input", p.input()).put("cached_input", p.cachedInput())
                .put("cache_write", p.cacheWrite()).put("output", p.output()).put("unit", "USD per 1M tokens");
            default -> new JsonObject().put("input", p.input()).put("unit", "USD per 1M tokens");
        };
    }

    /** No limit is null, as on keys: a 0 would read as "nothing allowed". */
    private static Long unlessUnlimited(long limit) {
        return limit > 0 ? limit : null;
    }

}
