package io.tokenhub.provider.mock;

import io.tokenhub.config.TokenHubConfig.Provider;
import io.tokenhub.core.TokenCounter;
import io.tokenhub.core.Usage;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.ChunkStream;
import io.tokenhub.provider.Completion;
import io.tokenhub.provider.ProviderAdapter;
import io.tokenhub.provider.UpstreamCall;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;

/**
 * A provider that answers locally and deterministically, so that a fresh install, a demo or a
 * benchmark works without any provider key. It echoes the last user message, counts tokens with the
 * real tokenizer, honours {@code max_tokens} and streams word by word with the configured delay.
 */
public final class MockAdapter implements ProviderAdapter {

    private static final int ECHO_LIMIT = 200;

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
        Answer answer = answer(call);
        JsonObject body = new JsonObject()
            .put("id", "chatcmpl-" + call.requestId())
            .put("object", "chat.completion")
            .put("created", System.currentTimeMillis() / 1000)
            .put("model", label(call))
            .put("choices", new JsonArray().add(new JsonObject()
                .put("index", 0)
                .put("message", new JsonObject().put("role", "assistant").put("content", answer.text()))
                .put("logprobs", null)
                .put("finish_reason", answer.finishReason())))
            .put("usage", answer.usage().toOpenAi());
        return Future.succeededFuture(new Completion(body, answer.usage()));
    }

    @Override
    public Future<ChunkStream> stream(UpstreamCall call, Abort abort) {
        Answer answer = answer(call);
        String id = "chatcmpl-" + call.requestId();
        long created = System.currentTimeMillis() / 1000;
        List<JsonObject> chunks = new ArrayList<>();
        chunks.add(chunk(id, created, call, new JsonObject().put("role", "assistant").put("content", ""), null));
        for (String piece : answer.pieces()) {
            chunks.add(chunk(id, created, call, new JsonObject().put("content", piece), null));
        }
        chunks.add(chunk(id, created, call, new JsonObject(), answer.finishReason()));
        chunks.add(new JsonObject().put("id", id).put("object", "chat.completion.chunk").put("created", created)
            .put("model", label(call)).put("choices", new JsonArray()).put("usage", answer.usage().toOpenAi()));
        call.clock().sent();
        MockChunkStream stream = new MockChunkStream(vertx, chunks, provider.chunkDelayMs(), answer.usage(),
            call.clock());
        abort.onAbort(stream::cancel);
        return Future.succeededFuture(stream);
    }

    /** Deterministic unit vectors derived from the text, so equal inputs embed equally. */
    @Override
    public Future<Completion> embeddings(UpstreamCall call, Abort abort) {
        Object input = call.body().getValue("input");
        List<String> texts = new ArrayList<>();
        if (input instanceof JsonArray array) {
            array.forEach(item -> texts.add(String.valueOf(item)));
        } else {
            texts.add(String.valueOf(input));
        }
        int dimensions = call.body().getInteger("dimensions", 8);
        boolean base64 = "base64".equals(call.body().getValue("encoding_format"));
        JsonArray data = new JsonArray();
        long tokens = 0;
        for (int i = 0; i < texts.size(); i++) {
            tokens += TokenCounter.count(texts.get(i));
            JsonArray vector = vector(texts.get(i), dimensions);
            data.add(new JsonObject().put("object", "embedding").put("index", i)
                .put("embedding", base64 ? base64(vector) : vector));
        }
        Usage usage = new Usage(tokens, 0, 0, 0, false);
        JsonObject body = new JsonObject().put("object", "list").put("data", data).put("model", label(call))
            .put("usage", new JsonObject().put("prompt_tokens", tokens).put("total_tokens", tokens));
        return Future.succeededFuture(new Completion(body, usage));
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
        int topN = call.body().getInteger("top_n", results.size());
        JsonObject body = new JsonObject().put("model", label(call))
            .put("results", new JsonArray(results.subList(0, Math.min(topN, results.size()))));
        return Future.succeededFuture(new Completion(body, new Usage(tokens, 0, 0, 0, false)));
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

    /** OpenAI's {@code encoding_format: base64}: the vector as little-endian float32, base64-encoded. */
    private static String base64(JsonArray vector) {
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(vector.size() * Float.BYTES)
            .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < vector.size(); i++) {
            bytes.putFloat(vector.getDouble(i).floatValue());
        }
        return java.util.Base64.getEncoder().encodeToString(bytes.array());
    }

    private JsonObject chunk(String id, long created, UpstreamCall call, JsonObject delta, String finishReason) {
        return new JsonObject().put("id", id).put("object", "chat.completion.chunk").put("created", created)
            .put("model", label(call))
            .put("choices", new JsonArray().add(new JsonObject().put("index", 0).put("delta", delta)
                .put("logprobs", null).put("finish_reason", finishReason)));
    }

    private String label(UpstreamCall call) {
        return provider.id() + "/" + call.upstreamModel();
    }

    private record Answer(String text, List<String> pieces, String finishReason, Usage usage) {
    }

    private Answer answer(UpstreamCall call) {
        String said = lastUserText(call.body());
        if (said.length() > ECHO_LIMIT) {
            said = said.substring(0, ECHO_LIMIT) + "…";
        }
        String full = "Hello from TokenHub's mock model. You said: " + said;
        List<String> pieces = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        int tokens = 0;
        String finish = "stop";
        for (String word : full.split("(?<= )")) {
            int cost = TokenCounter.count(word);
            if (tokens + cost > call.maxTokens()) {
                finish = "length";
                break;
            }
            tokens += cost;
            pieces.add(word);
            text.append(word);
        }
        Usage usage = new Usage(TokenCounter.chatPrompt(call.body()), 0, tokens, 0, false);
        return new Answer(text.toString(), pieces, finish, usage);
    }

    private static String lastUserText(JsonObject body) {
        JsonArray messages = body.getJsonArray("messages", new JsonArray());
        for (int i = messages.size() - 1; i >= 0; i--) {
            if (messages.getValue(i) instanceof JsonObject m && "user".equals(m.getValue("role"))) {
                Object content = m.getValue("content");
                if (content instanceof String s) {
                    return s;
                }
                if (content instanceof JsonArray parts) {
                    StringBuilder out = new StringBuilder();
                    for (Object p : parts) {
                        if (p instanceof JsonObject part && part.getValue("text") instanceof String t) {
                            out.append(t);
                        }
                    }
                    return out.toString();
                }
            }
        }
        return "";
    }
}
