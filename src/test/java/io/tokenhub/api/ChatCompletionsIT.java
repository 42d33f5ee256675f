package io.tokenhub.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeUpstreamGateway;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Chat completions through a real OpenAI client, against a fake OpenAI-compatible upstream. */
class ChatCompletionsIT {

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("gpt-4o-mini-2024-07-18", """
        providers:
          - { id: openai, type: openai, base_url: "%s", api_key: provider-secret-key }
        models:
          - id: gpt-4o-mini
            aliases: [mini]
            context_window: 1000
            max_output_tokens: 300
            default_max_tokens: 200
            capabilities: [tools]
            pricing: { input: 0.15, cached_input: 0.075, output: 0.60 }
            deployments: [ { provider: openai, model: gpt-4o-mini } ]
        """, "server: { port: 0, management_port: 0, instances: 1, max_body_bytes: 1048576 }");

    static FakeOpenAiUpstream upstream;
    static TestGateway gateway;
    static String key;
    static OpenAIClient client;

    @BeforeAll
    static void start() {
        upstream = hub.upstream();
        gateway = hub.gateway();
        key = gateway.newKey();
        client = OpenAIOkHttpClient.builder().apiKey(key).baseUrl(gateway.baseUrl()).maxRetries(0).build();
    }

    @Test
    void nonStreamingCompletionIsParsedByTheOpenAiSdk() {
        ChatCompletion completion = client.chat().completions().create(ChatCompletionCreateParams.builder()
            .model("gpt-4o-mini").addUserMessage("Say hello").build());

        assertThat(completion.choices().get(0).message().content()).contains("Hello from the fake upstream.");
        assertThat(completion.model()).isEqualTo("openai/gpt-4o-mini-2024-07-18");
        assertThat(completion.usage().orElseThrow().promptTokens()).isEqualTo(11);
        assertThat(completion.usage().orElseThrow().completionTokens()).isEqualTo(5);
        assertThat(completion.usage().orElseThrow()._additionalProperties()).containsKey("cost");
    }

    @Test
    void streamingCompletionIsParsedByTheOpenAiSdkAndHidesUsageUnlessAsked() {
        List<ChatCompletionChunk> chunks = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(
            ChatCompletionCreateParams.builder().model("mini").addUserMessage("Stream please").build())) {
            stream.stream().forEach(chunks::add);
        }

