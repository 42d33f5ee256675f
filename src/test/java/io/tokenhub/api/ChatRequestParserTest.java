package io.tokenhub.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.auth.KeyContext;
import io.tokenhub.config.ConfigLoader;
import io.tokenhub.core.ApiError;
import io.tokenhub.core.ApiException;
import io.tokenhub.core.TokenCounter;
import io.tokenhub.routing.Catalog;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;

/**
 * Where the prompt of a chat request is tokenized: not at all when its size in bytes settles the
 * context window, here and now when it is short, and by the counter given (a worker thread in the
 * gateway) when it is long. Which fallback models a request fits, and the checks that need no model.
 */
class ChatRequestParserTest {

    private static final Catalog CATALOG = Catalog.of(new ConfigLoader(name -> null).parse("""
        providers:
          - { id: fake, type: openai, base_url: "http://127.0.0.1:9/v1" }
        models:
          - id: small
            context_window: 1000
            max_output_tokens: 100
            deployments: [{ provider: fake, model: fake-model }]
          - id: large
            context_window: 10000000
            max_output_tokens: 100
            deployments: [{ provider: fake, model: fake-model }]
          - id: capable
            context_window: 10000000
            max_output_tokens: 1000
            default_max_tokens: 500
            capabilities: [tools, vision]
            deployments: [{ provider: fake, model: fake-model }]
          - id: thinker
            context_window: 10000000
            max_output_tokens: 1000
            capabilities: [thinking]
            deployments: [{ provider: fake, model: fake-model }]
          - id: embedder
            type: embedding
            deployments: [{ provider: fake, model: fake-embedder }]
        """, "test"));
    private static final KeyContext KEY =
        new KeyContext("key_1", "acct_1", "active", "active", Set.of(), 0, 0, KeyContext.NO_CAP, null);

    private final List<Callable<Integer>> handedOver = new ArrayList<>();
    private final ChatRequestParser.PromptCounter counter = tokenize -> {
        handedOver.add(tokenize);
        try {
            return Future.succeededFuture(tokenize.call());
        } catch (Exception e) {
            return Future.failedFuture(e);
        }
    };

    @Test
    void aPromptThatSurelyFitsIsNeverTokenizedUpFront() {
        String text = "word ".repeat(100_000);

        ModelRequest request = ChatRequestParser.parse(chat("large", text), CATALOG, KEY, counter).result();

        assertThat(handedOver).isEmpty();
        assertThat(request.prompt().estimate()).isGreaterThan(0);
    }

    @Test
    void aShortPromptThatMayNotFitIsTokenizedHere() {
        ModelRequest request = ChatRequestParser.parse(chat("small", "word ".repeat(150)), CATALOG, KEY, counter)
            .result();

        assertThat(handedOver).isEmpty();
        assertThat(request.prompt().counted()).isEqualTo(TokenCounter.chatPrompt(chat("small", "word ".repeat(150))));
    }

    @Test
    void aLongPromptIsHandedToTheCounterAndRefusedWithItsCount() throws Exception {
        String text = "word ".repeat((int) ChatRequestParser.OFF_LOOP_BYTES / 5 + 1);

        Future<ModelRequest> parsed = ChatRequestParser.parse(chat("small", text), CATALOG, KEY, counter);

        assertThat(handedOver).hasSize(1);
        assertThat(parsed.failed()).isTrue();
        ApiError error = ((ApiException) parsed.cause()).error();
        assertThat(error.code()).isEqualTo("context_length_exceeded");
        assertThat(error.message()).contains(handedOver.get(0).call() + " in the messages");
    }

    // ---- which fallback models the request fits ------------------------------------------------

    @Test
    void aFallbackWithoutACapabilityTheRequestUsesDoesNotFitIt() {
        JsonObject body = chat("capable", "hi").put("tools", new JsonArray().add(tool("lookup")));
        ModelRequest request = ChatRequestParser.parse(body, CATALOG, KEY, counter).result();

        assertRefused(request.fit().check(model("large")), 400, "unsupported_parameter", "tools");
        assertThat(request.fit().check(model("capable")).succeeded()).isTrue();
    }

    @Test
    void anImageInTheMessagesNeedsAFallbackWithVision() {
        JsonObject image = new JsonObject().put("type", "image_url")
            .put("image_url", new JsonObject().put("url", "https://example.com/cat.png"));
        JsonObject body = chat("capable", "hi");
        body.getJsonArray("messages").add(new JsonObject().put("role", "user")
            .put("content", new JsonArray().add(new JsonObject().put("type", "text").put("text", "what is it?"))
                .add(image)));
        ModelRequest request = ChatRequestParser.parse(body, CATALOG, KEY, counter).result();

        assertRefused(request.fit().check(model("large")), 400, "unsupported_parameter", "messages[1].content[1]");
    }

