package io.tokenhub.provider;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeOpenAiUpstream.Fault;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * enable_thinking through the gateway to OpenAI-compatible providers of different dialects: an
 * explicit false reaches a model that can think (some think unless told not to), each provider is
 * told in its own words, also when the request falls back from one to the other.
 */
class ProviderDialectIT {

    static Vertx vertx;
    static FakeOpenAiUpstream deepseek;
    static FakeOpenAiUpstream qwen;
    static TestGateway gateway;
    static String key;

    @BeforeAll
    static void start() {
        vertx = Vertx.vertx();
        deepseek = new FakeOpenAiUpstream(vertx, "deepseek-chat").start();
        qwen = new FakeOpenAiUpstream(vertx, "qwen-plus").start();
        gateway = TestGateway.start("""
            providers:
              - { id: deepseek, type: openai, base_url: "%s", dialect: deepseek }
              - { id: qwen, type: openai, base_url: "%s" }
            models:
              - id: thinker
                capabilities: [thinking]
                deployments:
                  - { provider: deepseek, model: deepseek-chat, priority: 0 }
                  - { provider: qwen, model: qwen-plus, priority: 1 }
              - id: plain
                deployments: [ { provider: qwen, model: qwen-plain } ]
            """.formatted(deepseek.baseUrl(), qwen.baseUrl()), "");
        key = gateway.newKey();
    }

    @AfterAll
    static void stop() {
        gateway.close();
        deepseek.stop();
        qwen.stop();
        vertx.close();
    }

    @BeforeEach
    void healthy() {
        deepseek.reset();
        qwen.reset();
    }

    @Test
    void thinkingTurnedOffReachesDeepSeekInItsOwnWords() {
        assertThat(chat("thinker", false).statusCode()).isEqualTo(200);

        JsonObject sent = deepseek.lastRequest().body();
        assertThat(sent.getJsonObject("thinking")).isEqualTo(new JsonObject().put("type", "disabled"));
        assertThat(sent.containsKey("enable_thinking")).isFalse();
    }

    @Test
    void aFallbackToAnotherDialectGetsTheSameAskInItsWords() {
        // Given the DeepSeek deployment fails
        deepseek.fault = Fault.STATUS;
        deepseek.status = 503;

        // When thinking is asked for
        HttpResponse<String> response = chat("thinker", true);

        // Then DeepSeek was asked its way, and the Qwen-style provider that served got the field as sent
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(deepseek.lastRequest().body().getJsonObject("thinking")).isEqualTo(new JsonObject().put("type", "enabled"));
        assertThat(qwen.lastRequest().body().getBoolean("enable_thinking")).isTrue();
        assertThat(qwen.lastRequest().body().containsKey("thinking")).isFalse();
    }

    @Test
    void aModelThatCannotThinkIsNotToldNotTo() {
        assertThat(chat("plain", false).statusCode()).isEqualTo(200);

        assertThat(qwen.lastRequest().body().containsKey("enable_thinking")).isFalse();
    }

    private static HttpResponse<String> chat(String model, boolean thinking) {
        return gateway.post("/v1/chat/completions", key, """
            {"model": "%s", "enable_thinking": %s, "messages": [{"role": "user", "content": "hi"}]}"""
            .formatted(model, thinking));
    }
}
