package io.tokenhub.routing;

import io.tokenhub.config.TokenHubConfig;
import io.tokenhub.config.TokenHubConfig.Deployment;
import io.tokenhub.config.TokenHubConfig.Model;
import io.tokenhub.config.TokenHubConfig.Provider;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The models, providers and billing settings of one configuration, indexed for the request path.
 * Immutable: a reload builds a new catalog and swaps it in ({@link CatalogHolder}); requests in
 * flight keep theirs.
 */
public final class Catalog {

    /**
     * A requested model resolved: the catalog model, the provider it is pinned to (or null), and the
     * provider's model it is pinned to (or null: any of that provider's deployments of the model).
     */
    public record Target(Model model, String pinnedProvider, String pinnedModel) {
        public Target(Model model, String pinnedProvider) {
            this(model, pinnedProvider, null);
        }
    }

    /** A dated snapshot's suffix, as providers report a model they were asked for by its family name. */
    private static final Pattern SNAPSHOT = Pattern.compile("(.+)-(\\d{4}-\\d{2}-\\d{2}|\\d{8})");

    private final List<Model> models;
    private final TokenHubConfig.Billing billing;
    private final Map<String, Model> byName = new HashMap<>();
    private final Map<String, Provider> providers = new HashMap<>();
    /** {@code provider/provider's model} → the first catalog model deployed so: a response's label. */
    private final Map<String, Target> byLabel = new HashMap<>();

    private Catalog(TokenHubConfig config) {
        this.models = config.models();
        this.billing = config.billing();
        for (Model m : models) {
            byName.put(m.id(), m);
            m.aliases().forEach(alias -> byName.put(alias, m));
            for (Deployment d : m.deployments()) {
                byLabel.putIfAbsent(d.provider() + "/" + d.model(), new Target(m, d.provider(), d.model()));
            }
        }
        config.providers().forEach(p -> providers.put(p.id(), p));
    }

    public static Catalog of(TokenHubConfig config) {
        return new Catalog(config);
    }

    public List<Model> models() {
        return models;
    }

    /** The billing settings in force: the signup credit a new account gets. */
    public TokenHubConfig.Billing billing() {
        return billing;
    }

    public Optional<Model> model(String idOrAlias) {
        return Optional.ofNullable(byName.get(idOrAlias));
    }

    public java.util.Collection<Provider> providers() {
        return providers.values();
    }

    public Optional<Provider> provider(String id) {
        return Optional.ofNullable(providers.get(id));
    }

    /**
     * {@code id}, {@code alias} or {@code provider/id}; the pinned form resolves only when that
     * provider serves that model. Also the {@code model} a response carried,
     * {@code provider/provider's model} (perhaps a dated snapshot of it, {@code gpt-4o-2024-08-06}
     * for a deployment of {@code gpt-4o}): pinned to that deployment, so that a client can send
     * back, or look up, what it was answered with.
     */
    public Optional<Target> resolve(String requested) {
        Model direct = byName.get(requested);
        if (direct != null) {
            return Optional.of(new Target(direct, null));
        }
        int slash = requested.indexOf('/');
        if (slash <= 0) {
            return Optional.empty();
        }
        String provider = requested.substring(0, slash);
        Model model = byName.get(requested.substring(slash + 1));
        if (model == null) {
            return label(requested);
        }
        if (model.deployments().stream().noneMatch(d -> d.provider().equals(provider))) {
            // Perhaps a response's label whose provider's model is also a catalog id served elsewhere.
            return label(requested);
        }
        return Optional.of(new Target(model, provider));
    }

    private Optional<Target> label(String requested) {
        Target exact = byLabel.get(requested);
        if (exact != null) {
            return Optional.of(exact);
        }
        Matcher snapshot = SNAPSHOT.matcher(requested);
        return snapshot.matches() ? Optional.ofNullable(byLabel.get(snapshot.group(1))) : Optional.empty();
    }

    /**
     * The deployments to try, in order: best priority first, within one priority a weighted random
     * order, so traffic spreads by weight and each attempt after a failure goes elsewhere.
     */
    public List<Deployment> deployments(Target target) {
        List<Deployment> eligible = target.pinnedProvider() == null ? target.model().deployments()
            : target.model().deployments().stream().filter(d -> d.provider().equals(target.pinnedProvider())
                && (target.pinnedModel() == null || d.model().equals(target.pinnedModel()))).toList();
        if (eligible.size() <= 1) {
            return eligible;
        }
        ThreadLocalRandom random = ThreadLocalRandom.current();
        Map<Deployment, Double> rank = new HashMap<>();
        for (Deployment d : eligible) {
            // Efraimidis–Spirakis: u^(1/w) orders items as weighted sampling without replacement.
            double weight = Math.max(d.weight(), 1e-9);
            rank.put(d, Math.pow(random.nextDouble(), 1.0 / weight));
        }
        return eligible.stream()
            .sorted(Comparator.comparingInt(Deployment::priority)
                .thenComparing(d -> -rank.get(d)))
            .toList();
    }
}
