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
        assertThat(config.accounting().journal()).isTrue();
        TokenHubConfig without = new ConfigLoader(name -> null).parse("accounting: { journal: false }", "test");
        assertThat(without.accounting().journal()).isFalse();
    }

    @Test
    void aKeyGivenTwiceIsAProblemNotTheLaterSilentlyWinning() {
        assertThatThrownBy(() -> new ConfigLoader(name -> null).parse(MINIMAL + """
            models:
              - id: other
                deployments: [ { provider: mock, model: m2 } ]
            """, "test")).isInstanceOf(ConfigException.class).hasMessageContaining("models")
            .hasMessageContaining("line 6");
    }

    @Test
    void aFractionOrAnOverflowWhereAWholeNumberIsExpectedIsAProblem() {
        assertThatThrownBy(() -> new ConfigLoader(name -> null).parse(MINIMAL.replace("{ id: mock, type: mock }",
            "{ id: mock, type: mock, retries: 1.7, timeouts: { connect_ms: 99999999999999999999 } }"), "test"))
            .isInstanceOf(ConfigException.class)
            .hasMessageContaining("retries: must be a whole number, not '1.7'")
            .hasMessageContaining("connect_ms: must be a whole number");
        // 2.0 is a whole number written so
        assertThat(new ConfigLoader(name -> null).parse(MINIMAL.replace("{ id: mock, type: mock }",
            "{ id: mock, type: mock, retries: 2.0 }"), "test").providers().get(0).retries()).isEqualTo(2);
    }

    @Test
    void aChatModelsDefaultOutputLimitLeavesRoomForAPromptInItsWindow() {
        // Given a small window and no output limits: the default leaves half the window for the prompt
        TokenHubConfig small = new ConfigLoader(name -> null).parse(MINIMAL.replace("- id: m",
            "- id: m\n    context_window: 4096"), "test");
        assertThat(small.models().get(0).defaultMaxTokens()).isEqualTo(2048);
        assertThat(small.models().get(0).maxOutputTokens()).isEqualTo(4096);

        // A default or an output limit that fills the window is a problem, named
        assertThatThrownBy(() -> new ConfigLoader(name -> null).parse(MINIMAL.replace("- id: m",
            "- id: m\n    context_window: 4096\n    default_max_tokens: 4096"), "test"))
            .isInstanceOf(ConfigException.class).hasMessageContaining("default_max_tokens: (4096) leaves no room");
        assertThatThrownBy(() -> new ConfigLoader(name -> null).parse(MINIMAL.replace("- id: m",
            "- id: m\n    context_window: 1000\n    max_output_tokens: 5000\n    default_max_tokens: 100"), "test"))
            .isInstanceOf(ConfigException.class).hasMessageContaining("max_output_tokens: (5000) exceeds context_window");
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
    void aVariableAsAWholeValueOfAFlowMappingNeedsNoQuotes() {
        ConfigLoader loader = new ConfigLoader(Map.of("PORT", "9999", "RPM", "77")::get);

        TokenHubConfig config = loader.parse("""
            server: { port: ${PORT}, management_port: ${MGMT:-9191} }   # ${IN_A_COMMENT}
            providers:
              - { id: openai, type: openai, base_url: "https://x.example/v1?a=${PORT}", api_key: 'k:${NONE}' }
            models:
              - id: m
                limits: { rpm: ${RPM}, tpm: ${TPM:-1000} }
                deployments: [ { provider: openai, model: gpt } ]
            """, "test");

        assertThat(config.server().port()).isEqualTo(9999);
        assertThat(config.server().managementPort()).isEqualTo(9191);
        assertThat(config.models().get(0).limits().rpm()).isEqualTo(77);
        assertThat(config.models().get(0).limits().tpm()).isEqualTo(1000);
        assertThat(config.providers().get(0).baseUrl()).isEqualTo("https://x.example/v1?a=9999");
        assertThat(config.providers().get(0).apiKey()).isEqualTo("k:");
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
                "server.port: must be between 0 and 65535, not 70000",
                "storage.postgres: must be 'embedded' or a postgresql:// URL",
                "providers[0].base_url: is required for a provider of type openai",
                "providers[1].type: unknown provider type 'banana' (one of anthropic, mock, openai)",
                "models[0].deployments[0].provider: unknown provider 'nowhere'",
                "models[1].id: duplicate model id 'm' (already used at models[0].id)",
                "models[2].aliases: duplicate alias 'a' (already used at models[1].aliases)"));
    }

    @Test
    void aDeploymentsThinkingModeIsAnAnthropicOneByName() {
        ConfigLoader loader = new ConfigLoader(name -> null);
        String config = """
            providers:
              - { id: claude, type: anthropic, base_url: "http://x", prompt_caching: automatic }
              - { id: openai, type: openai, base_url: "http://y" }
            models:
              - id: m
                deployments:
                  - { provider: claude, model: internal-name, thinking: %s }
                  - { provider: openai, model: y, thinking: adaptive }
            """;

        assertThatThrownBy(() -> loader.parse(config.formatted("sometimes"), "test"))
            .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactlyInAnyOrder(
                "models[0].deployments[0].thinking: unknown thinking mode 'sometimes' (one of adaptive, "
                    + "adaptive_only, budget)",
                "models[0].deployments[1].thinking: applies to deployments at anthropic providers only"));
        assertThatThrownBy(() -> loader.parse(config.formatted("budget").replace("type: openai,",
            "type: openai, prompt_caching: automatic,").replace("prompt_caching: automatic }", "prompt_caching: always }"),
            "test"))
            .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).contains(
                "providers[0].prompt_caching: must be 'explicit' or 'automatic', not 'always'",
                "providers[1].prompt_caching: applies to providers of type anthropic only"));
        assertThatThrownBy(() -> loader.parse(config.formatted("budget"), "test"))
            .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactly(
                "models[0].deployments[1].thinking: applies to deployments at anthropic providers only"));
        TokenHubConfig loaded = loader.parse(config.formatted("budget").replace(", thinking: adaptive", ""), "test");
        assertThat(loaded.models().get(0).deployments().get(0).thinking()).isEqualTo("budget");
        assertThat(loaded.providers().get(0).cacheAutomatically()).isTrue();
        assertThat(loaded.providers().get(1).cacheAutomatically()).isFalse();
    }

    @Test
    void yamlThatDoesNotParseIsReportedWithItsLine() {
        ConfigLoader loader = new ConfigLoader(name -> null);

        assertThatThrownBy(() -> loader.parse("server:\n  port: 8080\n   stray: [\n", "test"))
            .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).singleElement()
                .asString().startsWith("not valid YAML (line 3): "));
    }

    @Test
    void whatTheGatewayCanStartWithIsAWarningNotAProblem() {
        ConfigLoader loader = new ConfigLoader(name -> null);

        TokenHubConfig config = loader.parse("""
            server: { colour: blue, max_body_bytes: 100 }
            admin: { master_key: short-key }
            storage: { postgres: "postgresql://db/tokenhub", redis: none }
            cluster: { enabled: true }
            billing: { signup_credit: 2.5 }
            providers:
              - { id: openai, type: openai, base_url: "http://x", api_key: "${MISSING}" }
            models:
              - id: gpt-4o-mini
                deployments: [ { provider: openai, model: gpt-4o-mini } ]
                fallbacks: [ deepseek-chat ]
                api_key: nope
            """, "test");

        assertThat(config.server().maxBodyBytes()).isEqualTo(100);
        assertThat(config.admin().masterKey()).isEqualTo("short-key");
        assertThat(config.billing().signupCreditMicroUsd()).isEqualTo(2_500_000);
        assertThat(config.providers().get(0).apiKey()).isEmpty();
        assertThat(loader.warnings()).containsExactlyInAnyOrder(
            "${MISSING} is not set and has no default: read as empty (write ${MISSING:-default})",
            "providers[0].api_key: is empty: the provider is called without credentials",
            "storage.postgres: names no user (postgresql://USER:PASSWORD@HOST:5432/DATABASE): the client connects "
                + "as 'user'",
            "server.colour: unknown key, ignored",
            "admin.master_key: shorter than 16 characters, easy to guess: use a long random key outside of tests",
            "models[0].api_key: unknown key, ignored",
            "models[0].fallbacks: unknown model 'deepseek-chat', skipped",
            "cluster.enabled: without storage.redis each node keeps its own quota counters, so the cluster may"
                + " overdraw a wallet by up to a balance per node; rate limits are shared all the same");
    }

    @Test
    void withoutABillingSectionANewAccountGetsTheDocumentsDollarAndProvidersDoNotRetry() {
        TokenHubConfig config = new ConfigLoader(name -> null).parse("""
            providers: [ { id: local, type: mock } ]
            models: [ { id: m, deployments: [ { provider: local, model: m } ] } ]
            """, "test");

        assertThat(config.billing().signupCreditMicroUsd()).isEqualTo(1_000_000);
        assertThat(config.billing().nodeShare()).isEqualTo(0.1);
        assertThat(config.providers().get(0).retries()).isZero();
    }

    @Test
    void aNodesShareOfAnAccountIsAFractionOfAtMostAHalf() {
        ConfigLoader loader = new ConfigLoader(name -> null);
        String config = """
            billing: { node_share: %s }
            providers: [ { id: local, type: mock } ]
            models: [ { id: m, deployments: [ { provider: local, model: m } ] } ]
            """;

        assertThat(loader.parse(config.formatted("0"), "test").billing().nodeShare()).isZero();
        assertThat(loader.parse(config.formatted("0.25"), "test").billing().nodeShare()).isEqualTo(0.25);
        assertThatThrownBy(() -> loader.parse(config.formatted("0.6"), "test"))
            .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactly(
                "billing.node_share: must be at most 0.5 (a fraction of what an account has left), not 0.6"));
    }

    @Test
    void theShapeOfTheProductDocumentLoadsAsItIs() {
        TokenHubConfig config = new ConfigLoader(name -> null).parse("""
            server:   { port: 8080, management_port: 9090, instances: 0, max_body_bytes: 10485760 }
            admin:    { master_key: "${TOKENHUB_MASTER_KEY:-}" }
            storage:
              postgres: "${TOKENHUB_PG_URL:-embedded}"
              redis:    "${TOKENHUB_REDIS_URL:-none}"
            cluster:  { enabled: false, config: cluster.xml }
            billing:  { signup_credit_usd: 1.00 }
            providers:
              - id: openai
                type: openai
                base_url: https://api.openai.com/v1
                api_key: "${OPENAI_API_KEY:-}"
                timeouts: { connect_ms: 5000, first_byte_ms: 60000, idle_ms: 60000 }
                circuit_breaker: { max_failures: 5, window_ms: 10000, reset_ms: 30000 }
                retries: 1
            models:
              - id: gpt-4o-mini
                type: chat
                aliases: [gpt-4o-mini-latest]
                context_window: 128000
                max_output_tokens: 16384
                default_max_tokens: 4096
                capabilities: [tools, vision, structured_output]
                limits: { rpm: 30000, tpm: 5000000 }
                pricing: { input: 0.15, cached_input: 0.075, cache_write: 0.15, output: 0.60 }
                deployments:
                  - { provider: openai, model: gpt-4o-mini, priority: 0, weight: 1 }
                fallbacks: [deepseek-chat]
            """, "test");

        assertThat(config.models()).extracting(TokenHubConfig.Model::id).containsExactly("gpt-4o-mini");
        assertThat(config.billing().signupCreditMicroUsd()).isEqualTo(1_000_000);
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