    @Test
    void anOutputLimitTheCallerSetMustFitTheFallbacksOneTheDefaultIsLowered() {
        ModelRequest set = ChatRequestParser.parse(chat("capable", "hi").put("max_tokens", 800), CATALOG, KEY,
            counter).result();
        ModelRequest defaulted = ChatRequestParser.parse(chat("capable", "hi").put("max_tokens", null), CATALOG, KEY,
            counter).result();

        assertRefused(set.fit().check(model("large")), 400, "context_length_exceeded", "max_tokens");
        assertThat(defaulted.maxTokens()).isEqualTo(500);
        assertThat(defaulted.fit().check(model("large")).succeeded()).isTrue();
    }

    @Test
    void aPromptTooLongForTheFallbacksContextWindowDoesNotFitIt() throws Exception {
        String text = "word ".repeat((int) ChatRequestParser.OFF_LOOP_BYTES / 5 + 1);
        ModelRequest request = ChatRequestParser.parse(chat("large", text), CATALOG, KEY, counter).result();
        assertThat(handedOver).isEmpty();

        Future<Void> small = request.fit().check(model("small"));

        // Counted off the event loop, as a long prompt is for the requested model
        assertThat(handedOver).hasSize(1);
        assertRefused(small, 400, "context_length_exceeded", "messages");
        assertThat(((ApiException) small.cause()).error().message())
            .contains(handedOver.get(0).call() + " in the messages");
        assertThat(request.fit().check(model("capable")).succeeded()).isTrue();
    }

    @Test
    void aModelOfAnotherTypeDoesNotFitAChatRequest() {
        ModelRequest request = ChatRequestParser.parse(chat("large", "hi"), CATALOG, KEY, counter).result();

        assertRefused(request.fit().check(model("embedder")), 400, "invalid_request_error", "fallback_models");
    }

    @Test
    void theRequestsFallbackModelsMustExistBeAllowedAndBeChatModels() {
        KeyContext onlyLarge = new KeyContext("key_2", "acct_1", "active", "active", Set.of("large"), 0, 0,
            KeyContext.NO_CAP, null);

        assertParseRefused(chat("large", "hi").put("fallback_models", new JsonArray().add("nowhere")), KEY,
            404, "model_not_found", "fallback_models");
        assertParseRefused(chat("large", "hi").put("fallback_models", new JsonArray().add("small")), onlyLarge,
            403, "model_not_allowed", "fallback_models");
        assertParseRefused(chat("large", "hi").put("fallback_models", new JsonArray().add("embedder")), KEY,
            400, "invalid_request_error", "fallback_models");
    }

    // ---- checks that need no model --------------------------------------------------------------

    @Test
    void bothOutputLimitsAtOnceAreRefusedAsOpenAiRefusesThem() {
        JsonObject body = chat("large", "hi").put("max_completion_tokens", 10);

        assertParseRefused(body, KEY, 400, "invalid_request_error", "max_tokens");
    }

    @Test
    void theDeprecatedFunctionsNeedAModelWithTools() {
        JsonObject functions = chat("large", "hi").put("function_call", "auto")
            .put("functions", new JsonArray().add(new JsonObject().put("name", "lookup")));

        assertParseRefused(functions, KEY, 400, "unsupported_parameter", "functions");
        assertThat(ChatRequestParser.parse(functions.put("model", "capable"), CATALOG, KEY, counter).succeeded())
            .isTrue();
        assertParseRefused(functions.copy().put("function_call", 3), KEY, 400, "invalid_request_error",
            "function_call");
        assertParseRefused(functions.copy().put("functions", new JsonArray().add("lookup")), KEY, 400,
            "invalid_request_error", "functions");
    }

