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
