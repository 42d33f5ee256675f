package io.tokenhub.provider.openai;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tokenhub.config.ConfigLoader;
import io.tokenhub.config.TokenHubConfig;
import io.tokenhub.provider.HttpUpstream;
import io.tokenhub.provider.UpstreamCall;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * TokenHub's extensions (enable_thinking, thinking_budget, enable_search) reach each kind of
 * OpenAI-compatible provider in its own words, whether the body is relayed from the client's bytes
 * or encoded.
 */
class DialectTest {

    private static final String PADDING = "\"metadata\":{\"note\":\"" + "x".repeat(OpenAiAdapter.RELAY_FROM_BYTES) + "\"}";

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        // dialect  | the client's extra fields                                   | what the provider gets of them
        "qwen        | \"enable_thinking\":false,\"thinking_budget\":500,\"enable_search\":true | {\"enable_thinking\":false,\"thinking_budget\":500,\"enable_search\":true}",
        "passthrough | \"enable_thinking\":true                                     | {\"enable_thinking\":true}",
        "deepseek    | \"enable_thinking\":true,\"thinking_budget\":500             | {\"thinking\":{\"type\":\"enabled\"}}",
        "deepseek    | \"enable_thinking\":false                                    | {\"thinking\":{\"type\":\"disabled\"}}",
        // OpenAI's effort: DeepSeek's own levels as sent, none as its switch (it has no such level)
        "deepseek    | \"reasoning_effort\":\"max\"                                 | {\"reasoning_effort\":\"max\"}",
        "deepseek    | \"reasoning_effort\":\"none\"                                | {\"thinking\":{\"type\":\"disabled\"}}",
        "deepseek    | \"reasoning_effort\":\"none\",\"enable_thinking\":false    | {\"thinking\":{\"type\":\"disabled\"}}",
        "qwen        | \"reasoning_effort\":\"none\"                                | {\"reasoning_effort\":\"none\"}",
        // DashScope's lowest level above none is minimum; Ark's minimal is no reasoning
        "qwen        | \"reasoning_effort\":\"minimal\"                             | {\"reasoning_effort\":\"minimum\"}",
        "doubao      | \"reasoning_effort\":\"none\"                                | {\"reasoning_effort\":\"minimal\"}",
        "doubao      | \"reasoning_effort\":\"xhigh\"                               | {\"reasoning_effort\":\"high\"}",
        "doubao      | \"reasoning_effort\":\"high\",\"enable_thinking\":true     | {\"reasoning_effort\":\"high\",\"thinking\":{\"type\":\"enabled\"}}",
        "passthrough | \"reasoning_effort\":\"minimal\"                             | {\"reasoning_effort\":\"minimal\"}",
        "doubao      | \"enable_thinking\":false,\"enable_search\":true             | {\"thinking\":{\"type\":\"disabled\"}}",
        "doubao      | \"enable_thinking\":true,\"thinking\":{\"type\":\"auto\"}    | {\"thinking\":{\"type\":\"auto\"}}",
        "vllm        | \"enable_thinking\":false,\"chat_template_kwargs\":{\"a\":1} | {\"chat_template_kwargs\":{\"a\":1,\"enable_thinking\":false}}",
        "openai      | \"enable_thinking\":true,\"enable_search\":true              | {\"web_search_options\":{}}",
        "openai      | \"temperature\":0.5                                          | {\"temperature\":0.5}",
        // Anthropic's automatic caching, for a Claude model with a fallback here
        "openai      | \"cache_control\":{\"type\":\"ephemeral\"},\"reasoning_effort\":\"low\" | {\"reasoning_effort\":\"low\"}",
        "passthrough | \"cache_control\":{\"type\":\"ephemeral\"}                  | {\"cache_control\":{\"type\":\"ephemeral\"}}",
    })
    void theExtensionsArePutInTheProvidersWords(String dialect, String extra, String expected) {
        OpenAiAdapter adapter = adapter("dialect: " + dialect);
        for (boolean fromBytes : new boolean[] {true, false}) {
            JsonObject upstream = sent(adapter, extra + ",", fromBytes);
            for (String field : new String[] {"model", "messages", "stream", "max_tokens", "max_completion_tokens",
                "metadata"}) {
                upstream.remove(field);
            }
            assertThat(upstream).as(dialect + (fromBytes ? ", relayed" : ", encoded"))
                .isEqualTo(new JsonObject(expected));
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        // dialect  | the client's limit                | what the provider gets (the call's limit is 64)
        // OpenAI's reasoning models refuse max_tokens, and the limit goes even when the client set none
        "openai      | -                                 | max_completion_tokens",
        "openai      | \"max_tokens\":64                 | max_completion_tokens",
        "openai      | \"max_completion_tokens\":64      | max_completion_tokens",
        // DeepSeek documents max_tokens only; elsewhere the client's word
        "deepseek    | -                                 | max_tokens",
        "deepseek    | \"max_completion_tokens\":64      | max_tokens",
        "passthrough | \"max_tokens\":64                 | max_tokens",
        "passthrough | \"max_completion_tokens\":64      | max_completion_tokens",
    })
    void theOutputLimitGoesUnderTheNameTheProviderTakes(String dialect, String limit, String expected) {
        OpenAiAdapter adapter = adapter("dialect: " + dialect);
        for (boolean fromBytes : new boolean[] {true, false}) {
            JsonObject upstream = sent(adapter, limit.equals("-") ? "" : limit + ",", fromBytes);

            String other = expected.equals("max_tokens") ? "max_completion_tokens" : "max_tokens";
            assertThat(upstream.getInteger(expected)).as(dialect + (fromBytes ? ", relayed" : ", encoded"))
                .isEqualTo(64);
            assertThat(upstream.containsKey(other)).as(dialect + (fromBytes ? ", relayed" : ", encoded")).isFalse();
        }
    }

    @ParameterizedTest
    @CsvSource({
        "https://dashscope.aliyuncs.com/compatible-mode/v1, QWEN",
        "https://api.deepseek.com/v1,                       DEEPSEEK",
        "https://ark.cn-beijing.volces.com/api/v3,          DOUBAO",
        "https://api.openai.com/v1,                         OPENAI",
        "http://127.0.0.1:8000/v1,                          PASSTHROUGH",
    })
    void aProviderKnownByItsHostNeedsNoDialectConfigured(String baseUrl, Dialect expected) {
        assertThat(Dialect.of("", baseUrl)).isEqualTo(expected);
        assertThat(Dialect.of("vllm", baseUrl)).isEqualTo(Dialect.VLLM);
    }

    @ParameterizedTest
    @CsvSource({"openai, klingon, unknown dialect 'klingon'", "anthropic, qwen, applies to providers of type openai only"})
    void anUnknownOrMisplacedDialectIsAConfigurationError(String type, String dialect, String problem) {
        String yaml = """
            providers:
              - { id: up, type: %s, base_url: "http://127.0.0.1:9/v1", dialect: %s }
            models:
              - id: chat
                deployments: [{ provider: up, model: up-model }]
            """.formatted(type, dialect);
        assertThatThrownBy(() -> new ConfigLoader(name -> null).parse(yaml, "test"))
            .hasMessageContaining("dialect").hasMessageContaining(problem);
    }

    private static OpenAiAdapter adapter(String line) {
        TokenHubConfig config = new ConfigLoader(name -> null).parse("""
            providers:
              - id: up
                type: openai
                base_url: "http://127.0.0.1:9/v1"
                %s
            models:
              - id: chat
                deployments: [{ provider: up, model: up-model }]
            """.formatted(line), "test");
        return new OpenAiAdapter(new HttpUpstream(null, null, config.providers().get(0)));
    }

    /**
     * What the provider is sent of a chat body with {@code fields} (each followed by a comma) and
     * padding, relayed from the client's bytes or encoded.
     */
    private static JsonObject sent(OpenAiAdapter adapter, String fields, boolean fromBytes) {
        String raw = "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]," + fields
            + PADDING + "}";
        return new JsonObject(adapter.upstreamBody(call(new JsonObject(raw), fromBytes ? raw : null), false));
    }

    private static UpstreamCall call(JsonObject body, String raw) {
        TokenHubConfig.Deployment deployment = new TokenHubConfig.Deployment("up", "up-model", 0, 1);
        UpstreamCall call = new UpstreamCall("req", body, deployment, 64);
        return raw == null ? call : new UpstreamCall("req", body, Buffer.buffer(raw), deployment, 64, call.clock());
    }
}
