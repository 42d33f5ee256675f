package io.tokenhub.provider.mock;

import io.tokenhub.config.TokenHubConfig.Provider;
import io.tokenhub.core.TokenCounter;
import io.tokenhub.core.Usage;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.ChunkStream;
import io.tokenhub.provider.Completion;
import io.tokenhub.provider.EmbeddingFormat;
import io.tokenhub.provider.ProviderAdapter;
import io.tokenhub.provider.UpstreamCall;
import io.tokenhub.provider.UpstreamException;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A provider that answers locally and deterministically, so that a fresh install, a demo or a
 * benchmark works without any provider key, and so that a client's use of thinking, tools,
 * structured output, {@code n}, {@code stop}, {@code max_tokens} and {@code logprobs} gets the
 * answer's shape a real model would give ({@link MockReply} says what is answered). Tokens are
 * counted with the gateway's tokenizer; streams go piece by piece with the configured delay.
 */
public final class MockAdapter implements ProviderAdapter {

    /** OpenAI's own limit on {@code n}; it also bounds what one request can make the mock build. */
    private static final int MAX_CHOICES = 128;
    /** The content parts the mock reads: text (a refusal is an earlier answer's text) and images. */
    private static final Set<String> READ_PARTS = Set.of("text", "refusal", "image_url");
    /** The most any OpenAI embedding model gives (text-embedding-3-large); also bounds the mock's work. */
    private static final int MAX_DIMENSIONS = 3072;

    private final Vertx vertx;
    private final Provider provider;

    public MockAdapter(Vertx vertx, Provider provider) {
        this.vertx = vertx;
        this.provider = provider;
    }

    @Override
    public String providerId() {
        return provider.id();
    }

    @Override
    public Future<Completion> complete(UpstreamCall call, Abort abort) {
        return choices(call).map(n -> completion(call, n));
    }

    @Override
    public Future<ChunkStream> stream(UpstreamCall call, Abort abort) {
        return choices(call).map(n -> {
            MockReply reply = MockReply.to(call.body(), call.maxTokens());
            MockChunks chunks = new MockChunks("chatcmpl-" + call.requestId(), System.currentTimeMillis() / 1000,
                label(call), MockLogprobs.asked(call.body()));
            chunks.choices(n, reply, i -> toolCallId(call, i));
            Usage usage = usage(call, reply, n);
            chunks.usage(usage);
            call.clock().sent();
            MockChunkStream stream = new MockChunkStream(vertx, chunks.list(), provider.chunkDelayMs(), usage,
                call.clock());
            abort.onAbort(stream::cancel);
            return stream;
        });
    }

    private Completion completion(UpstreamCall call, int n) {
        MockReply reply = MockReply.to(call.body(), call.maxTokens());
        MockLogprobs logprobs = MockLogprobs.asked(call.body());
        JsonArray choices = new JsonArray();
        for (int i = 0; i < n; i++) {
            choices.add(new JsonObject()
                .put("index", i)
                .put("message", message(reply, toolCallId(call, i)))
                .put("logprobs", logprobs == null ? null : logprobs.of(reply.content()))
                .put("finish_reason", reply.finishReason()));
        }
        Usage usage = usage(call, reply, n);
        JsonObject body = new JsonObject()
            .put("id", "chatcmpl-" + call.requestId())
            .put("object", "chat.completion")
            .put("created", System.currentTimeMillis() / 1000)
            .put("model", label(call))
            .put("choices", choices)
            .put("usage", usage.toOpenAi());
        return Completion.of(body, usage);
    }

    /**
     * {@code n}, which the gateway has checked is a positive integer if given; refused over OpenAI's
     * limit. A request for what the mock model cannot do is refused first (see {@link #beyond}).
     */
    private Future<Integer> choices(UpstreamCall call) {
        UpstreamException beyond = beyond(call.body());
        if (beyond != null) {
            return Future.failedFuture(beyond);
        }
        int n = call.body().getValue("n") instanceof Number given ? given.intValue() : 1;
        return n <= MAX_CHOICES ? Future.succeededFuture(n) : Future.failedFuture(rejected("Invalid 'n': integer "
            + "above maximum value. Expected a value <= " + MAX_CHOICES + ", but got " + n + " instead.", "n"));
    }