        StringBuilder text = new StringBuilder();
        chunks.forEach(c -> c.choices().forEach(choice -> choice.delta().content().ifPresent(text::append)));
        assertThat(text.toString()).isEqualTo("Hello from the fake upstream.");
        assertThat(chunks).allSatisfy(c -> assertThat(c.usage()).isEmpty());
        assertThat(chunks).allSatisfy(c -> assertThat(c.model()).isEqualTo("openai/gpt-4o-mini-2024-07-18"));
        // The gateway still asked the upstream for usage, to bill from the provider's own counts.
        JsonObject sent = upstream.lastRequest().body();
        assertThat(sent.getJsonObject("stream_options").getBoolean("include_usage")).isTrue();
    }

    @Test
    void theProvidersBillingTierAndRetentionAreTheOperatorsNotTheClients() {
        // Given requests asking OpenAI's priority tier (billed higher) and to keep the conversation
        // with metadata to find it by, as OpenAI documents them together, small and large (encoded, and
        // relayed from the client's bytes)
        for (String padding : List.of("", "x".repeat(600))) {
            String body = new JsonObject().put("model", "gpt-4o-mini").put("service_tier", "priority").put("store", true)
                .put("metadata", new JsonObject().put("team", "search"))
                .put("messages", new io.vertx.core.json.JsonArray().add(new JsonObject().put("role", "user")
                    .put("content", "hi" + padding))).encode();

            assertThat(gateway.post("/v1/chat/completions", key, body).statusCode()).isEqualTo(200);

            // Then none reaches the provider: OpenAI refuses metadata without store ("The 'metadata'
            // parameter is only allowed when 'store' is enabled."), and it tags stored conversations only
            assertThat(upstream.lastRequest().body().fieldNames()).doesNotContain("service_tier", "store", "metadata");
        }
    }

    @Test
    void chunksAProviderSendsOverSeveralDataLinesReachTheSdkAsJson() {
        // Given a provider that spreads each chunk's JSON over several data: lines, as SSE allows
        upstream.dataOverLines = true;

        List<ChatCompletionChunk> chunks = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(
            ChatCompletionCreateParams.builder().model("gpt-4o-mini").addUserMessage("Stream please")
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
            stream.stream().forEach(chunks::add);
        }

        // Then the SDK reads every chunk (a line feed relayed inside one would end its data: line early)
        StringBuilder text = new StringBuilder();
        chunks.forEach(c -> c.choices().forEach(choice -> choice.delta().content().ifPresent(text::append)));
        assertThat(text.toString()).isEqualTo("Hello from the fake upstream.");
        assertThat(chunks.get(chunks.size() - 1).usage().orElseThrow().totalTokens()).isEqualTo(16);
    }

    @Test
    void aStreamedFunctionCallIsRelayedAsItComesAndCountedWhenTheProviderGivesNoUsage() {
        // Given a provider that streams a call of a deprecated function, holds the rest, and counts nothing
        upstream.deltas = List.of(
            new JsonObject().put("function_call", new JsonObject().put("name", "lookup").put("arguments", "")),
            new JsonObject().put("function_call", new JsonObject().put("arguments", "{\"city\":\"Paris\"}")));
        upstream.fault = FakeOpenAiUpstream.Fault.PAUSE;
        upstream.faultAfter = 2;
        upstream.usage = null;
        String body = "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"functions\":[{\"name\":\"lookup\","
            + "\"parameters\":{\"type\":\"object\"}}],\"messages\":[{\"role\":\"user\",\"content\":\"where\"}]}";

        String requestId;
        try (CancellationIT.RawClient raw = CancellationIT.RawClient.post(gateway.hub().apiPort(), key, body)) {
            assertThat(raw.status()).isEqualTo(200);
            requestId = raw.header("X-Request-Id");
            // Then the call's first chunk reaches the client while the provider still holds the rest
            assertThat(raw.readUntil("\"lookup\"")).contains("function_call");
            upstream.resume();
            assertThat(raw.readUntil("[DONE]")).contains("Paris");
        }

        // And its arguments count as output in the estimate
        TestGateway.eventually(() -> gateway.database().count(
            "SELECT count(*) FROM usage_records WHERE request_id = ?", requestId) == 1, 10_000, "the usage record");
        Map<String, Object> row = gateway.database().query("SELECT completion_tokens, estimated FROM usage_records "
            + "WHERE request_id = ?", requestId).get(0);
        assertThat(row).containsEntry("estimated", true);
        assertThat((Integer) row.get("completion_tokens")).isGreaterThan(3);
    }

    @Test
    void aToolCallWithoutUsageIsEstimatedAlikeWholeAndStreamedFromItsNameAndArguments() {
        // Given a provider that counts nothing, answering with a tool call whole, then streaming the
        // same call as OpenAI streams one: its name, then its arguments a token or so a chunk
        String name = "get_weather";
        String arguments = "{\"location\":\"San Francisco, California\",\"unit\":\"celsius\",\"days\":7,"
            + "\"notes\":\"the quick brown fox jumps over the lazy dog\"}";
        String request = "{\"model\":\"gpt-4o-mini\",%s\"tools\":[{\"type\":\"function\",\"function\":"
            + "{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\"}}}],"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"}]}";
        upstream.usage = null;
        upstream.pieces = List.of("");
        upstream.messageExtra = new JsonObject().putNull("content").put("tool_calls", new io.vertx.core.json.JsonArray()
            .add(new JsonObject().put("id", "call_1").put("type", "function")
                .put("function", new JsonObject().put("name", name).put("arguments", arguments))));
        HttpResponse<String> whole = gateway.post("/v1/chat/completions", key, request.formatted(""));
        upstream.messageExtra = null;
        List<JsonObject> deltas = new ArrayList<>();
        deltas.add(new JsonObject().put("tool_calls", new io.vertx.core.json.JsonArray().add(new JsonObject()
            .put("index", 0).put("id", "call_1").put("type", "function")
            .put("function", new JsonObject().put("name", name).put("arguments", "")))));
        for (io.tokenhub.core.TokenCounter.Piece piece : io.tokenhub.core.TokenCounter.pieces(arguments)) {
            deltas.add(new JsonObject().put("tool_calls", new io.vertx.core.json.JsonArray().add(new JsonObject()
                .put("index", 0).put("function", new JsonObject().put("arguments", piece.text())))));
        }
        upstream.deltas = deltas;
        HttpResponse<String> streamed = gateway.post("/v1/chat/completions", key, request.formatted("\"stream\":true,"));

        // Then both are estimated as what the model generated, the call's name and arguments, not
        // the JSON each chunk wraps them in (a dozen tokens a chunk, counted before)
        long generated = io.tokenhub.core.TokenCounter.count(name + arguments);
        assertThat(completionTokens(whole)).isEqualTo(generated);
        assertThat(completionTokens(streamed)).isEqualTo(generated);
    }

    /** The completion tokens of a response's usage record, once it is written. */
    private static long completionTokens(HttpResponse<String> response) {
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        String requestId = response.headers().firstValue("X-Request-Id").orElseThrow();
        TestGateway.eventually(() -> gateway.database().count(
            "SELECT count(*) FROM usage_records WHERE request_id = ?", requestId) == 1, 10_000, "the usage record");
        return ((Number) gateway.database().query("SELECT completion_tokens FROM usage_records WHERE request_id = ?",
            requestId).get(0).get("completion_tokens")).longValue();
    }

    @Test
    void reasoningAProviderNamesReasoningReachesTheClientAsReasoningContentAndStreamsAsItComes() {
        // Given a provider that names its reasoning "reasoning" (vLLM since 0.11, OpenRouter), in a whole
        // answer, and in a stream it holds after the first piece of reasoning
        upstream.messageExtra = new JsonObject().put("reasoning", "Thinking it over.");
        JsonObject whole = new JsonObject(gateway.post("/v1/chat/completions", key,
            "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}").body());
        upstream.deltas = List.of(new JsonObject().put("reasoning", "Thinking"),
            new JsonObject().put("reasoning", " it over."), new JsonObject().put("content", "Done."));
        upstream.fault = FakeOpenAiUpstream.Fault.PAUSE;
        upstream.faultAfter = 2;
        String streamed;
        try (CancellationIT.RawClient raw = CancellationIT.RawClient.post(gateway.hub().apiPort(), key,
            "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")) {
            // the reasoning is output: relayed while the provider holds the rest
            assertThat(raw.readUntil("Thinking")).contains("\"reasoning_content\":\"Thinking\"");
            upstream.resume();
            streamed = raw.readUntil("[DONE]");
        }

        // Then it is reasoning_content, as from DeepSeek and Qwen, whole and streamed
        JsonObject message = whole.getJsonArray("choices").getJsonObject(0).getJsonObject("message");
        assertThat(message.getString("reasoning_content")).isEqualTo("Thinking it over.");
        assertThat(message.containsKey("reasoning")).isFalse();
        assertThat(streamed).contains("\"reasoning_content\":\" it over.\"").doesNotContain("\"reasoning\":");
    }

    @Test
    void streamingUsageChunkIsForwardedWithCostWhenTheClientAsks() {
        List<ChatCompletionChunk> chunks = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(
            ChatCompletionCreateParams.builder().model("gpt-4o-mini").addUserMessage("Stream please")
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
            stream.stream().forEach(chunks::add);
        }

        ChatCompletionChunk last = chunks.get(chunks.size() - 1);
        assertThat(last.choices()).isEmpty();
        assertThat(last.usage().orElseThrow().totalTokens()).isEqualTo(16);
        // 11 × 0.15 + 5 × 0.60 = 4.65 micro-USD, rounded half-up to 5.
        assertThat(last.usage().orElseThrow()._additionalProperties().get("cost").convert(Double.class))
            .isEqualTo(0.000005);
    }

    @Test
    void usageOnTheProvidersLastChunkComesBackOnceOnAUsageChunkWithCost() {
        // Given a provider that puts its counts on the chunk with the finish reason (DeepSeek's way)
        upstream.usageWithFinish = true;

        HttpResponse<String> response = gateway.post("/v1/chat/completions", key, """
            {"model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true},
             "messages": [{"role": "user", "content": "Stream please"}]}""");
        List<JsonObject> chunks = streamedChunks(response);

        // Then the client sees OpenAI's shape: usage null on every chunk with choices, then one usage chunk
        JsonObject last = chunks.get(chunks.size() - 1);
        assertThat(chunks.subList(0, chunks.size() - 1)).allSatisfy(chunk -> {
            assertThat(chunk.getJsonArray("choices")).isNotEmpty();
            assertThat(chunk.containsKey("usage")).isTrue();
            assertThat(chunk.getValue("usage")).isNull();
        });
        assertThat(chunks.get(chunks.size() - 2).getJsonArray("choices").getJsonObject(0).getString("finish_reason"))
            .isEqualTo("stop");
        assertThat(last.getJsonArray("choices")).isEmpty();
        assertThat(last.getString("model")).isEqualTo("openai/gpt-4o-mini-2024-07-18");
        // under the stream's own id and created, as every chunk of an OpenAI stream is
        assertThat(chunks).allSatisfy(chunk -> {
            assertThat(chunk.getString("id")).isEqualTo("chatcmpl-fake");
            assertThat(chunk.getLong("created")).isEqualTo(1L);
        });
        assertThat(last.getJsonObject("usage").getInteger("total_tokens")).isEqualTo(16);
        assertThat(last.getJsonObject("usage").getDouble("cost")).isEqualTo(0.000005);
        // And the record holds the provider's counts, not an estimate
        String requestId = response.headers().firstValue("X-Request-Id").orElseThrow();
        TestGateway.eventually(() -> gateway.database().count(
            "SELECT count(*) FROM usage_records WHERE request_id = ?", requestId) == 1, 10_000, "the usage record");
        assertThat(gateway.database().query("SELECT completion_tokens, estimated FROM usage_records "
            + "WHERE request_id = ?", requestId).get(0))
            .containsEntry("completion_tokens", 5).containsEntry("estimated", false);
    }

    @Test
    void usageChunkTheGatewayMakesUpIsLabelledWithTheModelTheProviderReported() {
        // Given a provider that sends no usage at all
        upstream.usage = null;

        List<JsonObject> chunks = streamedChunks(gateway.post("/v1/chat/completions", key, """
            {"model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true},
             "messages": [{"role": "user", "content": "Stream please"}]}"""));

        JsonObject last = chunks.get(chunks.size() - 1);
        assertThat(last.getJsonArray("choices")).isEmpty();
        assertThat(last.getJsonObject("usage").getInteger("completion_tokens")).isPositive();
        assertThat(chunks).extracting(chunk -> chunk.getString("model")).containsOnly("openai/gpt-4o-mini-2024-07-18");
        assertThat(chunks).extracting(chunk -> chunk.getString("id")).containsOnly("chatcmpl-fake");
        assertThat(chunks).extracting(chunk -> chunk.getLong("created")).containsOnly(1L);
    }

    @Test
    void aUsageThatCountsNothingIsBilledFromOurEstimateWholeAndStreamed() {
        // Given a provider whose usage is {} (some self-hosted servers send it so), on its whole
        // answers and on its streams' usage chunk
        upstream.usage = new JsonObject();

        HttpResponse<String> whole = gateway.post("/v1/chat/completions", key,
            "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}");
        HttpResponse<String> streamed = gateway.post("/v1/chat/completions", key, """
            {"model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true},
             "messages": [{"role": "user", "content": "Stream please"}]}""");

        // Then each is billed as estimated, for the prompt and for what was delivered, not for nothing
        assertThat(whole.statusCode()).as(whole.body()).isEqualTo(200);
        JsonObject usage = new JsonObject(whole.body()).getJsonObject("usage");
        assertThat(usage.getInteger("prompt_tokens")).isPositive();
        assertThat(usage.getInteger("completion_tokens")).isPositive();
        assertThat(usage.getBoolean("estimated")).isTrue();
        // and the stream's client gets one usage chunk, ours, with the estimate in it
        List<JsonObject> chunks = streamedChunks(streamed);
        assertThat(chunks).filteredOn(chunk -> chunk.getValue("usage") instanceof JsonObject).hasSize(1);
        JsonObject last = chunks.get(chunks.size() - 1).getJsonObject("usage");
        assertThat(last.getInteger("completion_tokens")).isPositive();
        assertThat(last.getBoolean("estimated")).isTrue();
        for (HttpResponse<String> response : List.of(whole, streamed)) {
            String requestId = response.headers().firstValue("X-Request-Id").orElseThrow();
            TestGateway.eventually(() -> gateway.database().count(
                "SELECT count(*) FROM usage_records WHERE request_id = ?", requestId) == 1, 10_000, "the usage record");
            Map<String, Object> row = gateway.database().query("SELECT prompt_tokens, completion_tokens, estimated, "
                + "cost_micro_usd FROM usage_records WHERE request_id = ?", requestId).get(0);
            assertThat(row).containsEntry("estimated", true);
            assertThat((Integer) row.get("prompt_tokens")).isPositive();
            assertThat((Integer) row.get("completion_tokens")).isPositive();
            assertThat((Long) row.get("cost_micro_usd")).isPositive();
        }
    }

    @Test
    void requestIsPassedThroughWithTheProviderKeyAndNeverTheClientKey() {
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key, """
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
             "logit_bias": {"50256": -100}, "some_future_field": {"x": 1}, "fallback_models": []}
            """);

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).hasValue("openai");
        assertThat(response.headers().firstValue("X-Request-Id")).hasValueSatisfying(id -> assertThat(id).startsWith("req_"));
        FakeOpenAiUpstream.Recorded sent = upstream.lastRequest();
        assertThat(sent.headers().get("Authorization")).isEqualTo("Bearer provider-secret-key");
        assertThat(sent.headers().toString()).doesNotContain(key);
        assertThat(sent.body().getJsonObject("some_future_field").getInteger("x")).isEqualTo(1);
        assertThat(sent.body().getJsonObject("logit_bias").getInteger("50256")).isEqualTo(-100);
        assertThat(sent.body().containsKey("fallback_models")).isFalse();
        assertThat(sent.body().getString("model")).isEqualTo("gpt-4o-mini");
    }

    @Test
    void emptyToolsAndTheOptionsBesideThemDoNotReachTheProvider() {
        // Given a client (a framework) that sends an empty tools array with its options, in a body
        // long enough to be relayed from its bytes and in a short one
        for (String padding : List.of("", "x".repeat(600))) {
            HttpResponse<String> response = gateway.post("/v1/chat/completions", key, new JsonObject()
                .put("model", "gpt-4o-mini").put("tools", new io.vertx.core.json.JsonArray())
                .put("parallel_tool_calls", true).put("tool_choice", "auto").put("user", "u" + padding)
                .put("messages", new io.vertx.core.json.JsonArray().add(new JsonObject().put("role", "user")
                    .put("content", "hi"))).encode());

            // Then the request is served, and the provider (OpenAI refuses the empty array) gets none of them
            assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
            assertThat(upstream.lastRequest().body().fieldNames())
                .doesNotContain("tools", "parallel_tool_calls", "tool_choice").contains("user", "messages");
        }
    }

    @Test
    void theModelAResponseCarriesCanBeSentBackAndLookedUp() {
        // Given an answer labelled with the provider's dated snapshot of the deployment's model
        ChatCompletion first = client.chat().completions().create(ChatCompletionCreateParams.builder()
            .model("gpt-4o-mini").addUserMessage("hi").build());
        assertThat(first.model()).isEqualTo("openai/gpt-4o-mini-2024-07-18");

        // Then the label is a model a request and the model list's lookup take
        ChatCompletion again = client.chat().completions().create(ChatCompletionCreateParams.builder()
            .model(first.model()).addUserMessage("hi again").build());
        assertThat(again.model()).isEqualTo(first.model());
        assertThat(upstream.lastRequest().body().getString("model")).isEqualTo("gpt-4o-mini");
        assertThat(client.models().retrieve(first.model()).id()).isEqualTo("gpt-4o-mini");
    }

    @Test
    void missingMaxTokensGetsTheCatalogDefault() {
        gateway.post("/v1/chat/completions", key, "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");

        assertThat(upstream.lastRequest().body().getInteger("max_tokens")).isEqualTo(200);
    }

    @Test
    void aLongPromptOverTheContextWindowIsCountedAndRefusedBeforeTheUpstream() {
        // 200 KB of text: tokenized on a worker thread, not on the event loop
        String text = "tokens ".repeat(30_000);
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key, new JsonObject()
            .put("model", "gpt-4o-mini").put("max_tokens", 10).put("messages", new io.vertx.core.json.JsonArray()
                .add(new JsonObject().put("role", "user").put("content", text))).encode());

        assertThat(response.statusCode()).isEqualTo(400);
        JsonObject error = new JsonObject(response.body()).getJsonObject("error");
        assertThat(error.getString("code")).isEqualTo("context_length_exceeded");
        assertThat(error.getString("param")).isEqualTo("messages");
        assertThat(error.getString("message")).contains("maximum context length is 1000 tokens");
        assertThat(upstream.requests()).isEmpty();
    }

    @Test
    void maxTokensOverTheModelLimitIsRefusedBeforeTheUpstream() {
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key,
            "{\"model\":\"gpt-4o-mini\",\"max_tokens\":301,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");

        assertThat(response.statusCode()).isEqualTo(400);
        JsonObject error = new JsonObject(response.body()).getJsonObject("error");
        assertThat(error.getString("code")).isEqualTo("context_length_exceeded");
        assertThat(error.getString("param")).isEqualTo("max_tokens");
        assertThat(error.getString("message")).contains("301").contains("300");
        assertThat(upstream.requests()).isEmpty();
    }

    @Test
    void apiV1AliasBehavesLikeV1() {
        HttpResponse<String> response = gateway.post("/api/v1/chat/completions", key,
            "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
        HttpResponse<String> models = gateway.get("/api/v1/models", key);

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(models.statusCode()).isEqualTo(200);
        JsonObject model = new JsonObject(models.body()).getJsonArray("data").getJsonObject(0);
        assertThat(model.getString("id")).isEqualTo("gpt-4o-mini");
        assertThat(model.getInteger("context_window")).isEqualTo(1000);
        assertThat(model.getJsonObject("pricing").getDouble("output")).isEqualTo(0.60);
        // The catalog sets no limits on this model: unlimited is null, not a 0 that reads as "none allowed".
        assertThat(model.getJsonObject("limits").containsKey("rpm")).isTrue();
        assertThat(model.getJsonObject("limits").getValue("rpm")).isNull();
        assertThat(model.getJsonObject("limits").getValue("tpm")).isNull();
    }

    @Test
    void browsersMayCallTheApiFromAnyOriginWithTheKeyInTheAuthorizationHeader() {
        HttpResponse<String> preflight = gateway.send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create(gateway.url("/v1/chat/completions")))
            .method("OPTIONS", java.net.http.HttpRequest.BodyPublishers.noBody())
            .header("Origin", "https://chat.example.com")
            .header("Access-Control-Request-Method", "POST")
            // What openai-node's stream helper sends, and a header no SDK sends yet
            .header("Access-Control-Request-Headers",
                "authorization, content-type, x-stainless-helper-method, x-sdk-of-tomorrow"));
        HttpResponse<String> call = gateway.send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create(gateway.url("/v1/models")))
            .header("Origin", "https://chat.example.com").header("Authorization", "Bearer " + key));

        assertThat(preflight.statusCode()).isBetween(200, 204);
        assertThat(preflight.headers().firstValue("Access-Control-Allow-Origin")).hasValue("*");
        assertThat(preflight.headers().firstValue("Access-Control-Allow-Methods").orElseThrow()).contains("POST");
        assertThat(preflight.headers().firstValue("Access-Control-Allow-Headers").orElseThrow().toLowerCase())
            .contains("authorization").contains("content-type").contains("x-stainless-helper-method")
            .contains("x-sdk-of-tomorrow");
        assertThat(preflight.headers().firstValue("Access-Control-Allow-Credentials")).isEmpty();
        assertThat(call.statusCode()).isEqualTo(200);
        assertThat(call.headers().firstValue("Access-Control-Allow-Origin")).hasValue("*");
        assertThat(call.headers().firstValue("Access-Control-Expose-Headers").orElseThrow().toLowerCase())
            .contains("x-request-id").contains("x-ratelimit-remaining-requests");
    }

    @Test
    void oneModelIsRetrievedByItsIdAnAliasOrTheProviderPinnedForm() {
        // provider/model has a slash in it, as a path segment of /v1/models/{id} too
        for (String id : List.of("gpt-4o-mini", "mini", "openai/gpt-4o-mini", "openai/mini", "gpt-4o-mini/",
            "openai/mini/")) {
            HttpResponse<String> response = gateway.get("/v1/models/" + id, key);

            assertThat(response.statusCode()).as(id).isEqualTo(200);
            JsonObject model = new JsonObject(response.body());
            assertThat(model.getString("id")).as(id).isEqualTo("gpt-4o-mini");
            assertThat(model.getString("object")).as(id).isEqualTo("model");
        }
        HttpResponse<String> unknown = gateway.get("/api/v1/models/anthropic/gpt-4o-mini", key);
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(new JsonObject(unknown.body()).getJsonObject("error").getString("code")).isEqualTo("model_not_found");
    }

    @Test
    void eachRequestLeavesOneUsageRecordWithTheUpstreamCounts() {
        upstream.usage = FakeOpenAiUpstream.usage(1234, 567, 1000, 100);
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key,
            "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"count me\"}]}");
        String requestId = response.headers().firstValue("X-Request-Id").orElseThrow();

        // This request's record: an earlier test's may still be on its way, and count as one more
        TestGateway.eventually(() -> gateway.database().count(
            "SELECT count(*) FROM usage_records WHERE request_id = ?", requestId) > 0, 10_000, "the usage record");
        List<Map<String, Object>> rows = gateway.database().query(
            "SELECT * FROM usage_records WHERE request_id = ?", requestId);
        assertThat(rows).hasSize(1);
        Map<String, Object> row = rows.get(0);
        assertThat(row.get("prompt_tokens")).isEqualTo(1234);
        assertThat(row.get("cached_tokens")).isEqualTo(1000);
        assertThat(row.get("completion_tokens")).isEqualTo(567);
        assertThat(row.get("reasoning_tokens")).isEqualTo(100);
        // 234 × 0.15 + 1000 × 0.075 + 567 × 0.60 = 35.1 + 75 + 340.2 = 450.3 → 450 micro-USD
        assertThat(row.get("cost_micro_usd")).isEqualTo(450L);
        assertThat(row.get("status")).isEqualTo(200);
        assertThat(row.get("provider")).isEqualTo("openai");
        assertThat(row.get("estimated")).isEqualTo(false);
    }

    /** The JSON of every data event of a streamed answer, up to {@code [DONE]} (which must end it). */
    private static List<JsonObject> streamedChunks(HttpResponse<String> response) {
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body()).endsWith("data: [DONE]\n\n");
        List<JsonObject> chunks = new ArrayList<>();
        for (String event : response.body().split("\n\n")) {
            if (event.startsWith("data: {")) {
                chunks.add(new JsonObject(event.substring("data: ".length())));
            }
        }
        return chunks;
    }
}