    @Test
    void whatOpenAiRefusesIsRefusedBeforeAnyUpstreamHearsOfIt() {
        JsonObject tools = chat("capable", "hi").put("tools", new JsonArray().add(tool("lookup")));
        JsonObject toolTurn = chat("capable", "hi");
        toolTurn.getJsonArray("messages").add(new JsonObject().put("role", "tool").put("content", "sunny"));

        assertParseRefused(chat("capable", "hi").put("tool_choice", "required"), KEY, 400, "invalid_request_error",
            "tool_choice");
        assertParseRefused(tools.copy().put("tool_choice", new JsonObject().put("type", "function")
            .put("function", new JsonObject().put("name", "elsewhere"))), KEY, 400, "invalid_request_error",
            "tool_choice");
        assertParseRefused(chat("capable", "hi").put("functions", new JsonArray().add(new JsonObject()
            .put("name", "lookup"))).put("function_call", new JsonObject().put("name", "elsewhere")), KEY, 400,
            "invalid_request_error", "function_call");
        assertParseRefused(chat("capable", "hi").put("response_format", new JsonObject().put("type", "xml")), KEY,
            400, "invalid_request_error", "response_format.type");
        assertParseRefused(toolTurn, KEY, 400, "invalid_request_error", "messages[1].tool_call_id");
        assertParseRefused(chat("capable", "hi").put("stream_options", new JsonObject().put("include_usage", true)),
            KEY, 400, "invalid_request_error", "stream_options");
        // and what it takes is taken
        assertThat(ChatRequestParser.parse(tools.copy().put("tool_choice", new JsonObject().put("type", "function")
            .put("function", new JsonObject().put("name", "lookup"))), CATALOG, KEY, counter).succeeded()).isTrue();
        assertThat(ChatRequestParser.parse(tools.copy().put("tool_choice", "required"), CATALOG, KEY, counter)
            .succeeded()).isTrue();
        assertThat(ChatRequestParser.parse(chat("capable", "hi").put("tool_choice", "auto"), CATALOG, KEY, counter)
            .succeeded()).isTrue();
        toolTurn.getJsonArray("messages").getJsonObject(1).put("tool_call_id", "call_1");
        assertThat(ChatRequestParser.parse(toolTurn, CATALOG, KEY, counter).succeeded()).isTrue();
    }

    @Test
    void earlierTurnsInEveryShapeOpenAiTypesThemAreTaken() {
        // A GPT-5 custom tool's call sent back with its result, and a deprecated function message whose
        // result is null (the SDKs type it Required[Optional[str]]).
        JsonObject custom = chat("capable", "run it").put("tools", new JsonArray().add(new JsonObject()
            .put("type", "custom").put("custom", new JsonObject().put("name", "code_exec"))));
        custom.getJsonArray("messages")
            .add(new JsonObject().put("role", "assistant").putNull("content").put("tool_calls", new JsonArray()
                .add(new JsonObject().put("id", "call_1").put("type", "custom")
                    .put("custom", new JsonObject().put("name", "code_exec").put("input", "print(1)")))))
            .add(new JsonObject().put("role", "tool").put("tool_call_id", "call_1").put("content", "1"));
        JsonObject function = chat("capable", "x").put("functions", new JsonArray().add(new JsonObject()
            .put("name", "f")));
        function.getJsonArray("messages")
            .add(new JsonObject().put("role", "assistant").putNull("content")
                .put("function_call", new JsonObject().put("name", "f").put("arguments", "{}")))
            .add(new JsonObject().put("role", "function").put("name", "f").putNull("content"));

        assertThat(ChatRequestParser.parse(custom.copy(), CATALOG, KEY, counter).succeeded()).isTrue();
        assertThat(ChatRequestParser.parse(function, CATALOG, KEY, counter).succeeded()).isTrue();

        // A custom call must still name its tool and carry its input as a string.
        JsonObject call = custom.getJsonArray("messages").getJsonObject(1).getJsonArray("tool_calls").getJsonObject(0);
        call.getJsonObject("custom").put("input", new JsonObject());
        assertParseRefused(custom.copy(), KEY, 400, "invalid_request_error", "messages[1].tool_calls[0].custom.input");
        call.getJsonObject("custom").remove("name");
        assertParseRefused(custom, KEY, 400, "invalid_request_error", "messages[1].tool_calls[0].custom.name");
        // Any other message still needs content.
        assertParseRefused(chat("capable", "x").put("messages", new JsonArray().add(new JsonObject()
            .put("role", "user").putNull("content"))), KEY, 400, "invalid_request_error", "messages[0].content");
    }