    /**
     * What the mock model cannot do, refused as unsupported (another candidate may do it) rather
     * than answered as if it had: audio output, a call forced to a custom (free-form) tool, which
     * it does not make, and content parts other than text, refusals and images (audio input, files
     * and any other type pass the gateway's checks, for providers that read them). Null when it can
     * answer.
     */
    private UpstreamException beyond(JsonObject body) {
        String audio = ProviderAdapter.audioOutputAsked(body);
        if (audio != null) {
            return UpstreamException.unsupported(provider.id(), audio + ": audio output is not supported by this model",
                audio);
        }
        if (forcesCustomTool(body)) {
            return UpstreamException.unsupported(provider.id(), "tool_choice: custom tools are not supported by this "
                + "model (it calls function tools)", "tool_choice");
        }
        JsonArray messages = body.getValue("messages") instanceof JsonArray m ? m : new JsonArray();
        for (int i = 0; i < messages.size(); i++) {
            if (messages.getValue(i) instanceof JsonObject message
                && message.getValue("content") instanceof JsonArray parts) {
                for (int j = 0; j < parts.size(); j++) {
                    Object type = parts.getValue(j) instanceof JsonObject part ? part.getValue("type") : null;
                    if (type != null && !READ_PARTS.contains(type)) {
                        String param = "messages[" + i + "].content[" + j + "].type";
                        return UpstreamException.unsupported(provider.id(), param + " '" + type + "' is not supported "
                            + "by this model (it reads text and image_url parts)", param);
                    }
                }
            }
        }
        return null;
    }

    /**
     * Whether a tool call must be made that only a custom tool could answer: a tool_choice naming a
     * custom tool, or {@code required} with custom tools and no function tool.
     */
    private static boolean forcesCustomTool(JsonObject body) {
        Object choice = body.getValue("tool_choice");
        if (choice instanceof JsonObject named && "custom".equals(named.getValue("type"))) {
            return true;
        }
        if (!"required".equals(choice) || !(body.getValue("tools") instanceof JsonArray tools)) {
            return false;
        }
        boolean custom = false;
        for (Object tool : tools) {
            Object type = tool instanceof JsonObject t ? t.getValue("type") : null;
            if ("function".equals(type)) {
                return false;
            }
            custom |= "custom".equals(type);
        }
        return custom;
    }

    /** The caller's mistake, in the words and shape OpenAI uses for it. */
    private UpstreamException rejected(String message, String param) {
        return new UpstreamException(provider.id(), UpstreamException.Kind.REJECTED, 400, message, 0,
            new JsonObject().put("message", message).put("type", "invalid_request_error").put("param", param)
                .put("code", "integer_above_max_value"));
    }

    /** The prompt once, the completion once per choice (as OpenAI bills {@code n}). */
    private static Usage usage(UpstreamCall call, MockReply reply, int n) {
        return new Usage(TokenCounter.chatPrompt(call.body()), 0, n * reply.tokens(), n * reply.reasoningTokens(),
            false);
    }

    private static JsonObject message(MockReply reply, String toolCallId) {
        JsonObject message = new JsonObject().put("role", "assistant")
            .put("content", reply.toolCall() == null ? reply.text() : null);
        if (!reply.reasoning().isEmpty()) {
            message.put("reasoning_content", reply.reasoningText());
        }
        MockReply.ToolCall call = reply.toolCall();
        if (call != null) {
            JsonObject function = new JsonObject().put("name", call.name())
                .put("arguments", String.join("", call.arguments()));
            if (call.legacy()) {
                message.put("function_call", function);
            } else {
                message.put("tool_calls", new JsonArray().add(new JsonObject().put("id", toolCallId)
                    .put("type", "function").put("function", function)));
            }
        }
        return message;
    }

    /** Unique per request and choice, as the {@code tool_call_id} of the answer must name it. */
    private static String toolCallId(UpstreamCall call, int choice) {
        return "call_" + call.requestId() + "_" + choice;
    }

