package io.tokenhub.routing;

import io.tokenhub.config.TokenHubConfig.Deployment;
import io.tokenhub.config.TokenHubConfig.Model;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;

/**
 * The ordered candidates for one request: the requested model's deployments (best priority first,
 * weighted within a priority), then each of the request's {@code fallback_models}, then the model's
 * configured {@code fallbacks} unless the request pins a provider ({@code provider/model}). A
 * configured fallback the key may not use is left out (the request's own were refused with a 400
 * already). A deployment is tried at most once.
 */
public final class Route {

    private Route() {
    }

    /** @param allowed whether the key may use a model, by catalog id */
    public static List<Attempt> plan(Catalog catalog, Catalog.Target target, List<String> requestFallbacks,
                                     Predicate<String> allowed) {
        List<Attempt> attempts = new ArrayList<>();
        Set<String> seen = new LinkedHashSet<>();
        add(catalog, target, attempts, seen);
        for (String name : requestFallbacks) {
            catalog.resolve(name).ifPresent(t -> add(catalog, t, attempts, seen));
        }
        if (target.pinnedProvider() == null) {
            for (String name : target.model().fallbacks()) {
                catalog.resolve(name).filter(t -> allowed.test(t.model().id()))
                    .ifPresent(t -> add(catalog, t, attempts, seen));
            }
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
