package io.tokenhub.routing;

import io.tokenhub.config.TokenHubConfig.Deployment;
import io.tokenhub.config.TokenHubConfig.Model;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The ordered candidates for one request: the requested model's deployments (best priority first,
 * weighted within a priority), then each of the request's {@code fallback_models}, then the model's
 * configured {@code fallbacks}. A deployment is tried at most once.
 */
public final class Route {

    private Route() {
    }

    public static List<Attempt> plan(Catalog catalog, Catalog.Target target, List<String> requestFallbacks) {
        List<Attempt> attempts = new ArrayList<>();
        Set<String> seen = new LinkedHashSet<>();
        add(catalog, target, attempts, seen);
        for (String name : requestFallbacks) {
            catalog.resolve(name).ifPresent(t -> add(catalog, t, attempts, seen));
        }
        for (String name : target.model().fallbacks()) {
            catalog.resolve(name).ifPresent(t -> add(catalog, t, attempts, seen));
        }
        return attempts;
    }

    private static void add(Catalog catalog, Catalog.Target target, List<Attempt> attempts, Set<String> seen) {
        Model model = target.model();
        for (Deployment d : catalog.deployments(target)) {
            if (seen.add(model.id() + "|" + d.provider() + "|" + d.model())) {
                attempts.add(new Attempt(model, d));
            }
        }
    }
}