    /**
     * Deterministic unit vectors derived from each input, so equal inputs embed equally. As OpenAI
     * reads {@code input}: a string or one array of token ids is one input; an array of strings or
     * of token-id arrays is one input each. A token array counts one token per id, as the gateway
     * bills it.
     */
    @Override
    public Future<Completion> embeddings(UpstreamCall call, Abort abort) {
        Object input = call.body().getValue("input");
        JsonArray inputs = input instanceof JsonArray array && !(array.getValue(0) instanceof Number) ? array
            : new JsonArray().add(input);
        // An explicit null is the default, as OpenAI takes it.
        int dimensions = call.body().getValue("dimensions") instanceof Number n ? n.intValue() : 8;
        if (dimensions > MAX_DIMENSIONS) {
            return Future.failedFuture(rejected("Invalid 'dimensions': integer above maximum value. Expected a value <= "
                + MAX_DIMENSIONS + ", but got " + dimensions + " instead.", "dimensions"));
        }
        boolean base64 = "base64".equals(call.body().getValue("encoding_format"));
        JsonArray data = new JsonArray();
        long tokens = 0;
        for (int i = 0; i < inputs.size(); i++) {
            Object item = inputs.getValue(i);
            tokens += item instanceof JsonArray ids ? ids.size() : TokenCounter.count(String.valueOf(item));
            JsonArray vector = vector(item instanceof JsonArray ids ? ids.encode() : String.valueOf(item), dimensions);
            data.add(new JsonObject().put("object", "embedding").put("index", i)
                .put("embedding", base64 ? EmbeddingFormat.base64(vector) : vector));
        }
        Usage usage = new Usage(tokens, 0, 0, 0, false);
        JsonObject body = new JsonObject().put("object", "list").put("data", data).put("model", label(call))
            .put("usage", new JsonObject().put("prompt_tokens", tokens).put("total_tokens", tokens));
        return Future.succeededFuture(Completion.of(body, usage));
    }

    /** Relevance is the share of query words found in the document. */
    @Override
    public Future<Completion> rerank(UpstreamCall call, Abort abort) {
        String query = call.body().getString("query", "").toLowerCase();
        JsonArray documents = call.body().getJsonArray("documents", new JsonArray());
        String[] words = query.split("\\W+");
        List<JsonObject> results = new ArrayList<>();
        long tokens = TokenCounter.count(query);
        for (int i = 0; i < documents.size(); i++) {
            Object doc = documents.getValue(i);
            String text = doc instanceof JsonObject d ? d.getString("text", "") : String.valueOf(doc);
            tokens += TokenCounter.count(text);
            String lower = text.toLowerCase();
            long hits = java.util.Arrays.stream(words).filter(w -> !w.isEmpty() && lower.contains(w)).count();
            JsonObject result = new JsonObject().put("index", i)
                .put("relevance_score", words.length == 0 ? 0.0 : (double) hits / words.length);
            if (Boolean.TRUE.equals(call.body().getValue("return_documents"))) {
                result.put("document", new JsonObject().put("text", text));
            }
            results.add(result);
        }
        results.sort((a, b) -> Double.compare(b.getDouble("relevance_score"), a.getDouble("relevance_score")));
        int topN = call.body().getValue("top_n") instanceof Number n ? n.intValue() : results.size();
        JsonObject body = new JsonObject().put("model", label(call))
            .put("results", new JsonArray(results.subList(0, Math.min(topN, results.size()))));
        return Future.succeededFuture(Completion.of(body, new Usage(tokens, 0, 0, 0, false)));
    }

    private static JsonArray vector(String text, int dimensions) {
        java.util.Random random = new java.util.Random(text.hashCode());
        double[] v = new double[dimensions];
        double norm = 0;
        for (int i = 0; i < dimensions; i++) {
            v[i] = random.nextGaussian();
            norm += v[i] * v[i];
        }
        JsonArray out = new JsonArray();
        for (double x : v) {
            out.add(x / Math.sqrt(norm));
        }
        return out;
    }

    private String label(UpstreamCall call) {
        return provider.id() + "/" + call.upstreamModel();
    }
}
