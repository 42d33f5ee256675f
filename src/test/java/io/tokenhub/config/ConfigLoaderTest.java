package io.tokenhub.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ConfigLoaderTest {

    private static final String MINIMAL = """
        providers:
          - { id: mock, type: mock }
        models:
          - id: m
            deployments: [ { provider: mock, model: m1 } ]
        """;

    @Test
    void shippedConfigurationLoadsWithItsEmbeddedDefaults() {
        TokenHubConfig config = new ConfigLoader(name -> null).load(Path.of("conf/tokenhub.yaml"));

        assertThat(config.storage().embeddedPostgres()).isTrue();
        assertThat(config.storage().redis()).isEqualTo("none");
        assertThat(config.server().port()).isEqualTo(8080);
        assertThat(config.models()).extracting(TokenHubConfig.Model::id).contains("mock-chat", "gpt-4o-mini");
        assertThat(config.billing().signupCreditMicroUsd()).isEqualTo(1_000_000);
    }

    @Test
    void variablesAreExpandedWithDefaultsInValuesButNotInComments() {
        ConfigLoader loader = new ConfigLoader(Map.of("PORT", "9999", "KEY", "sk-secret")::get);

        TokenHubConfig config = loader.parse("""
            # ${NOT_SET} in a comment is fine
            server: { port: "${PORT}", management_port: "${MGMT:-9191}" }
            providers:
              - { id: openai, type: openai, base_url: "https://api.example.com/v1", api_key: "${KEY}" }
            models:
              - id: m
                deployments: [ { provider: openai, model: gpt } ]
            """, "test");

        assertThat(config.server().port()).isEqualTo(9999);
        assertThat(config.server().managementPort()).isEqualTo(9191);
        assertThat(config.providers().get(0).apiKey()).isEqualTo("sk-secret");
        assertThat(config.providers().get(0).toString()).doesNotContain("sk-secret");
    }

    @Test
    void providersSpeakHttp11UnlessHttp2IsAskedFor() {
        TokenHubConfig config = new ConfigLoader(name -> null).parse("""
            providers:
              - { id: plain, type: openai, base_url: "https://a.example.com/v1" }
              - { id: multiplexed, type: openai, base_url: "https://b.example.com/v1", http2: true }
            models:
              - id: m
                deployments: [ { provider: plain, model: a }, { provider: multiplexed, model: b } ]
            """, "test");

        assertThat(config.providers()).extracting(TokenHubConfig.Provider::http2).containsExactly(false, true);
    }

    @Test
    void everyProblemIsReportedOnItsOwnLine() {
        ConfigLoader loader = new ConfigLoader(name -> null);

        assertThatThrownBy(() -> loader.parse("""
            server: { port: 70000, colour: blue }
            storage: { postgres: "mysql://x" }
            providers:
              - { id: openai, type: openai }
              - { id: weird, type: banana, base_url: "http://x" }
            models:
              - id: m
                deployments: [ { provider: nowhere, model: x } ]
              - id: m
                aliases: [ a ]
                deployments: [ { provider: openai, model: y } ]
                fallbacks: [ ghost ]
              - id: other
                aliases: [ a ]
                api_key: "${MISSING}"
                deployments: [ { provider: openai, model: z } ]
            """, "test"))
            .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactlyInAnyOrder(
                "${MISSING} is not set and has no default (write ${MISSING:-default})",
                "server.port: must be between 0 and 65535, not 70000",
                "server.colour: unknown key",
                "storage.postgres: must be 'embedded' or a postgresql:// URL",
                "providers[0].base_url: is required for a provider of type openai",
                "providers[1].type: unknown provider type 'banana' (one of anthropic, mock, openai)",
                "models[2].api_key: unknown key",
                "models[0].deployments[0].provider: unknown provider 'nowhere'",
                "models[1].id: duplicate model id 'm' (already used at models[0].id)",
                "models[2].aliases: duplicate alias 'a' (already used at models[1].aliases)",
                "models[1].fallbacks: unknown model 'ghost'"));
    }

    @Test
    void pricingDefaultsCachedAndCacheWriteToTheInputPrice() {
        TokenHubConfig config = new ConfigLoader(name -> null).parse(MINIMAL.replace(
            "id: m\n", "id: m\n    pricing: { input: 2.5, output: 10 }\n"), "test");

        TokenHubConfig.Pricing pricing = config.models().get(0).pricing();
        assertThat(pricing.cachedInput()).isEqualTo(2.5);
        assertThat(pricing.cacheWrite()).isEqualTo(2.5);
        assertThat(pricing.output()).isEqualTo(10);
    }

    @Test
    void aPriceThatCannotBeChargedExactlyIsRefusedRatherThanRounded() {
        ConfigLoader loader = new ConfigLoader(name -> null);

        assertThat(loader.parse(MINIMAL.replace("id: m\n",
            "id: m\n    pricing: { input: 0.123456, output: 10000 }\n"), "test").models().get(0).pricing().input())
            .isEqualTo(0.123456);
        assertThatThrownBy(() -> loader.parse(MINIMAL.replace("id: m\n",
            "id: m\n    pricing: { input: 0.0000001, cache_write: 3.1234567, output: 10001 }\n"), "test"))
            .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactlyInAnyOrder(
                "models[0].pricing.input: must have at most 6 decimals and be at most 10000, not 0.0000001",
                "models[0].pricing.cache_write: must have at most 6 decimals and be at most 10000, not 3.1234567",
                "models[0].pricing.output: must have at most 6 decimals and be at most 10000, not 10001"));
    }

    @Test
    void locateHonoursTheFlagThenTheEnvironment() {
        assertThat(ConfigLoader.locate(new String[] {"--config", "a.yaml"}, name -> "b.yaml")).isEqualTo(Path.of("a.yaml"));
        assertThat(ConfigLoader.locate(new String[0], Map.of("TOKENHUB_CONFIG", "b.yaml")::get)).isEqualTo(Path.of("b.yaml"));
        assertThat(ConfigLoader.locate(new String[0], name -> null)).isEqualTo(Path.of("conf/tokenhub.yaml"));
    }
}