    @Test
    void reasoningEffortGoesAsSentAndMustNotContradictEnableThinking() {
        // OpenAI's field, with each provider's own levels: it goes on, to a model marked thinking or not.
        for (String model : List.of("thinker", "capable")) {
            for (String level : List.of("none", "high", "max")) {
                JsonObject going = ChatRequestParser.parse(chat(model, "hi").put("reasoning_effort", level), CATALOG,
                    KEY, counter).result().body();
                assertThat(going.getString("reasoning_effort")).as(model + " " + level).isEqualTo(level);
            }
        }
        // enable_thinking is the extension checked against the model's capabilities.
        assertParseRefused(chat("capable", "hi").put("reasoning_effort", "high").put("enable_thinking", true), KEY,
            400, "unsupported_parameter", "enable_thinking");

        assertParseRefused(chat("thinker", "hi").put("reasoning_effort", 3), KEY, 400, "invalid_request_error",
            "reasoning_effort");
        assertParseRefused(chat("thinker", "hi").put("reasoning_effort", "high").put("enable_thinking", false), KEY,
            400, "invalid_request_error", "reasoning_effort");
        assertParseRefused(chat("thinker", "hi").put("reasoning_effort", "none").put("enable_thinking", true), KEY,
            400, "invalid_request_error", "reasoning_effort");
        assertThat(ChatRequestParser.parse(chat("thinker", "hi").put("reasoning_effort", "medium")
            .put("enable_thinking", true), CATALOG, KEY, counter).succeeded()).isTrue();
    }

    @Test
    void anExplicitNullIsTheDefaultAndDoesNotGoUpstream() {
        JsonObject body = chat("capable", "hi").put("temperature", null).put("parallel_tool_calls", null)
            .put("tools", null).put("stop", null).put("top_p", 0.5);

        JsonObject going = ChatRequestParser.parse(body, CATALOG, KEY, counter).result().body();

        assertThat(going.fieldNames()).containsExactlyInAnyOrder("model", "max_tokens", "messages", "top_p");
    }

    @Test
    void emptyToolsGoWithTheOptionsThatOnlyGoBesideToolsAsOpenAiRefusesThem() {
        JsonObject body = chat("capable", "hi").put("tools", new JsonArray()).put("parallel_tool_calls", true)
            .put("tool_choice", "auto").put("functions", new JsonArray()).put("function_call", "none");
        JsonObject declared = chat("capable", "hi").put("tools", new JsonArray().add(tool("lookup")))
            .put("parallel_tool_calls", false).put("tool_choice", "auto").put("functions", new JsonArray());

        JsonObject going = ChatRequestParser.parse(body, CATALOG, KEY, counter).result().body();
        JsonObject withTools = ChatRequestParser.parse(declared, CATALOG, KEY, counter).result().body();

        assertThat(going.fieldNames()).containsExactlyInAnyOrder("model", "max_tokens", "messages");
        assertThat(withTools.fieldNames())
            .containsExactlyInAnyOrder("model", "max_tokens", "messages", "tools", "parallel_tool_calls", "tool_choice");
    }

    @Test
    void topLogprobsWithoutLogprobsIsRefusedAsOpenAiRefusesIt() {
        assertParseRefused(chat("capable", "hi").put("top_logprobs", 3), KEY, 400, "invalid_request_error",
            "top_logprobs");
        assertParseRefused(chat("capable", "hi").put("top_logprobs", 3).put("logprobs", false), KEY, 400,
            "invalid_request_error", "top_logprobs");
        assertThat(ChatRequestParser.parse(chat("capable", "hi").put("top_logprobs", 3).put("logprobs", true),
            CATALOG, KEY, counter).succeeded()).isTrue();
        assertThat(ChatRequestParser.parse(chat("capable", "hi").put("top_logprobs", 0), CATALOG, KEY, counter)
            .succeeded()).isTrue();
    }

    private void assertParseRefused(JsonObject body, KeyContext key, int status, String code, String param) {
        Future<ModelRequest> parsed;
        try {
            parsed = ChatRequestParser.parse(body, CATALOG, key, counter);
        } catch (ApiException e) {
            parsed = Future.failedFuture(e);
        }
        assertRefused(parsed, status, code, param);
    }

    private static void assertRefused(Future<?> result, int status, String code, String param) {
        assertThat(result.failed()).as("refused").isTrue();
        ApiError error = ((ApiException) result.cause()).error();
        assertThat(error.status()).isEqualTo(status);
        assertThat(error.code()).isEqualTo(code);
        assertThat(error.param()).isEqualTo(param);
    }

    private static io.tokenhub.config.TokenHubConfig.Model model(String id) {
        return CATALOG.model(id).orElseThrow();
    }

    private static JsonObject tool(String name) {
        return new JsonObject().put("type", "function").put("function", new JsonObject().put("name", name)
            .put("parameters", new JsonObject().put("type", "object")));
    }

    private static JsonObject chat(String model, String text) {
        return new JsonObject().put("model", model).put("max_tokens", 10)
            .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", text)));
    }
}
