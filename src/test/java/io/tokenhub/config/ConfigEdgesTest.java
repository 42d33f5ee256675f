package io.tokenhub.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** ${VAR} expansion, YAML features and validation edges an operator meets (PRODUCT §6, README Configuration). */
class ConfigEdgesTest {

    private static final String CATALOG = """
        providers:
          - { id: mock, type: mock }
        models:
          - id: m
            deployments: [ { provider: mock, model: m1 } ]
        """;

    @Test
    void aPlaceholderAsTheLastValueOfAFlowMappingWrittenOverSeveralLinesIsExpanded() {
        ConfigLoader loader = new ConfigLoader(Map.of("MGMT", "9191")::get);
        // Valid YAML once expanded; README: "also as a whole value inside { … }"
        TokenHubConfig config = loader.parse("""
            server: {
              port: 8081,
              management_port: ${MGMT:-9090}
            }
            """ + CATALOG, "test");
        assertThat(config.server().managementPort()).isEqualTo(9191);
    }

    @Test
    void aPlaceholderInAFlowListWrittenOverSeveralLinesIsExpanded() {
        ConfigLoader loader = new ConfigLoader(Map.of("ALIAS", "mm")::get);
        TokenHubConfig config = loader.parse("""
            providers:
              - { id: mock, type: mock }
            models:
              - id: m
                aliases: [
                  ${ALIAS}
                ]
                deployments: [ { provider: mock, model: m1 } ]
            """, "test");
        assertThat(config.models().get(0).aliases()).containsExactly("mm");
    }

    @Test
    void aSetButEmptyVariableTakesItsDefaultAndAnUnsetOneWithoutDefaultWarns() {
        ConfigLoader loader = new ConfigLoader(Map.of("EMPTY", "", "KEY", "  sk-x \n")::get);
        TokenHubConfig config = loader.parse("""
            server: { port: ${EMPTY:-8082}, management_port: "${NOPE:-9092}" }
            admin: { master_key: "${KEY}" }
            """ + CATALOG, "test");
        assertThat(config.server().port()).isEqualTo(8082);
        assertThat(config.server().managementPort()).isEqualTo(9092);
        assertThat(config.admin().masterKey()).isEqualTo("sk-x");
    }

    @Test
    void aDefaultHoldingAUrlInAFlowMappingIsExpandedWhole() {
        ConfigLoader loader = new ConfigLoader(name -> null);
        TokenHubConfig config = loader.parse("""
            providers:
              - { id: p, type: openai, base_url: ${P_URL:-http://localhost:8000/v1}, api_key: ${P_KEY:-} }
            models:
              - id: m
                deployments: [ { provider: p, model: m1 } ]
            """, "test");
        assertThat(config.providers().get(0).baseUrl()).isEqualTo("http://localhost:8000/v1");
        assertThat(config.providers().get(0).apiKey()).isEmpty();
    }

    @Test
    void aValueExpandedFromTheEnvironmentIsNotReadAsYamlNorExpandedAgain() {
        ConfigLoader loader = new ConfigLoader(Map.of("KEY", "a: b, ${OTHER} # c", "OTHER", "x")::get);
        TokenHubConfig config = loader.parse("admin: { master_key: ${KEY} }\n" + CATALOG, "test");
        assertThat(config.admin().masterKey()).isEqualTo("a: b, ${OTHER} # c");
    }

    @Test
    void negativeAndNonNumericPricesAreProblems() {
        assertThatThrownBy(() -> new ConfigLoader(name -> null).parse(CATALOG.replace("- id: m",
            "- id: m\n    pricing: { input: -1, output: abc }"), "test"))
            .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactlyInAnyOrder(
                "models[0].pricing.input: must be a non-negative number, not -1",
                "models[0].pricing.output: must be a number, not 'abc'"));
    }

    @Test
    void anEmptyFileIsNotACatalog() {
        // A file truncated by an editor or a failed copy: nothing to serve.
        assertThatThrownBy(() -> new ConfigLoader(name -> null).parse("", "test"))
            .isInstanceOf(ConfigException.class);
    }

    /** Jackson reads an alias as its anchor's name: refused, naming it, rather than misread. */
    @Test
    void anAliasIsRefusedNamingItsLineRatherThanReadAsItsAnchorsName() {
        ConfigLoader loader = new ConfigLoader(Map.of("SHARED_KEY", "sk-shared")::get);
        assertThatThrownBy(() -> loader.parse("""
            providers:
              - { id: a, type: openai, base_url: "http://localhost:1/v1", api_key: &key "${SHARED_KEY}" }
              - { id: b, type: openai, base_url: "http://localhost:2/v1", api_key: *key }
            models:
              - id: m
                deployments: [ { provider: a, model: m1 }, { provider: b, model: m1 } ]
            """, "test"))
            .isInstanceOf(ConfigException.class)
            .hasMessageContaining("line 3: the alias *key is not supported");
    }

    @Test
    void aMappingAliasAndAMergeKeyAreRefusedNamingThem() {
        ConfigLoader loader = new ConfigLoader(name -> null);
        assertThatThrownBy(() -> loader.parse("""
            providers:
              - id: a
                type: openai
                base_url: "http://localhost:1/v1"
                timeouts: &fast { connect_ms: 1000, first_byte_ms: 2000, idle_ms: 3000 }
              - id: b
                type: openai
                base_url: "http://localhost:2/v1"
                timeouts: *fast
              - { <<: *fast, id: c, type: openai, base_url: "http://localhost:3/v1" }
            models:
              - id: m
                deployments: [ { provider: a, model: m1 }, { provider: b, model: m1 } ]
            """, "test"))
            .isInstanceOf(ConfigException.class)
            .hasMessageContaining("the alias *fast is not supported")
            .hasMessageContaining("the merge key << is not supported");
    }

    @Test
    void aFileWithoutModelsIsWarnedOf() {
        ConfigLoader loader = new ConfigLoader(name -> null);
        loader.parse("providers: [ { id: mock, type: mock } ]\n", "test");
        assertThat(loader.warnings()).anyMatch(w -> w.contains("models") && w.contains("404"));
    }

    @Test
    void starsAndChevronsInsideScalarsAreNotAliasesOrMergeKeys() {
        ConfigLoader loader = new ConfigLoader(Map.<String, String>of()::get);
        TokenHubConfig config = loader.parse("""
            providers:
              - id: p
                type: openai
                base_url: http://localhost:1/v1?a=*b
                api_key: sk-*abc<<def
            models:
              - id: m
                aliases: ["m-*", "<<m>>"]
                deployments: [ { provider: p, model: m1 } ]
            """, "test");
        assertThat(config.providers().get(0).apiKey()).isEqualTo("sk-*abc<<def");
        assertThat(config.models().get(0).aliases()).containsExactly("m-*", "<<m>>");
    }

    @Test
    void aPlaceholderOnALineOfAQuotedStringGoingOnOverLinesIsLeftToIt() {
        // (a placeholder that may stand on a line of its own inside { } was quoted inside this string)
        ConfigLoader loader = new ConfigLoader(Map.of("PART", "two")::get);
        TokenHubConfig config = loader.parse("""
            providers:
              - id: p
                type: openai
                base_url: http://localhost:1/v1
                description: Bob's provider
                api_key: "one,
                  ${PART}, three"
            models:
              - id: m
                deployments: [ { provider: p, model: m1 } ]
            """, "test");
        assertThat(config.providers().get(0).apiKey()).isEqualTo("one, two, three");
    }
}
