package io.tokenhub.provider.mock;

import static org.assertj.core.api.Assertions.assertThat;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.helpers.ChatCompletionAccumulator;
import com.openai.models.FunctionDefinition;
import com.openai.models.FunctionParameters;
import com.openai.models.ResponseFormatJsonObject;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionMessageFunctionToolCall;
import com.openai.models.chat.completions.ChatCompletionNamedToolChoice;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.chat.completions.ChatCompletionToolChoiceOption;
import com.openai.models.chat.completions.ChatCompletionTokenLogprob;
import com.openai.models.chat.completions.ChatCompletionToolMessageParam;
import com.openai.models.chat.completions.StructuredChatCompletion;
import com.openai.models.completions.CompletionUsage;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The built-in mock provider through the real gateway and the OpenAI Java SDK: it honours the
 * request as a real model would — thinking, tools (whole and streamed), structured output,
 * {@code n}, {@code stop}, {@code max_tokens} — deterministically, and its usage is what is billed.
 */
class MockProviderIT {

    static TestGateway gateway;
    static String key;
    static OpenAIClient client;

    /** A tool the SDK describes from the class and parses the arguments into. */
    public static class GetWeather {
        public String city;
        public Unit unit;
        public int days;
    }

    public enum Unit { CELSIUS, FAHRENHEIT }

    /** A structured answer with a nested object and a list, as the SDK derives its schema. */
    public static class Forecast {
        public String summary;
        public Place place;
        public List<Double> temperatures;
        public boolean alert;
    }

    public static class Place {
        public String name;
        public long population;
    }

    @BeforeAll
    static void start() {
        gateway = TestGateway.start("""
            providers: [ { id: mock, type: mock } ]
            models:
              - id: mock-chat
                capabilities: [tools, vision, structured_output, thinking]
                pricing: { input: 1.0, output: 2.0 }
                deployments: [ { provider: mock, model: mock-chat-1 } ]
              - id: mock-embedding
                type: embedding
                pricing: { input: 1.0 }
                deployments: [ { provider: mock, model: mock-embed-1 } ]
            """, "");
        key = gateway.newKey();
        client = OpenAIOkHttpClient.builder().apiKey(key).baseUrl(gateway.baseUrl()).maxRetries(0).build();
    }

    @AfterAll
    static void stop() {
        gateway.close();
    }

    private static ChatCompletionCreateParams.Builder ask(String text) {
        return ChatCompletionCreateParams.builder().model("mock-chat").addUserMessage(text);
    }

    private static ChatCompletionCreateParams.Builder thinking(ChatCompletionCreateParams.Builder params) {
        return params.putAdditionalBodyProperty("enable_thinking", JsonValue.from(true));
    }

