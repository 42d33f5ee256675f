package io.tokenhub.provider;

import static io.tokenhub.testing.OpenAiErrorAssert.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.models.FunctionDefinition;
import com.openai.models.ReasoningEffort;
import com.openai.models.FunctionParameters;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionMessageFunctionToolCall;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.CompletionUsage;
import io.tokenhub.core.TokenCounter;
import io.tokenhub.testing.FakeAnthropicUpstream;
import io.tokenhub.testing.FakeAnthropicUpstream.StreamFault;
import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * An anthropic-type provider behind the OpenAI-compatible API (PRODUCT.md §2, §9 "Anthropic
 * upstream"): text, tool calls and reasoning, whole and streamed, through the OpenAI SDK and raw
 * HTTP; usage with cache reads and cache writes, each at its own price; a stream Anthropic did not
 * count to the end billed from its input counts and an estimate of the delivered output; the
 * Anthropic headers; and an overloaded (529) Anthropic as a provider failure that falls back or
 * ends in 502.
 */
class AnthropicGatewayIT {

    private static final String UPSTREAM_MODEL = "claude-sonnet-4-5";

    static Vertx vertx;
    static FakeAnthropicUpstream anthropic;
    static FakeOpenAiUpstream backup;
    static TestGateway gateway;
    static String key;
    static OpenAIClient client;

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        anthropic = join(new FakeAnthropicUpstream(vertx).start());
        backup = new FakeOpenAiUpstream(vertx, "backup-model").start();
        gateway = TestGateway.start("""
            providers:
              - id: anthropic
                type: anthropic
                base_url: "%s"
                api_key: anthropic-provider-secret
                timeouts: { connect_ms: 500, first_byte_ms: 2000, idle_ms: 1000 }
                circuit_breaker: { max_failures: 50, window_ms: 10000, reset_ms: 1500 }
              - id: backup
                type: openai
                base_url: "%s"
                api_key: backup-provider-secret
            models:
              - id: claude
                context_window: 200000
                max_output_tokens: 8192
                default_max_tokens: 1024
                capabilities: [tools, vision, thinking]
                pricing: { input: 3.0, cached_input: 0.3, cache_write: 3.75, output: 15.0 }
                deployments: [ { provider: anthropic, model: %s } ]
              - id: claude-opus
                max_output_tokens: 8192
                capabilities: [thinking]
                deployments: [ { provider: anthropic, model: claude-opus-4-7 } ]
              - id: claude-premium
                pricing: { input: 10000, output: 10000 }
                deployments: [ { provider: anthropic, model: claude-premium } ]
              - id: claude-json
                capabilities: [structured_output, search]
                deployments: [ { provider: anthropic, model: claude-json } ]
              - id: claude-backed
                capabilities: [tools, vision, thinking, structured_output, search]
                deployments:
                  - { provider: anthropic, model: claude-backed, priority: 0 }
                  - { provider: backup, model: claude-backed, priority: 1 }
            """.formatted(anthropic.baseUrl(), backup.baseUrl(), UPSTREAM_MODEL), "");
        key = gateway.newKey();
        client = OpenAIOkHttpClient.builder().apiKey(key).baseUrl(gateway.baseUrl()).maxRetries(0).build();
    }

    @AfterAll
    static void stop() throws Exception {
        gateway.close();
        join(anthropic.close());
        backup.stop();
        vertx.close();
    }

    @BeforeEach
    void healthyUpstreams() {
        anthropic.reset();
        backup.reset();
    }

    // ---- text ---------------------------------------------------------------------------------

    @Test
    void nonStreamingTextComesBackInTheOpenAiShapeWithCachedTokensAndCost() {
        // Given Claude answers with text and reports 25 fresh + 100 cache-read input tokens
        anthropic.text("Hello", " from Claude.").usage(25, 100, 0, 12);

        // When the OpenAI SDK asks
        ChatCompletion completion = client.chat().completions().create(ChatCompletionCreateParams.builder()
            .model("claude").addSystemMessage("Be brief.").addUserMessage("Say hello").build());

        // Then the answer, model label, finish reason and usage are OpenAI's
        assertThat(completion.choices().get(0).message().content()).hasValue("Hello from Claude.");
        assertThat(completion.choices().get(0).finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.STOP);
        assertThat(completion.model()).isEqualTo("anthropic/" + UPSTREAM_MODEL);
        CompletionUsage usage = completion.usage().orElseThrow();
        assertThat(usage.promptTokens()).isEqualTo(125);
        assertThat(usage.completionTokens()).isEqualTo(12);
        assertThat(usage.totalTokens()).isEqualTo(137);
        assertThat(usage.promptTokensDetails().orElseThrow().cachedTokens()).hasValue(100L);
        // 25 × 3.0 + 100 × 0.3 + 12 × 15.0 = 75 + 30 + 180 = 285 micro-USD
        assertThat(usage._additionalProperties().get("cost").convert(Double.class)).isEqualTo(0.000285);
    }

    @Test
    void requestReachesAnthropicWithItsOwnHeadersAndShape() {
        // Given Claude answers with text
        anthropic.text("ok");

        // When a request arrives
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key, """
            {"model": "claude", "messages": [{"role": "system", "content": "Be brief."},
                                             {"role": "user", "content": "hi"}]}
            """);

        // Then the upstream saw the Messages API with x-api-key and anthropic-version, and no Authorization
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("anthropic");
        FakeAnthropicUpstream.Recorded sent = anthropic.requests().get(0);
        assertThat(sent.method()).isEqualTo("POST");
        assertThat(sent.path()).isEqualTo("/v1/messages");
        assertThat(sent.headers().get("x-api-key")).isEqualTo("anthropic-provider-secret");
        assertThat(sent.headers().get("anthropic-version")).isEqualTo("2023-06-01");
        assertThat(sent.headers().contains("Authorization")).isFalse();
        assertThat(sent.headers().toString()).doesNotContain(key);
        assertThat(sent.body().getString("model")).isEqualTo(UPSTREAM_MODEL);
        assertThat(sent.body().getInteger("max_tokens")).isEqualTo(1024);
        assertThat(sent.body().encode()).contains("Be brief.");
        assertThat(sent.body().getJsonArray("messages")).hasSize(1);
    }

    @Test
    void streamedTextArrivesAsOpenAiChunksWithUsageWhenAsked() {
        // Given Claude streams text
        anthropic.text("Hello", " from", " Claude.").usage(25, 100, 0, 12);

        // When the OpenAI SDK streams with include_usage
        List<ChatCompletionChunk> chunks = stream(ChatCompletionCreateParams.builder().model("claude")
            .addUserMessage("Stream please")
            .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build());

        // Then the text, the model label and the final usage chunk are OpenAI's
        StringBuilder text = new StringBuilder();
        chunks.forEach(c -> c.choices().forEach(choice -> choice.delta().content().ifPresent(text::append)));
        assertThat(text.toString()).isEqualTo("Hello from Claude.");
        assertThat(chunks).allSatisfy(c -> assertThat(c.model()).isEqualTo("anthropic/" + UPSTREAM_MODEL));
        assertThat(finishReasons(chunks)).containsExactly(ChatCompletionChunk.Choice.FinishReason.STOP);
        ChatCompletionChunk last = chunks.get(chunks.size() - 1);
        assertThat(last.choices()).isEmpty();
        CompletionUsage usage = last.usage().orElseThrow();
        assertThat(usage.promptTokens()).isEqualTo(125);
        assertThat(usage.completionTokens()).isEqualTo(12);
        assertThat(usage.promptTokensDetails().orElseThrow().cachedTokens()).hasValue(100L);
        assertThat(usage._additionalProperties().get("cost").convert(Double.class)).isEqualTo(0.000285);
        assertThat(anthropic.requests().get(0).body().getBoolean("stream")).isTrue();
    }

    @Test
    void usageRecordCarriesAnthropicsCountsAndCachedTokens() {
        // Given Claude reports cache reads
        anthropic.text("Hello").usage(25, 100, 0, 12);

        // When a request is served
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key,
            "{\"model\":\"claude\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        // Then its usage record has the provider's counts, priced with the cached input price
        Map<String, Object> row = usageRecord(response);
        assertThat(row.get("provider")).isEqualTo("anthropic");
        assertThat(row.get("deployment")).isEqualTo(UPSTREAM_MODEL);
        assertThat(row.get("prompt_tokens")).isEqualTo(125);
        assertThat(row.get("cached_tokens")).isEqualTo(100);
        assertThat(row.get("completion_tokens")).isEqualTo(12);
        assertThat(row.get("cost_micro_usd")).isEqualTo(285L);
        assertThat(row.get("estimated")).isEqualTo(false);
        assertThat(row.get("status")).isEqualTo(200);
    }

    @Test
    void cacheWritesAreChargedAtTheCacheWritePriceInTheResponseTheRecordAndTheLogs() {
        // Given Claude reports 25 fresh input tokens, 100 read from the cache and 40 written to it
        anthropic.text("Hello").usage(25, 100, 40, 12);
        JsonObject ownKey = gateway.newKey(new JsonObject());

        // When the OpenAI SDK asks
        ChatCompletion completion = clientFor(ownKey).chat().completions().create(ChatCompletionCreateParams.builder()
            .model("claude").addUserMessage("Say hello").build());

        // Then prompt_tokens counts all three, and the SDK parses the write count as an extra property
        CompletionUsage usage = completion.usage().orElseThrow();
        assertThat(usage.promptTokens()).isEqualTo(165);
        assertThat(usage.promptTokensDetails().orElseThrow().cachedTokens()).hasValue(100L);
        assertThat(cacheWriteTokens(usage)).isEqualTo(40);
        // 25 × 3.0 + 100 × 0.3 + 40 × 3.75 + 12 × 15.0 = 75 + 30 + 150 + 180 = 435 micro-USD
        assertThat(usage._additionalProperties().get("cost").convert(Double.class)).isEqualTo(0.000435);
        assertRecordAndLogCharge(ownKey, 165, 100, 40, 435);
    }

    @Test
    void streamedCacheWritesFromMessageStartAreChargedInTheUsageChunkAndTheRecord() {
        // Given Claude streams, with its cache counts on message_start
        anthropic.text("Hello", " again").usage(25, 100, 40, 12);
        JsonObject ownKey = gateway.newKey(new JsonObject());

        // When the OpenAI SDK streams with include_usage
        List<ChatCompletionChunk> chunks = stream(clientFor(ownKey), ChatCompletionCreateParams.builder()
            .model("claude").addUserMessage("Stream please")
            .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build());

        // Then the usage chunk and the record carry the write and its charge, as in the whole answer
        CompletionUsage usage = chunks.get(chunks.size() - 1).usage().orElseThrow();
        assertThat(usage.promptTokens()).isEqualTo(165);
        assertThat(cacheWriteTokens(usage)).isEqualTo(40);
        assertThat(usage._additionalProperties().get("cost").convert(Double.class)).isEqualTo(0.000435);
        assertRecordAndLogCharge(ownKey, 165, 100, 40, 435);
    }

    @Test
    void aWholeDollarCostIsAPlainDecimalOnTheWireWholeAndStreamed() {
        // Given 500 + 500 tokens at 10000 USD per 1M: exactly 10 USD, which BigDecimal would write 1E+1
        anthropic.text("Pricey").usage(500, 0, 0, 500);
        String ownKey = gateway.newKey(new JsonObject()).getString("key");

        // When it is asked for whole and streamed with usage
        HttpResponse<String> whole = gateway.post("/v1/chat/completions", ownKey,
            "{\"model\":\"claude-premium\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        HttpResponse<String> streamed = gateway.post("/v1/chat/completions", ownKey, """
            {"model": "claude-premium", "stream": true, "stream_options": {"include_usage": true},
             "messages": [{"role": "user", "content": "hi"}]}""");

        // Then both usage objects say "cost":10 in the JSON text
        assertThat(whole.statusCode()).isEqualTo(200);
        assertThat(costTexts(whole.body())).containsExactly("10");
        assertThat(streamed.statusCode()).isEqualTo(200);
        assertThat(costTexts(streamed.body())).containsExactly("10");
    }

    // ---- tools --------------------------------------------------------------------------------

    @Test
    void toolUseComesBackAsToolCalls() {
        // Given Claude decides to call a tool
        anthropic.text("Let me look that up.").toolUse("toolu_01A", "get_weather", "{\"city\": ", "\"Paris\"}")
            .stopReason("tool_use");

        // When the OpenAI SDK asks with a function tool
        ChatCompletion completion = client.chat().completions().create(withWeatherTool(
            ChatCompletionCreateParams.builder().model("claude").addUserMessage("Weather in Paris?")));

        // Then the tool call has Anthropic's id, the name and the arguments, and finish_reason tool_calls
        ChatCompletion.Choice choice = completion.choices().get(0);
        assertThat(choice.finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.TOOL_CALLS);
        ChatCompletionMessageFunctionToolCall call = choice.message().toolCalls().orElseThrow().get(0).asFunction();
        assertThat(call.id()).isEqualTo("toolu_01A");
        assertThat(call.function().name()).isEqualTo("get_weather");
        assertThat(new JsonObject(call.function().arguments())).isEqualTo(new JsonObject().put("city", "Paris"));
        // And the tool reached Anthropic in its own shape
        JsonObject tool = anthropic.requests().get(0).body().getJsonArray("tools").getJsonObject(0);
        assertThat(tool.getString("name")).isEqualTo("get_weather");
        assertThat(tool.getJsonObject("input_schema").getString("type")).isEqualTo("object");
    }

    @Test
    void streamedToolUseComesBackAsToolCallDeltas() {
        // Given Claude streams a tool call in fragments
        anthropic.toolUse("toolu_01B", "get_weather", "{\"city\"", ": \"Par", "is\"}").stopReason("tool_use");

        // When the OpenAI SDK streams
        List<ChatCompletionChunk> chunks = stream(withWeatherTool(
            ChatCompletionCreateParams.builder().model("claude").addUserMessage("Weather in Paris?")));

        // Then the deltas assemble into one tool call with id, name and arguments
        List<ChatCompletionChunk.Choice.Delta.ToolCall> deltas = new ArrayList<>();
        chunks.forEach(c -> c.choices().forEach(choice -> choice.delta().toolCalls().ifPresent(deltas::addAll)));
        assertThat(deltas).isNotEmpty().allSatisfy(d -> assertThat(d.index()).isZero());
        assertThat(deltas.get(0).id()).hasValue("toolu_01B");
        assertThat(deltas.get(0).function().orElseThrow().name()).hasValue("get_weather");
        StringBuilder arguments = new StringBuilder();
        deltas.forEach(d -> d.function().flatMap(ChatCompletionChunk.Choice.Delta.ToolCall.Function::arguments)
            .ifPresent(arguments::append));
        assertThat(new JsonObject(arguments.toString())).isEqualTo(new JsonObject().put("city", "Paris"));
        assertThat(finishReasons(chunks)).containsExactly(ChatCompletionChunk.Choice.FinishReason.TOOL_CALLS);
    }

    @Test
    void aPromptMarkedForCachingIsCachedAtAnthropicAndItsWritesComeBackCounted() {
        // Given Claude writes the marked prefix to its cache
        anthropic.text("ok").usage(12, 0, 2048, 3);

        // When the client marks its long system prompt, as clients of gateways in front of Anthropic do
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key, """
            {"model": "claude", "max_tokens": 64,
             "messages": [{"role": "system", "content": [
                            {"type": "text", "text": "A long manual.", "cache_control": {"type": "ephemeral"}}]},
                          {"role": "user", "content": "Chapter one?"}]}
            """);

        // Then Anthropic was asked to cache it
        assertThat(response.statusCode()).isEqualTo(200);
        JsonObject sent = anthropic.requests().get(0).body();
        assertThat(sent.getJsonArray("system")).isEqualTo(new JsonArray().add(new JsonObject().put("type", "text")
            .put("text", "A long manual.").put("cache_control", new JsonObject().put("type", "ephemeral"))));
        // And the written tokens are in the prompt, reported apart
        JsonObject usage = new JsonObject(response.body()).getJsonObject("usage");
        assertThat(usage.getLong("prompt_tokens")).isEqualTo(12 + 2048);
        assertThat(usage.getJsonObject("prompt_tokens_details").getLong("cache_write_tokens")).isEqualTo(2048);
    }

    // ---- reasoning ----------------------------------------------------------------------------

    @Test
    void thinkingComesBackAsReasoningContentOnTheMessage() {
        // Given Claude thinks before it answers
        anthropic.thinking("Two plus two", " is four.").text("4");

        // When enable_thinking is requested
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key, """
            {"model": "claude", "enable_thinking": true, "max_tokens": 2048,
             "messages": [{"role": "user", "content": "2+2?"}]}
            """);

        // Then the reasoning is reasoning_content beside the content
        assertThat(response.statusCode()).isEqualTo(200);
        JsonObject message = new JsonObject(response.body()).getJsonArray("choices").getJsonObject(0)
            .getJsonObject("message");
        assertThat(message.getString("reasoning_content")).isEqualTo("Two plus two is four.");
        assertThat(message.getString("content")).isEqualTo("4");
        // And Anthropic was asked for extended thinking, not sent TokenHub's extension
        JsonObject sent = anthropic.requests().get(0).body();
        assertThat(sent.getJsonObject("thinking").getString("type")).isEqualTo("enabled");
        assertThat(sent.getJsonObject("thinking").getInteger("budget_tokens"))
            .isLessThan(sent.getInteger("max_tokens"));
        assertThat(sent.containsKey("enable_thinking")).isFalse();
    }

    @Test
    void anOpenAiSdksReasoningEffortAsksTheNewestClaudeToThinkAdaptively() {
        // Given a Claude that only thinks adaptively and refuses sampling parameters
        anthropic.thinking("Carry the one.").text("42");

        // When an OpenAI SDK asks for high reasoning effort, with the temperature it likes to send
        ChatCompletion completion = client.chat().completions().create(ChatCompletionCreateParams.builder()
            .model("claude-opus").addUserMessage("6*7?").reasoningEffort(ReasoningEffort.HIGH).temperature(0.7)
            .maxCompletionTokens(4096).build());

        // Then the reasoning comes back beside the answer
        assertThat(completion.choices().get(0).message().content()).contains("42");
        assertThat(completion.choices().get(0).message()._additionalProperties().get("reasoning_content"))
            .isEqualTo(JsonValue.from("Carry the one."));
        // And Anthropic was asked in the words this model takes
        JsonObject sent = anthropic.requests().get(0).body();
        assertThat(sent.getString("model")).isEqualTo("claude-opus-4-7");
        assertThat(sent.getJsonObject("thinking"))
            .isEqualTo(new JsonObject().put("type", "adaptive").put("display", "summarized"));
        assertThat(sent.getJsonObject("output_config")).isEqualTo(new JsonObject().put("effort", "high"));
        assertThat(sent.fieldNames()).doesNotContain("temperature", "reasoning_effort", "budget_tokens");
        assertThat(sent.getInteger("max_tokens")).isEqualTo(4096);
    }

    @Test
    void streamedThinkingComesBackAsReasoningContentDeltasBeforeTheContent() {
        // Given Claude streams its thinking, then the answer
        anthropic.thinking("Two plus two", " is four.").text("The answer", " is 4.");

        // When a stream with enable_thinking is requested
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key, """
            {"model": "claude", "stream": true, "enable_thinking": true, "max_tokens": 2048,
             "messages": [{"role": "user", "content": "2+2?"}]}
            """);

        // Then reasoning_content deltas come first, then content deltas, then [DONE]
        assertThat(response.statusCode()).isEqualTo(200);
        StringBuilder reasoning = new StringBuilder();
        StringBuilder content = new StringBuilder();
        List<String> order = new ArrayList<>();
        List<String> data = dataLines(response.body());
        assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
        for (String line : data.subList(0, data.size() - 1)) {
            JsonObject chunk = new JsonObject(line);
            assertThat(chunk.getString("model")).isEqualTo("anthropic/" + UPSTREAM_MODEL);
            for (Object c : chunk.getJsonArray("choices")) {
                JsonObject delta = ((JsonObject) c).getJsonObject("delta");
                if (delta.getValue("reasoning_content") instanceof String r && !r.isEmpty()) {
                    reasoning.append(r);
                    order.add("reasoning");
                }
                if (delta.getValue("content") instanceof String t && !t.isEmpty()) {
                    content.append(t);
                    order.add("content");
                }
            }
        }
        assertThat(reasoning.toString()).isEqualTo("Two plus two is four.");
        assertThat(content.toString()).isEqualTo("The answer is 4.");
        assertThat(order.indexOf("content")).isGreaterThan(order.lastIndexOf("reasoning"));
        assertThat(response.body()).doesNotContain("signature");
    }

    // ---- vision -------------------------------------------------------------------------------

    @Test
    void imagePartsReachAnthropicAsImageBlocks() {
        // Given Claude answers
        anthropic.text("A red pixel.");

        // When a message carries an image by URL and one as a data URL
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key, """
            {"model": "claude", "messages": [{"role": "user", "content": [
              {"type": "text", "text": "What is this?"},
              {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
              {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]}
            """);

        // Then Anthropic received image blocks with url and base64 sources
        assertThat(response.statusCode()).isEqualTo(200);
        JsonArray content = anthropic.requests().get(0).body().getJsonArray("messages").getJsonObject(0)
            .getJsonArray("content");
        List<JsonObject> images = content.stream().map(JsonObject.class::cast)
            .filter(b -> "image".equals(b.getString("type"))).toList();
        assertThat(images).hasSize(2);
        assertThat(images.get(0).getJsonObject("source")).isEqualTo(new JsonObject().put("type", "url")
            .put("url", "https://example.com/cat.png"));
        assertThat(images.get(1).getJsonObject("source").getString("type")).isEqualTo("base64");
        assertThat(images.get(1).getJsonObject("source").getString("media_type")).isEqualTo("image/png");
        assertThat(images.get(1).getJsonObject("source").getString("data")).isEqualTo("iVBORw0KGgo=");
    }

    // ---- failures -----------------------------------------------------------------------------

    @Test
    void overloadedAnthropicFallsBackToTheNextDeployment() {
        // Given Anthropic is overloaded (529)
        anthropic.failWith(529, "overloaded_error", "Overloaded");

        // When a request for a model with a second deployment arrives
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key,
            "{\"model\":\"claude-backed\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        // Then the next deployment served it
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("backup");
        assertThat(anthropic.requests()).hasSize(1);
        assertThat(backup.requests()).hasSize(1);
        assertThat(usageRecord(response).get("fallback")).isEqualTo(true);
    }

    @Test
    void overloadedAnthropicAsTheLastCandidateIs502NamingIt() {
        // Given Anthropic is overloaded (529)
        anthropic.failWith(529, "overloaded_error", "Overloaded");

        // When a request for a model it alone serves arrives
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key,
            "{\"model\":\"claude\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        // Then it is 502 provider_error naming the provider and the reason
        assertThat(response.statusCode()).isEqualTo(502);
        JsonObject error = new JsonObject(response.body()).getJsonObject("error");
        assertThat(error.getString("code")).isEqualTo("provider_error");
        assertThat(error.getString("provider")).isEqualTo("anthropic");
        assertThat(error.getString("message")).contains("anthropic").contains("529").contains("Overloaded");
    }

    /**
     * What the Messages API has no counterpart for: JSON mode, web search (a server tool billed per
     * search), log probabilities. Until 2026-12-07 the last two were dropped, and the answer came
     * without them and with no word why (an audit).
     */
    @ParameterizedTest
    @ValueSource(strings = {"response_format", "enable_search", "logprobs"})
    void whatTheMessagesApiCannotHonourGoesToTheNextProviderWithoutACallToAnthropic(String field) {
        // When a request asks for it of a model that Anthropic serves first and an OpenAI-compatible
        // provider next
        HttpResponse<String> response = asking("claude-backed", field);

        // Then the next provider serves it, and Anthropic was never called (it would have answered without)
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("backup");
        assertThat(backup.lastRequest().body().containsKey(field)).as(backup.lastRequest().body().encode()).isTrue();
        assertThat(anthropic.requests()).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"response_format", "enable_search", "logprobs"})
    void whatTheMessagesApiCannotHonourIsA400NamingTheFieldWhenNoOtherProviderServes(String field) {
        // When a request asks for it of a model only Anthropic serves
        HttpResponse<String> response = asking("claude-json", field);

        // Then it is refused as unsupported, naming the field, instead of answered without it
        JsonObject error = assertOpenAiError(response, 400, "invalid_request_error", "unsupported_parameter", field);
        assertThat(error.getString("provider")).isEqualTo("anthropic");
        assertThat(anthropic.requests()).isEmpty();
    }

    /** A chat request of the model asking for JSON mode, web search or log probabilities. */
    private static HttpResponse<String> asking(String model, String field) {
        String asked = switch (field) {
            case "response_format" -> "\"response_format\": {\"type\": \"json_object\"}";
            case "enable_search" -> "\"enable_search\": true";
            default -> "\"logprobs\": true, \"top_logprobs\": 2";
        };
        return gateway.post("/v1/chat/completions", key, """
            {"model": "%s", %s, "messages": [{"role": "user", "content": "hi"}]}""".formatted(model, asked));
    }

    @Test
    void anthropicsPromptTooLongIsContextLengthExceeded() {
        // Given Anthropic's tokenizer finds the prompt over the window where the gateway's estimate did not
        anthropic.failWith(400, "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum");

        // When the request arrives
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key, """
            {"model": "claude", "messages": [{"role": "user", "content": "a long history"}]}""");

        // Then the client gets OpenAI's code for it, which SDK users match on to shorten their history
        JsonObject error = new JsonObject(response.body()).getJsonObject("error");
        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(error.getString("code")).as(error.encode()).isEqualTo("context_length_exceeded");
        assertThat(error.getString("message")).contains("prompt is too long");
    }

    @Test
    void anthropicsInvalidRequestIsTheCallersErrorAndIsNotRetriedElsewhere() {
        // Given Anthropic rejects the request
        anthropic.failWith(400, "invalid_request_error", "messages: roles must alternate");

        // When a request for a model with a second deployment arrives
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key,
            "{\"model\":\"claude-backed\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        // Then the 400 is returned in the OpenAI shape and the other deployment is not asked
        assertThat(response.statusCode()).isEqualTo(400);
        JsonObject error = new JsonObject(response.body()).getJsonObject("error");
        assertThat(error.getString("type")).isEqualTo("invalid_request_error");
        assertThat(error.getString("message")).contains("roles must alternate");
        assertThat(backup.requests()).isEmpty();
    }

    @Test
    void streamThatGoesQuietAfterContentEndsWithATimeoutErrorEvent() {
        // Given Claude streams its first text delta, then goes quiet with the connection open
        anthropic.text("Hello", " never", " sent").streamFault(FakeAnthropicUpstream.StreamFault.STALL, 4);

        // When a stream is requested
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key,
            "{\"model\":\"claude\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        // Then after idle_ms the client's stream ends with an upstream_timeout error event and [DONE]
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body()).contains("\"Hello\"").doesNotContain("never");
        List<String> data = dataLines(response.body());
        assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
        assertThat(response.body()).contains("event: error\ndata: ");
        JsonObject error = new JsonObject(data.get(data.size() - 2)).getJsonObject("error");
        assertThat(error.getString("code")).isEqualTo("upstream_timeout");
        assertThat(error.getString("provider")).isEqualTo("anthropic");
    }

    @Test
    void streamWhoseBodyStaysOpenAfterMessageStopEndsWithTheWholeAnswer() {
        // Given Claude streams a whole answer to message_stop, then keeps the body open
        // (message_start, content_block_start, ping, 2 deltas, content_block_stop, message_delta, message_stop)
        anthropic.text("Hello", " world").streamFault(StreamFault.STALL, 8);
        JsonObject ownKey = gateway.newKey(new JsonObject());

        // When a stream with usage is requested
        HttpResponse<String> response = gateway.post("/v1/chat/completions", ownKey.getString("key"), """
            {"model": "claude", "stream": true, "stream_options": {"include_usage": true},
             "messages": [{"role": "user", "content": "hi"}]}""");

        // Then it ends well at message_stop: usage, [DONE], no error after the answer, a 200 record
        // (it was an upstream_timeout after idle_ms, and a failure against the provider's circuit)
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body()).contains("\"Hello\"").contains("\"finish_reason\":\"stop\"")
            .doesNotContain("event: error");
        List<String> data = dataLines(response.body());
        assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
        assertThat(new JsonObject(data.get(data.size() - 2)).getJsonObject("usage")).isNotNull();
        assertThat(onlyRecordOf(ownKey)).containsEntry("status", 200).containsEntry("estimated", false);
    }

    // ---- usage of streams without Anthropic's output count --------------------------------------

    @ParameterizedTest
    @EnumSource(value = StreamFault.class, names = {"DROP", "END", "ERROR_EVENT"})
    void streamBrokenOffAfterContentIsBilledFromMessageStartsInputAndTheDeliveredOutputEstimated(StreamFault fault) {
        // Given Claude counts 25 fresh, 100 cache-read and 40 cache-written input tokens on message_start
        // (with its placeholder output_tokens: 1), streams 100 words, then breaks off before message_delta
        List<String> words = Collections.nCopies(100, " word");
        // message_start, content_block_start, ping, the deltas, content_block_stop
        anthropic.text(words.toArray(String[]::new)).usage(25, 100, 40, 12).streamFault(fault, words.size() + 4);
        JsonObject ownKey = gateway.newKey(new JsonObject());

        // When a stream is requested
        HttpResponse<String> response = gateway.post("/v1/chat/completions", ownKey.getString("key"),
            "{\"model\":\"claude\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        // Then the client gets the 100 words, then an error event and [DONE]
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(contents(response.body())).containsExactlyElementsOf(words);
        List<String> data = dataLines(response.body());
        assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
        assertThat(response.body()).contains("event: error\ndata: ");
        // And the failure's record has Anthropic's input counts and the tokenizer's count of the words, marked so
        long output = TokenCounter.count(String.join("", words));
        // 25 × 3.0 + 100 × 0.3 + 40 × 3.75 + output × 15.0 micro-USD
        assertRecordAndLogCharge(ownKey, 165, 100, 40, 255 + 15 * output);
        assertThat(onlyRecordOf(ownKey)).containsEntry("status", 502).containsEntry("completion_tokens", (int) output)
            .containsEntry("estimated", true);
    }

    @Test
    void streamTheClientLeavesIsBilledFromMessageStartsInputAndTheDeliveredOutputEstimated() {
        // Given Claude counts its input on message_start, streams two text deltas, then goes quiet
        anthropic.text("Hello", " world", " never", " sent").usage(25, 100, 40, 12).streamFault(StreamFault.STALL, 5);
        JsonObject ownKey = gateway.newKey(new JsonObject());

        // When the client reads the second delta and goes away
        try (StreamResponse<ChatCompletionChunk> stream = clientFor(ownKey).chat().completions().createStreaming(
            ChatCompletionCreateParams.builder().model("claude").addUserMessage("Stream please").build())) {
            assertThat(stream.stream().anyMatch(c -> c.choices().stream()
                .anyMatch(choice -> choice.delta().content().filter(" world"::equals).isPresent()))).isTrue();
        }

        // Then its record (499) has Anthropic's input counts and the delivered output estimated, marked so
        long output = TokenCounter.count("Hello world");
        assertRecordAndLogCharge(ownKey, 165, 100, 40, 255 + 15 * output);
        assertThat(onlyRecordOf(ownKey)).containsEntry("status", 499).containsEntry("completion_tokens", (int) output)
            .containsEntry("estimated", true);
    }

    @Test
    void streamWhoseMessageDeltaCarriesNoUsageIsBilledWithTheOutputEstimatedAndSaysSo() {
        // Given Claude streams a whole answer, but its message_delta carries no usage
        anthropic.text("Hello", " from", " Claude.").usage(25, 100, 40, 12).withoutFinalUsage();
        JsonObject ownKey = gateway.newKey(new JsonObject());

        // When the OpenAI SDK streams with include_usage
        List<ChatCompletionChunk> chunks = stream(clientFor(ownKey), ChatCompletionCreateParams.builder()
            .model("claude").addUserMessage("Stream please")
            .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build());

        // Then the usage chunk has Anthropic's input counts and the delivered output estimated, marked so
        long output = TokenCounter.count("Hello from Claude.");
        CompletionUsage usage = chunks.get(chunks.size() - 1).usage().orElseThrow();
        assertThat(usage.promptTokens()).isEqualTo(165);
        assertThat(usage.completionTokens()).isEqualTo(output);
        assertThat(usage._additionalProperties().get("estimated").convert(Boolean.class)).isTrue();
        // And so has the record, priced alike
        assertRecordAndLogCharge(ownKey, 165, 100, 40, 255 + 15 * output);
        assertThat(onlyRecordOf(ownKey)).containsEntry("status", 200).containsEntry("completion_tokens", (int) output)
            .containsEntry("estimated", true);
    }

    @Test
    void streamWhoseMessageDeltaCountsZeroOutputTokensIsBilledZeroNotAnEstimate() {
        // Given Claude streams text, but counts 0 output tokens on message_delta
        anthropic.text("Hello").usage(25, 0, 0, 0);
        JsonObject ownKey = gateway.newKey(new JsonObject());

        // When a stream is requested
        HttpResponse<String> response = gateway.post("/v1/chat/completions", ownKey.getString("key"),
            "{\"model\":\"claude\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        // Then the record has the provider's zero, not an estimate
        assertThat(response.statusCode()).isEqualTo(200);
        assertRecordAndLogCharge(ownKey, 25, 0, 0, 75);
        assertThat(onlyRecordOf(ownKey)).containsEntry("status", 200).containsEntry("completion_tokens", 0)
            .containsEntry("estimated", false);
    }

    // ---- helpers ------------------------------------------------------------------------------

    private static ChatCompletionCreateParams withWeatherTool(ChatCompletionCreateParams.Builder params) {
        return params.addFunctionTool(FunctionDefinition.builder().name("get_weather")
            .description("Current weather of a city")
            .parameters(FunctionParameters.builder()
                .putAdditionalProperty("type", JsonValue.from("object"))
                .putAdditionalProperty("properties", JsonValue.from(Map.of("city", Map.of("type", "string"))))
                .putAdditionalProperty("required", JsonValue.from(List.of("city")))
                .build())
            .build()).build();
    }

    private static List<ChatCompletionChunk> stream(ChatCompletionCreateParams params) {
        return stream(client, params);
    }

    private static List<ChatCompletionChunk> stream(OpenAIClient sdk, ChatCompletionCreateParams params) {
        List<ChatCompletionChunk> chunks = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = sdk.chat().completions().createStreaming(params)) {
            stream.stream().forEach(chunks::add);
        }
        return chunks;
    }

    private static List<ChatCompletionChunk.Choice.FinishReason> finishReasons(List<ChatCompletionChunk> chunks) {
        List<ChatCompletionChunk.Choice.FinishReason> reasons = new ArrayList<>();
        chunks.forEach(c -> c.choices().forEach(choice -> choice.finishReason().ifPresent(reasons::add)));
        return reasons;
    }

    /** The {@code data:} payloads of an SSE body, in order. */
    private static List<String> dataLines(String body) {
        List<String> data = new ArrayList<>();
        for (String line : body.split("\n")) {
            if (line.startsWith("data: ")) {
                data.add(line.substring("data: ".length()));
            }
        }
        return data;
    }

    /** The {@code content} deltas of an SSE body's chunks, in order. */
    private static List<String> contents(String body) {
        List<String> contents = new ArrayList<>();
        for (String line : dataLines(body)) {
            if (line.startsWith("{") && new JsonObject(line).getValue("choices") instanceof JsonArray choices) {
                choices.stream().map(c -> ((JsonObject) c).getJsonObject("delta").getString("content"))
                    .filter(t -> t != null && !t.isEmpty()).forEach(contents::add);
            }
        }
        return contents;
    }

    /** The shared client (and its connections) with another key. */
    private static OpenAIClient clientFor(JsonObject createdKey) {
        return client.withOptions(options -> options.replaceHeaders("Authorization",
            "Bearer " + createdKey.getString("key")));
    }

    private static long cacheWriteTokens(CompletionUsage usage) {
        return usage.promptTokensDetails().orElseThrow()._additionalProperties().get("cache_write_tokens")
            .convert(Long.class);
    }

    /** The raw text of every {@code "cost":} value in a response body, in order. */
    private static List<String> costTexts(String body) {
        List<String> costs = new ArrayList<>();
        Matcher cost = Pattern.compile("\"cost\":([^,}]*)").matcher(body);
        while (cost.find()) {
            costs.add(cost.group(1));
        }
        return costs;
    }

    /** The key's one usage record, and its row in {@code /admin/v1/logs}, show these counts and this cost. */
    private static void assertRecordAndLogCharge(JsonObject createdKey, int prompt, int cached, int cacheWrite,
                                                 long costMicroUsd) {
        String keyId = createdKey.getString("id");
        Map<String, Object> row = onlyRecordOf(createdKey);
        assertThat(row.get("prompt_tokens")).isEqualTo(prompt);
        assertThat(row.get("cached_tokens")).isEqualTo(cached);
        assertThat(row.get("cache_write_tokens")).isEqualTo(cacheWrite);
        assertThat(row.get("cost_micro_usd")).isEqualTo(costMicroUsd);
        JsonArray logs = gateway.adminOk("GET", "/admin/v1/logs?key_id=" + keyId, null).getJsonArray("data");
        assertThat(logs).hasSize(1);
        assertThat(logs.getJsonObject(0).getInteger("cache_write_tokens")).isEqualTo(cacheWrite);
        assertThat(logs.getJsonObject(0).getLong("cost_micro_usd")).isEqualTo(costMicroUsd);
        JsonArray usage = gateway.adminOk("GET", "/admin/v1/usage?key_id=" + keyId + "&group_by=model", null)
            .getJsonArray("data");
        assertThat(usage).hasSize(1);
        assertThat(usage.getJsonObject(0).getLong("cached_tokens")).isEqualTo(cached);
        assertThat(usage.getJsonObject(0).getLong("cache_write_tokens")).isEqualTo(cacheWrite);
    }

    /** The key's usage record, once written; fails if it has more than one. */
    private static Map<String, Object> onlyRecordOf(JsonObject createdKey) {
        String keyId = createdKey.getString("id");
        TestGateway.eventually(() -> gateway.database().count(
            "SELECT count(*) FROM usage_records WHERE key_id = ?", keyId) > 0, 10_000, "the usage record of " + keyId);
        List<Map<String, Object>> rows = gateway.database().query(
            "SELECT * FROM usage_records WHERE key_id = ?", keyId);
        assertThat(rows).hasSize(1);
        return rows.get(0);
    }

    private static Map<String, Object> usageRecord(HttpResponse<String> response) {
        String requestId = response.headers().firstValue("X-Request-Id").orElseThrow();
        TestGateway.eventually(() -> !gateway.database().query(
            "SELECT request_id FROM usage_records WHERE request_id = ?", requestId).isEmpty(), 10_000,
            "the usage record of " + requestId);
        List<Map<String, Object>> rows = gateway.database().query(
            "SELECT * FROM usage_records WHERE request_id = ?", requestId);
        assertThat(rows).hasSize(1);
        return rows.get(0);
    }

    private static <T> T join(Future<T> future) throws Exception {
        return future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
