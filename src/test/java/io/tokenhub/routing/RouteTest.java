package io.tokenhub.routing;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.config.ConfigLoader;
import io.tokenhub.config.TokenHubConfig;
import java.util.List;
import org.junit.jupiter.api.Test;

class RouteTest {

    private final Catalog catalog = Catalog.of(new ConfigLoader(name -> null).parse("""
        providers:
          - { id: a, type: mock }
          - { id: b, type: mock }
          - { id: c, type: mock }
        models:
          - id: big
            aliases: [large]
            deployments:
              - { provider: a, model: big-a, priority: 1 }
              - { provider: b, model: big-b, priority: 0 }
            fallbacks: [small]
          - id: small
            deployments: [ { provider: c, model: small-c } ]
          - id: other
            deployments: [ { provider: c, model: other-c } ]
        """, "test"));

    @Test
    void deploymentsGoByPriorityThenRequestFallbacksThenConfiguredFallbacks() {
        List<Attempt> plan = Route.plan(catalog, catalog.resolve("large").orElseThrow(), List.of("other"), id -> true);

        assertThat(plan).extracting(a -> a.deployment().model()).containsExactly("big-b", "big-a", "other-c", "small-c");
    }

    @Test
    void pinnedProviderKeepsOnlyItsDeploymentAndTheRequestsOwnFallbacks() {
        Catalog.Target target = catalog.resolve("a/big").orElseThrow();

        assertThat(Route.plan(catalog, target, List.of(), id -> true)).extracting(a -> a.deployment().model())
            .containsExactly("big-a");
        assertThat(Route.plan(catalog, target, List.of("other"), id -> true)).extracting(a -> a.deployment().model())
            .containsExactly("big-a", "other-c");
        assertThat(catalog.resolve("c/big")).isEmpty();
        assertThat(catalog.resolve("nobody/big")).isEmpty();
    }

    @Test
    void theModelAResponseCarriedResolvesToItsDeploymentAlsoAsADatedSnapshot() {
        Catalog labelled = Catalog.of(new ConfigLoader(name -> null).parse("""
            providers: [ { id: a, type: mock }, { id: or, type: mock } ]
            models:
              - id: m
                deployments:
                  - { provider: a, model: gpt-4o }
                  - { provider: a, model: gpt-4o-mini }
              - id: llama
                deployments: [ { provider: or, model: meta-llama/llama-3-70b } ]
            """, "test"));

        // provider/provider's model, as responses label themselves: pinned to that deployment
        Catalog.Target mini = labelled.resolve("a/gpt-4o-mini").orElseThrow();
        assertThat(mini.model().id()).isEqualTo("m");
        assertThat(labelled.deployments(mini)).extracting(d -> d.model()).containsExactly("gpt-4o-mini");
        // a dated snapshot, as the provider reports the model it was asked for by its family name
        assertThat(labelled.deployments(labelled.resolve("a/gpt-4o-2024-08-06").orElseThrow()))
            .extracting(d -> d.model()).containsExactly("gpt-4o");
        assertThat(labelled.resolve("a/gpt-4o-mini-20240718").orElseThrow().pinnedModel()).isEqualTo("gpt-4o-mini");
        // a provider's model with a slash in it
        assertThat(labelled.resolve("or/meta-llama/llama-3-70b").orElseThrow().model().id()).isEqualTo("llama");
        // a label whose provider's model is also a catalog id that another provider serves
        Catalog shared = Catalog.of(new ConfigLoader(name -> null).parse("""
            providers: [ { id: openai, type: mock }, { id: azure, type: mock } ]
            models:
              - id: gpt-4o
                deployments: [ { provider: openai, model: gpt-4o } ]
              - id: gpt-4o-eu
                deployments: [ { provider: azure, model: gpt-4o } ]
            """, "test"));
        assertThat(shared.resolve("azure/gpt-4o").orElseThrow().model().id()).isEqualTo("gpt-4o-eu");
        assertThat(shared.resolve("openai/gpt-4o").orElseThrow().model().id()).isEqualTo("gpt-4o");
        // and nothing else
        assertThat(labelled.resolve("a/gpt-5")).isEmpty();
        assertThat(labelled.resolve("or/gpt-4o")).isEmpty();
        assertThat(labelled.resolve("a/gpt-4o-latest")).isEmpty();
    }

    @Test
    void aConfiguredFallbackTheKeyMayNotUseIsLeftOut() {
        List<Attempt> plan = Route.plan(catalog, catalog.resolve("big").orElseThrow(), List.of(), id -> !id.equals("small"));

        assertThat(plan).extracting(a -> a.deployment().model()).containsExactly("big-b", "big-a");
    }

    @Test
    void aDeploymentIsNeverTriedTwice() {
        List<Attempt> plan = Route.plan(catalog, catalog.resolve("big").orElseThrow(), List.of("small", "big"), id -> true);

        assertThat(plan).extracting(a -> a.deployment().model()).containsExactly("big-b", "big-a", "small-c");
    }

    @Test
    void weightsSpreadTrafficWithinOnePriority() {
        Catalog weighted = Catalog.of(new ConfigLoader(name -> null).parse("""
            providers: [ { id: a, type: mock }, { id: b, type: mock } ]
            models:
              - id: m
                deployments:
                  - { provider: a, model: heavy, weight: 9 }
                  - { provider: b, model: light, weight: 1 }
            """, "test"));
        int heavyFirst = 0;
        for (int i = 0; i < 2000; i++) {
            if (weighted.deployments(weighted.resolve("m").orElseThrow()).get(0).model().equals("heavy")) {
                heavyFirst++;
            }
        }
        // Expected 1800; the bound is many standard deviations (about 13) away from both 1800 and 1000.
        assertThat(heavyFirst).isBetween(1650, 1950);
    }

    @Test
    void unknownKeysOfTheCatalogAreNotResolved() {
        assertThat(catalog.resolve("nope")).isEmpty();
        assertThat(catalog.resolve("/big")).isEmpty();
        TokenHubConfig.Model big = catalog.model("big").orElseThrow();
        assertThat(big.aliases()).containsExactly("large");
    }
}
