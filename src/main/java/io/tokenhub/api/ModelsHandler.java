package io.tokenhub.api;

import io.tokenhub.auth.Authenticator;
import io.tokenhub.auth.KeyContext;
import io.tokenhub.config.TokenHubConfig.Model;
import io.tokenhub.core.ApiError.ModelNotFound;
import io.tokenhub.routing.CatalogHolder;
import io.tokenhub.routing.ModelCard;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

/** {@code GET /v1/models} and {@code /v1/models/{id}}: the catalog this key may use. */
final class ModelsHandler {

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
                catalog.get().models().stream().filter(m -> key.allows(m.id())).forEach(m -> data.add(ModelCard.of(m)));
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
                    json(ctx, ModelCard.of(model));
                }
            })
            .onFailure(failure -> ErrorWriter.write(ctx.response(), failure));
    }

    private Model visible(KeyContext key, String id) {
        return catalog.get().resolve(id).map(t -> t.model()).filter(m -> key.allows(m.id())).orElse(null);
    }

    private static void json(RoutingContext ctx, JsonObject body) {
        ctx.response().putHeader("Content-Type", Headers.JSON).end(body.toBuffer());
    }
}
