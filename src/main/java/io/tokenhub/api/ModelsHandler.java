package io.tokenhub.api;

import io.tokenhub.auth.Authenticator;
import io.tokenhub.auth.KeyContext;
import io.tokenhub.config.TokenHubConfig.Model;
import io.tokenhub.config.TokenHubConfig.Pricing;
import io.tokenhub.core.ApiError.ModelNotFound;
import io.tokenhub.routing.CatalogHolder;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

/** {@code GET /v1/models} and {@code /v1/models/{id}}: the catalog this key may use. */
final class ModelsHandler {

    /** The catalog has no creation date; a fixed one keeps the OpenAI shape without pretending. */
    private static final long CREATED = 1_700_000_000L;

    private final Authenticator auth;
    private final CatalogHolder catalog;

    ModelsHandler(Authenticator auth, CatalogHolder catalog) {
        this.auth = auth;
        this.catalog = catalog;
    }

    void list(RoutingContext ctx) {
        auth.authenticate(ctx.request().getHeader("Authorization"))
            .onSuccess(key -> {
                JsonArray data = new JsonArray();
                catalog.get().models().stream().filter(m -> key.allows(m.id())).forEach(m -> data.add(describe(m)));
                json(ctx, new JsonObject().put("object", "list").put("data", data));
            })
            .onFailure(failure -> ErrorWriter.write(ctx.response(), failure));
    }

    void get(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        auth.authenticate(ctx.request().getHeader("Authorization"))
            .onSuccess(key -> {
                Model model = visible(key, id);
                if (model == null) {
                    ErrorWriter.write(ctx.response(), new ModelNotFound(id));
                } else {
                    json(ctx, describe(model));
                }
            })
            .onFailure(failure -> ErrorWriter.write(ctx.response(), failure));
    }

    private Model visible(KeyContext key, String id) {
        return catalog.get().resolve(id).map(t -> t.model()).filter(m -> key.allows(m.id())).orElse(null);
    }

    static JsonObject describe(Model m) {
        Pricing p = m.pricing();
        JsonObject pricing = m.type().equals("rerank")
            ? new JsonObject().put("per_search", p.perSearch())
            : new JsonObject().put("input", p.input()).put("cached_input", p.cachedInput())
                .put("cache_write", p.cacheWrite()).put("output", p.output()).put("unit", "USD per 1M tokens");
        return new JsonObject()
            .put("id", m.id())
            .put("object", "model")
            .put("created", CREATED)
            .put("owned_by", m.deployments().get(0).provider())
            .put("type", m.type())
            .put("aliases", new JsonArray(m.aliases()))
            .put("context_window", m.contextWindow())
            .put("max_output_tokens", m.maxOutputTokens())
            .put("capabilities", new JsonArray(m.capabilities().stream().sorted().toList()))
            .put("pricing", pricing)
            .put("limits", new JsonObject().put("rpm", unlessUnlimited(m.limits().rpm()))
                .put("tpm", unlessUnlimited(m.limits().tpm())));
    }

    /** No limit is null, as on keys: a 0 would read as "nothing allowed". */
    private static Long unlessUnlimited(long limit) {
        return limit > 0 ? limit : null;
    }

    private static void json(RoutingContext ctx, JsonObject body) {
        ctx.response().putHeader("Content-Type", Headers.JSON).end(body.toBuffer());
    }
}