    private static List<ChatCompletionChunk> stream(ChatCompletionCreateParams params) {
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(params)) {
            return stream.stream().toList();
        }
    }

    private static String reasoningOf(Map<String, JsonValue> extra) {
        JsonValue value = extra.get("reasoning_content");
        return value == null ? null : value.convert(String.class);
    }

    /** A function whose parameters are the given required strings. */
    private static FunctionDefinition function(String name, String... required) {
        Map<String, Object> properties = new LinkedHashMap<>();
        for (String property : required) {
            properties.put(property, Map.of("type", "string"));
        }
        return FunctionDefinition.builder().name(name).parameters(FunctionParameters.builder()
            .putAdditionalProperty("type", JsonValue.from("object"))
            .putAdditionalProperty("properties", JsonValue.from(properties))
            .putAdditionalProperty("required", JsonValue.from(List.of(required))).build()).build();
    }

    // ---- thinking --------------------------------------------------------------------------------

    @Test
    void thinkingAddsReasoningContentCountedInsideCompletionTokensAndBilledSo() {
        // Given the same question with and without thinking
        ChatCompletion plain = client.chat().completions().create(ask("Why is the sky blue?").build());
        ChatCompletion thought = client.chat().completions().create(thinking(ask("Why is the sky blue?")).build());

        // Then the thinking answer carries reasoning_content beside the same content
        assertThat(reasoningOf(plain.choices().get(0).message()._additionalProperties())).isNull();
        String reasoning = reasoningOf(thought.choices().get(0).message()._additionalProperties());
        assertThat(reasoning).contains("Why is the sky blue?");
        assertThat(thought.choices().get(0).message().content()).isEqualTo(plain.choices().get(0).message().content());
        // and its reasoning tokens are inside completion_tokens, on top of the answer's own
        CompletionUsage usage = thought.usage().orElseThrow();
        long reasoningTokens = usage.completionTokensDetails().orElseThrow().reasoningTokens().orElseThrow();
        assertThat(reasoningTokens).isPositive();
        assertThat(usage.completionTokens()).isEqualTo(plain.usage().orElseThrow().completionTokens() + reasoningTokens);
        assertThat(usage.totalTokens()).isEqualTo(usage.promptTokens() + usage.completionTokens());

        // and the usage record holds those same counts
        String requestId = thought.id().substring("chatcmpl-".length());
        TestGateway.eventually(() -> gateway.database().count("SELECT count(*) FROM usage_records WHERE request_id = ?",
            requestId) == 1, 10_000, "the usage record of " + requestId);
        Map<String, Object> row = gateway.database().query("SELECT * FROM usage_records WHERE request_id = ?",
            requestId).get(0);
        assertThat(row.get("completion_tokens")).isEqualTo((int) usage.completionTokens());
        assertThat(row.get("reasoning_tokens")).isEqualTo((int) reasoningTokens);
        assertThat(row.get("estimated")).isEqualTo(false);
    }

    @Test
    void thinkingStreamsEveryReasoningDeltaBeforeTheFirstContentDelta() {
        // Given a streamed thinking request that asks for usage
        ChatCompletionCreateParams params = thinking(ask("Stream your thoughts"))
            .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();

        // When it is streamed
        List<ChatCompletionChunk> chunks = stream(params);

        // Then reasoning deltas come first, then content deltas, never both in one delta
        List<String> kinds = new ArrayList<>();
        StringBuilder reasoning = new StringBuilder();
        for (ChatCompletionChunk chunk : chunks) {
            for (ChatCompletionChunk.Choice choice : chunk.choices()) {
                String piece = reasoningOf(choice.delta()._additionalProperties());
                if (piece != null) {
                    kinds.add("reasoning");
                    reasoning.append(piece);
                }
                if (choice.delta().content().filter(c -> !c.isEmpty()).isPresent()) {
                    kinds.add("content");
                }
            }
        }
        assertThat(kinds).contains("reasoning", "content");
        assertThat(kinds.subList(kinds.indexOf("content"), kinds.size())).containsOnly("content");
        // and every chunk before the usage chunk carries "usage": null, as OpenAI's do
        assertThat(chunks.subList(0, chunks.size() - 1)).allSatisfy(c -> assertThat(c._usage().isNull()).isTrue());
        // and they add up to what the whole answer says, counted in the usage
        ChatCompletion whole = client.chat().completions().create(thinking(ask("Stream your thoughts")).build());
        assertThat(reasoning.toString()).isEqualTo(reasoningOf(whole.choices().get(0).message()._additionalProperties()));
        CompletionUsage usage = chunks.get(chunks.size() - 1).usage().orElseThrow();
        assertThat(usage.completionTokensDetails().orElseThrow().reasoningTokens())
            .isEqualTo(whole.usage().orElseThrow().completionTokensDetails().orElseThrow().reasoningTokens());
        assertThat(usage.completionTokens()).isEqualTo(whole.usage().orElseThrow().completionTokens());
    }

    // ---- tools -----------------------------------------------------------------------------------

    @Test
    void requiredToolChoiceCallsTheToolWithArgumentsTheSdkParses() {
        // Given a tool the SDK describes from a class, and tool_choice required
        ChatCompletion completion = client.chat().completions().create(ask("Hello")
            .addTool(GetWeather.class).toolChoice(ChatCompletionToolChoiceOption.Auto.REQUIRED).build());

        // Then the answer is a call of it, with every required parameter in its arguments
        ChatCompletion.Choice choice = completion.choices().get(0);
        assertThat(choice.finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.TOOL_CALLS);
        assertThat(choice.message().content()).isEmpty();
        ChatCompletionMessageFunctionToolCall call = choice.message().toolCalls().orElseThrow().get(0).asFunction();
        assertThat(call.id()).startsWith("call_");
        assertThat(call.function().name()).isEqualTo("GetWeather");
        GetWeather arguments = call.function().arguments(GetWeather.class);
        assertThat(arguments.city).isNotEmpty();
        assertThat(arguments.unit).isEqualTo(Unit.CELSIUS);
        assertThat(new JsonObject(call.function().arguments()).fieldNames()).containsExactlyInAnyOrder(
            "city", "unit", "days");
        // and the tool call is billed as output
        assertThat(completion.usage().orElseThrow().completionTokens()).isPositive();
    }

    @Test
    void autoToolChoiceCallsTheFirstToolTheUserMessageNamesAndOtherwiseAnswersInText() {
        // Given two tools and no tool_choice (auto)
        ChatCompletionCreateParams.Builder tools = ChatCompletionCreateParams.builder().model("mock-chat")
            .addFunctionTool(function("get_time", "zone")).addFunctionTool(function("get_weather", "city"));

        // When the user names the second one, and when the user names none
        ChatCompletion named = client.chat().completions().create(tools.addUserMessage("Use get_weather for Oslo")
            .build());
        ChatCompletion unnamed = client.chat().completions().create(tools.messages(List.of()).addUserMessage("Hi")
            .build());

        // Then the named one is called, and the other request is answered in text
        assertThat(named.choices().get(0).message().toolCalls().orElseThrow().get(0).asFunction().function().name())
            .isEqualTo("get_weather");
        assertThat(unnamed.choices().get(0).message().toolCalls()).isEmpty();
        assertThat(unnamed.choices().get(0).message().content()).hasValueSatisfying(c -> assertThat(c).contains("Hi"));
        assertThat(unnamed.choices().get(0).finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.STOP);
    }

    @Test
    void namedToolChoiceCallsThatToolAndNoneCallsNone() {
        ChatCompletionCreateParams.Builder tools = ask("get_time please")
            .addFunctionTool(function("get_time", "zone")).addFunctionTool(function("get_weather", "city"));

        ChatCompletion named = client.chat().completions().create(tools.toolChoice(ChatCompletionNamedToolChoice
            .builder().function(ChatCompletionNamedToolChoice.Function.builder().name("get_weather").build()).build())
            .build());
        ChatCompletion none = client.chat().completions().create(tools.toolChoice(ChatCompletionToolChoiceOption.Auto.NONE)
            .build());

        ChatCompletionMessageFunctionToolCall call = named.choices().get(0).message().toolCalls().orElseThrow().get(0)
            .asFunction();
        assertThat(call.function().name()).isEqualTo("get_weather");
        assertThat(new JsonObject(call.function().arguments()).getString("city")).isNotEmpty();
        assertThat(none.choices().get(0).message().toolCalls()).isEmpty();
        assertThat(none.choices().get(0).message().content()).isPresent();
    }

    @Test
    void allowedToolsChoiceCallsOnlyAnAllowedTool() {
        // Given three tools, of which tool_choice allows two, the user naming the one not allowed
        JsonObject body = new JsonObject().put("model", "mock-chat")
            .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "get_time now")))
            .put("tools", new JsonArray().add(tool("get_time")).add(tool("get_weather")).add(tool("get_news")));
        JsonObject allowed = new JsonObject().put("type", "allowed_tools").put("allowed_tools", new JsonObject()
            .put("tools", new JsonArray().add(tool("get_weather")).add(tool("get_news"))));

        // When allowed in mode required, and in mode auto
        JsonObject required = whole(body.copy().put("tool_choice", allowed.copy()
            .put("allowed_tools", allowed.getJsonObject("allowed_tools").copy().put("mode", "required"))));
        JsonObject auto = whole(body.copy().put("tool_choice", allowed.copy()
            .put("allowed_tools", allowed.getJsonObject("allowed_tools").copy().put("mode", "auto"))));

        // Then required calls the first allowed tool, and auto calls none (the one named is not allowed)
        JsonObject call = required.getJsonArray("choices").getJsonObject(0).getJsonObject("message")
            .getJsonArray("tool_calls").getJsonObject(0).getJsonObject("function");
        assertThat(call.getString("name")).isEqualTo("get_weather");
        JsonObject text = auto.getJsonArray("choices").getJsonObject(0);
        assertThat(text.getString("finish_reason")).isEqualTo("stop");
        assertThat(text.getJsonObject("message").getValue("tool_calls")).isNull();
    }

    @Test
    void aCallForcedToACustomToolIsRefusedAsUnsupportedAndOneNamingNoDeclaredToolAsTheCallersMistake() {
        // (SDK audit: the mock answered a forced custom tool in plain text, finish_reason stop)
        JsonObject custom = new JsonObject().put("type", "custom").put("custom", new JsonObject().put("name", "code_exec"));
        JsonObject body = new JsonObject().put("model", "mock-chat")
            .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "Run it")))
            .put("tools", new JsonArray().add(custom));

        HttpResponse<String> forced = gateway.post("/v1/chat/completions", key, body.copy()
            .put("tool_choice", custom.copy()).encode());
        HttpResponse<String> required = gateway.post("/v1/chat/completions", key, body.copy()
            .put("tool_choice", "required").encode());
        HttpResponse<String> undeclared = gateway.post("/v1/chat/completions", key, body.copy()
            .put("tool_choice", new JsonObject().put("type", "custom").put("custom", new JsonObject().put("name", "nope")))
            .encode());

        for (HttpResponse<String> refused : List.of(forced, required)) {
            assertThat(refused.statusCode()).as(refused.body()).isEqualTo(400);
            assertThat(new JsonObject(refused.body()).getJsonObject("error").getString("message"))
                .contains("custom tools are not supported");
        }
        assertThat(undeclared.statusCode()).isEqualTo(400);
        assertThat(new JsonObject(undeclared.body()).getJsonObject("error").getString("param")).isEqualTo("tool_choice");
        assertThat(new JsonObject(undeclared.body()).getJsonObject("error").getString("message")).contains("'nope'");
    }

    private static JsonObject tool(String name) {
        return new JsonObject().put("type", "function").put("function", new JsonObject().put("name", name)
            .put("parameters", new JsonObject().put("type", "object")));
    }

    private static JsonObject whole(JsonObject body) {
        HttpResponse<String> answer = gateway.post("/v1/chat/completions", key, body.encode());
        assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
        return new JsonObject(answer.body());
    }

    @Test
    void theDeprecatedFunctionsAreCalledAsFunctionCallWholeAndStreamed() {
        // Given a request in the deprecated form: functions, and a function_call naming one
        JsonObject body = new JsonObject().put("model", "mock-chat")
            .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "hi")))
            .put("functions", new JsonArray()
                .add(new JsonObject().put("name", "get_time").put("parameters", new JsonObject().put("type", "object")))
                .add(new JsonObject().put("name", "get_weather").put("parameters", new JsonObject().put("type", "object")
                    .put("properties", new JsonObject().put("city", new JsonObject().put("type", "string")))
                    .put("required", new JsonArray().add("city")))))
            .put("function_call", new JsonObject().put("name", "get_weather"));

        JsonObject whole = new JsonObject(gateway.post("/v1/chat/completions", key, body.encode()).body());
        String streamed = gateway.post("/v1/chat/completions", key, body.copy().put("stream", true).encode()).body();

        // Then it is answered as OpenAI answers it: message.function_call, finish_reason function_call
        JsonObject choice = whole.getJsonArray("choices").getJsonObject(0);
        assertThat(choice.getString("finish_reason")).isEqualTo("function_call");
        JsonObject call = choice.getJsonObject("message").getJsonObject("function_call");
        assertThat(call.getString("name")).isEqualTo("get_weather");
        assertThat(new JsonObject(call.getString("arguments")).getString("city")).isNotEmpty();
        assertThat(choice.getJsonObject("message").containsKey("tool_calls")).isFalse();
        // and streamed: the name first, then the arguments in deltas of their own
        List<JsonObject> deltas = streamed.lines().filter(line -> line.startsWith("data: {"))
            .map(line -> new JsonObject(line.substring(6))).filter(chunk -> !chunk.getJsonArray("choices").isEmpty())
            .map(chunk -> chunk.getJsonArray("choices").getJsonObject(0)).toList();
        assertThat(deltas).filteredOn(c -> c.getJsonObject("delta").containsKey("function_call")).first()
            .satisfies(c -> assertThat(c.getJsonObject("delta").getJsonObject("function_call").getString("name"))
                .isEqualTo("get_weather"));
        assertThat(deltas.get(deltas.size() - 1).getString("finish_reason")).isEqualTo("function_call");
        StringBuilder arguments = new StringBuilder();
        deltas.forEach(c -> {
            if (c.getJsonObject("delta").getValue("function_call") instanceof JsonObject f) {
                arguments.append(f.getString("arguments", ""));
            }
        });
        assertThat(new JsonObject(arguments.toString()).getString("city")).isNotEmpty();
    }

    @Test
    void aToolResultIsAnsweredInTextThatUsesIt() {
        // Given a conversation where the mock called a tool, and the tool answered
        ChatCompletionCreateParams.Builder params = ask("Weather in Oslo?").addTool(GetWeather.class)
            .toolChoice(ChatCompletionToolChoiceOption.Auto.REQUIRED);
        ChatCompletion first = client.chat().completions().create(params.build());
        ChatCompletionMessageFunctionToolCall call = first.choices().get(0).message().toolCalls().orElseThrow().get(0)
            .asFunction();

        // When the tool's result is sent back
        ChatCompletion second = client.chat().completions().create(params
            .addMessage(first.choices().get(0).message())
            .addMessage(ChatCompletionToolMessageParam.builder().toolCallId(call.id()).content("Sunny, 21 degrees")
                .build())
            .build());

        // Then the answer is text that passes the result on
        assertThat(second.choices().get(0).finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.STOP);
        assertThat(second.choices().get(0).message().toolCalls()).isEmpty();
        assertThat(second.choices().get(0).message().content().orElseThrow()).contains("Sunny, 21 degrees");
    }

    @Test
    void aStreamedToolCallComesWithItsIdAndNameFirstThenItsArgumentsInFragments() {
        // Given a streamed request that must call a tool
        ChatCompletionCreateParams params = ask("Hello").addTool(GetWeather.class)
            .toolChoice(ChatCompletionToolChoiceOption.Auto.REQUIRED).build();

        // When it is streamed
        List<ChatCompletionChunk> chunks = stream(params);

        // Then the first tool-call delta names the call, and the later ones carry only argument fragments
        List<ChatCompletionChunk.Choice.Delta.ToolCall> deltas = new ArrayList<>();
        chunks.forEach(c -> c.choices().forEach(choice -> choice.delta().toolCalls().ifPresent(deltas::addAll)));
        assertThat(deltas.size()).isGreaterThan(2);
        ChatCompletionChunk.Choice.Delta.ToolCall head = deltas.get(0);
        assertThat(head.index()).isZero();
        assertThat(head.id()).hasValueSatisfying(id -> assertThat(id).startsWith("call_"));
        assertThat(head.type()).hasValue(ChatCompletionChunk.Choice.Delta.ToolCall.Type.FUNCTION);
        assertThat(head.function().orElseThrow().name()).hasValue("GetWeather");
        assertThat(head.function().orElseThrow().arguments()).hasValue("");
        assertThat(deltas.subList(1, deltas.size())).allSatisfy(d -> {
            assertThat(d.index()).isZero();
            assertThat(d.id()).isEmpty();
            assertThat(d.function().orElseThrow().name()).isEmpty();
            assertThat(d.function().orElseThrow().arguments()).isPresent();
        });
        // and the SDK's accumulator puts together the call the whole answer holds
        ChatCompletionAccumulator accumulator = ChatCompletionAccumulator.create();
        chunks.forEach(accumulator::accumulate);
        ChatCompletion.Choice streamed = accumulator.chatCompletion().choices().get(0);
        ChatCompletion whole = client.chat().completions().create(params);
        assertThat(streamed.finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.TOOL_CALLS);
        assertThat(streamed.message().toolCalls().orElseThrow().get(0).asFunction().function().arguments())
            .isEqualTo(whole.choices().get(0).message().toolCalls().orElseThrow().get(0).asFunction().function()
                .arguments());
        assertThat(streamed.message().toolCalls().orElseThrow().get(0).asFunction().function()
            .arguments(GetWeather.class).city).isNotEmpty();
    }

    // ---- structured output -----------------------------------------------------------------------

    @Test
    void jsonObjectFormatAnswersWithAJsonObject() {
        ChatCompletion completion = client.chat().completions().create(ask("Reply in JSON")
            .responseFormat(ResponseFormatJsonObject.builder().build()).build());

        JsonObject content = new JsonObject(completion.choices().get(0).message().content().orElseThrow());
        assertThat(content.getString("reply")).contains("Reply in JSON");
    }

    @Test
    void jsonSchemaFormatAnswersWithAnInstanceOfTheSchemaTheSdkParses() {
        // Given a response_format json_schema the SDK derives from a class with a nested object and a list
        StructuredChatCompletion<Forecast> completion = client.chat().completions().create(ask("Forecast?")
            .responseFormat(Forecast.class).build());

        // Then the SDK parses the answer into that class, every required field present
        Forecast forecast = completion.choices().get(0).message().content().orElseThrow();
        assertThat(forecast.summary).isNotEmpty();
        assertThat(forecast.place).isNotNull();
        assertThat(forecast.place.name).isNotEmpty();
        assertThat(forecast.temperatures).isNotEmpty();
    }

    // ---- n, stop, max_tokens ---------------------------------------------------------------------

    @Test
    void nChoicesAreAnsweredEachAndTheirTokensBilledEach() {
        // Given one request with n 1 and one with n 2
        ChatCompletion one = client.chat().completions().create(ask("Twice, please").build());
        ChatCompletion two = client.chat().completions().create(ask("Twice, please").n(2).build());

        // Then there are two choices, indexed 0 and 1, and two answers' tokens in the usage, the prompt once
        assertThat(two.choices()).extracting(ChatCompletion.Choice::index).containsExactly(0L, 1L);
        assertThat(two.choices().get(1).message().content()).isEqualTo(one.choices().get(0).message().content());
        assertThat(two.usage().orElseThrow().completionTokens())
            .isEqualTo(2 * one.usage().orElseThrow().completionTokens());
        assertThat(two.usage().orElseThrow().promptTokens()).isEqualTo(one.usage().orElseThrow().promptTokens());

        // and streamed, both choices come, each with its finish reason
        List<ChatCompletionChunk> chunks = stream(ask("Twice, please").n(2).build());
        ChatCompletionAccumulator accumulator = ChatCompletionAccumulator.create();
        chunks.forEach(accumulator::accumulate);
        assertThat(accumulator.chatCompletion().choices()).hasSize(2).allSatisfy(choice -> {
            assertThat(choice.message().content()).isEqualTo(one.choices().get(0).message().content());
            assertThat(choice.finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.STOP);
        });
    }

    @Test
    void aStopSequenceCutsTheContentBeforeItsFirstOccurrence() {
        ChatCompletion completion = client.chat().completions().create(ask("Stop me").stopOfStrings(
            List.of("nowhere", "mock")).build());

        assertThat(completion.choices().get(0).message().content()).hasValue("Hello from TokenHub's ");
        assertThat(completion.choices().get(0).finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.STOP);
        assertThat(completion.usage().orElseThrow().completionTokens()).isPositive();
    }

    @Test
    void aSmallMaxTokensCutsTheAnswerWithFinishReasonLengthWholeAndStreamed() {
        ChatCompletionCreateParams params = thinking(ask("A long story, please")).maxTokens(3).build();

        ChatCompletion whole = client.chat().completions().create(params);
        ChatCompletionAccumulator accumulator = ChatCompletionAccumulator.create();
        stream(params).forEach(accumulator::accumulate);
        ChatCompletion streamed = accumulator.chatCompletion();

        for (ChatCompletion completion : List.of(whole, streamed)) {
            assertThat(completion.choices().get(0).finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.LENGTH);
        }
        long tokens = whole.usage().orElseThrow().completionTokens();
        assertThat(tokens).isBetween(1L, 3L);
        // with thinking, the reasoning came first and used up the budget
        assertThat(whole.usage().orElseThrow().completionTokensDetails().orElseThrow().reasoningTokens()).hasValue(tokens);
        assertThat(reasoningOf(whole.choices().get(0).message()._additionalProperties())).isNotEmpty();
        assertThat(whole.choices().get(0).message().content()).hasValue("");
    }

    @Test
    void logprobsGiveEachContentTokenWithItsTopAlternativesWholeAndStreamed() {
        // Given a request for log probabilities with the three most likely tokens
        ChatCompletionCreateParams params = ask("Rate my odds").logprobs(true).topLogprobs(3).build();

        // When it is asked whole and streamed
        ChatCompletion whole = client.chat().completions().create(params);
        List<ChatCompletionChunk> chunks = stream(params);

        // Then the whole answer has one entry per content token, spelling the content, in UTF-8 bytes
        List<ChatCompletionTokenLogprob> tokens = whole.choices().get(0).logprobs().orElseThrow().content().orElseThrow();
        assertThat(tokens.stream().map(ChatCompletionTokenLogprob::token).reduce("", String::concat))
            .isEqualTo(whole.choices().get(0).message().content().orElseThrow());
        assertThat(tokens).allSatisfy(token -> {
            assertThat(token.bytes().orElseThrow()).hasSize(token.token().getBytes(StandardCharsets.UTF_8).length);
            assertThat(token.logprob()).isNegative();
            // the chosen token first among the three most likely, less likely ones after, all summing under one
            List<ChatCompletionTokenLogprob.TopLogprob> top = token.topLogprobs();
            assertThat(top).hasSize(3);
            assertThat(top.get(0).token()).isEqualTo(token.token());
            assertThat(top).extracting(ChatCompletionTokenLogprob.TopLogprob::logprob)
                .isSortedAccordingTo(Comparator.reverseOrder());
            assertThat(top.stream().mapToDouble(t -> Math.exp(t.logprob())).sum()).isLessThan(1.0);
        });
        // The stream: each content delta with its own token's entry, the same as the whole answer's
        List<ChatCompletionTokenLogprob> streamed = chunks.stream().flatMap(c -> c.choices().stream())
            .filter(choice -> choice.delta().content().filter(text -> !text.isEmpty()).isPresent())
            .flatMap(choice -> choice.logprobs().orElseThrow().content().orElseThrow().stream()).toList();
        assertThat(streamed).isEqualTo(tokens);
        // and none unless asked
        assertThat(client.chat().completions().create(ask("Rate my odds").build()).choices().get(0).logprobs())
            .isEmpty();
    }

    @Test
    void theSameRequestGetsTheSameAnswer() {
        ChatCompletionCreateParams params = thinking(ask("Deterministic?")).addTool(GetWeather.class)
            .toolChoice(ChatCompletionToolChoiceOption.Auto.REQUIRED).build();

        ChatCompletion first = client.chat().completions().create(params);
        ChatCompletion second = client.chat().completions().create(params);

        assertThat(second.choices().get(0).message()._additionalProperties())
            .isEqualTo(first.choices().get(0).message()._additionalProperties());
        assertThat(second.choices().get(0).message().toolCalls().orElseThrow().get(0).asFunction().function())
            .isEqualTo(first.choices().get(0).message().toolCalls().orElseThrow().get(0).asFunction().function());
        assertThat(second.usage()).isEqualTo(first.usage());
    }

    @Test
    void moreChoicesOrDimensionsThanOpenAiAllowsAreRefusedNamingTheParameter() {
        HttpResponse<String> choices = gateway.post("/v1/chat/completions", key, new JsonObject()
            .put("model", "mock-chat").put("n", 129)
            .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "hi"))).encode());
        HttpResponse<String> dimensions = gateway.post("/v1/embeddings", key, new JsonObject()
            .put("model", "mock-embedding").put("input", "hi").put("dimensions", 1_000_000).encode());

        for (var entry : Map.of("n", choices, "dimensions", dimensions).entrySet()) {
            assertThat(entry.getValue().statusCode()).as(entry.getKey()).isEqualTo(400);
            assertThat(new JsonObject(entry.getValue().body()).getJsonObject("error").getString("param"))
                .isEqualTo(entry.getKey());
        }
    }

    @Test
    void audioOutputAndPartsOtherThanTextAndImagesAreRefusedAsUnsupportedNotAnsweredAsIfRead() {
        // Given a request for speech, and questions about a recording and a video the mock cannot read
        JsonObject speech = new JsonObject().put("model", "mock-chat")
            .put("modalities", new JsonArray().add("text").add("audio"))
            .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "hi")));
        Map<String, JsonObject> parts = Map.of(
            "input_audio", new JsonObject().put("type", "input_audio")
                .put("input_audio", new JsonObject().put("data", "AAAA").put("format", "wav")),
            "video", new JsonObject().put("type", "video").put("url", "https://example.com/v.mp4"));

        // When each is asked, then it is refused as unsupported, naming what the mock cannot take
        HttpResponse<String> refused = gateway.post("/v1/chat/completions", key, speech.encode());
        assertThat(refused.statusCode()).isEqualTo(400);
        assertThat(new JsonObject(refused.body()).getJsonObject("error").getString("code"))
            .isEqualTo("unsupported_parameter");
        assertThat(new JsonObject(refused.body()).getJsonObject("error").getString("param")).isEqualTo("modalities");
        for (var part : parts.entrySet()) {
            JsonObject asked = new JsonObject().put("model", "mock-chat").put("messages", new JsonArray().add(
                new JsonObject().put("role", "user").put("content", new JsonArray()
                    .add(new JsonObject().put("type", "text").put("text", "what is in it?")).add(part.getValue()))));
            HttpResponse<String> answer = gateway.post("/v1/chat/completions", key, asked.encode());
            assertThat(answer.statusCode()).as(part.getKey()).isEqualTo(400);
            JsonObject error = new JsonObject(answer.body()).getJsonObject("error");
            assertThat(error.getString("code")).as(part.getKey()).isEqualTo("unsupported_parameter");
            assertThat(error.getString("param")).as(part.getKey()).isEqualTo("messages[0].content[1].type");
        }
        // and text only is answered as before, with an earlier answer's refusal part in the history
        speech.put("modalities", new JsonArray().add("text")).getJsonArray("messages")
            .add(new JsonObject().put("role", "assistant").put("content", new JsonArray()
                .add(new JsonObject().put("type", "refusal").put("refusal", "I cannot help with that."))))
            .add(new JsonObject().put("role", "user").put("content", "then say hello"));
        assertThat(gateway.post("/v1/chat/completions", key, speech.encode()).statusCode()).isEqualTo(200);
    }

    // ---- embeddings ------------------------------------------------------------------------------

    @Test
    void oneTokenArrayIsOneInputAndAnArrayOfThemOneEachCountedPerId() {
        // Given one token array, and two token arrays of which the first is the same
        JsonObject one = embed(new JsonArray().add(15339).add(1917).add(0));
        JsonObject two = embed(new JsonArray().add(new JsonArray().add(15339).add(1917).add(0))
            .add(new JsonArray().add(7)));

        // Then the first is one embedding of three tokens, the second two of four, equal inputs alike
        assertThat(one.getJsonArray("data")).hasSize(1);
        assertThat(one.getJsonObject("usage").getLong("prompt_tokens")).isEqualTo(3);
        assertThat(two.getJsonArray("data")).hasSize(2);
        assertThat(two.getJsonArray("data").getJsonObject(1).getInteger("index")).isEqualTo(1);
        assertThat(two.getJsonObject("usage").getLong("prompt_tokens")).isEqualTo(4);
        assertThat(two.getJsonArray("data").getJsonObject(0).getJsonArray("embedding"))
            .isEqualTo(one.getJsonArray("data").getJsonObject(0).getJsonArray("embedding"))
            .isNotEqualTo(two.getJsonArray("data").getJsonObject(1).getJsonArray("embedding"));
    }

    private static JsonObject embed(JsonArray input) {
        HttpResponse<String> response = gateway.post("/v1/embeddings", key, new JsonObject()
            .put("model", "mock-embedding").put("input", input).encode());
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return new JsonObject(response.body());
    }
}
