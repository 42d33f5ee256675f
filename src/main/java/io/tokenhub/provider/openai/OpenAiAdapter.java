package io.tokenhub.provider.openai;

import io.tokenhub.core.Usage;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.ChunkStream;
import io.tokenhub.provider.Completion;
import io.tokenhub.provider.EmbeddingFormat;
import io.tokenhub.provider.HttpUpstream;
import io.tokenhub.provider.ProviderAdapter;
import io.tokenhub.provider.UpstreamCall;
import io.tokenhub.provider.UpstreamException;
import io.tokenhub.provider.UpstreamException.Kind;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Any OpenAI-compatible Chat Completions API (OpenAI, DeepSeek, Qwen, Doubao, vLLM…). The body is
 * passed through with fields we do not know kept; only the model, the output limit and the stream
 * usage option are set, TokenHub's own fields are removed, and its extensions (thinking, search)
 * are put in the provider's words ({@link Dialect}).
 */
public final class OpenAiAdapter implements ProviderAdapter {

    /**
     * TokenHub's own fields; the stream option, which only a streamed call sends (set anew); the
     * output limit under either name (set anew, under the name the provider takes); and what is the
     * operator's to decide at the provider, not a client's: {@code service_tier} (OpenAI bills
     * priority processing higher than the catalog's price) and {@code store} (conversations kept in
     * the operator's account there), with {@code metadata}, which only tags stored conversations
     * (OpenAI refuses it without {@code store}).
     */
    private static final Set<String> DROPPED = Set.of("fallback_models", "stream_options", "max_tokens",
        "max_completion_tokens", "service_tier", "store", "metadata");
    /** Those, and TokenHub's extensions, for a provider that takes them in words of its own ({@link Dialect}). */
    private static final Set<String> DROPPED_AND_EXTENSIONS = Dialect.withExtensions(DROPPED);
    /** Those, and an effort of none, which DeepSeek takes as its switch instead ({@link Dialect#offByEffort}). */
    private static final Set<String> DROPPED_AND_EFFORT = Stream.concat(DROPPED_AND_EXTENSIONS.stream(),
        Stream.of("reasoning_effort")).collect(Collectors.toUnmodifiableSet());
    /** The smallest client body relayed from its bytes rather than encoded again. */
    static final int RELAY_FROM_BYTES = 512;

    private final HttpUpstream upstream;
    private final Dialect dialect;
    private final HttpUpstream.Endpoint chat;
    private final HttpUpstream.Endpoint embeddings;
    private final HttpUpstream.Endpoint rerank;

    public OpenAiAdapter(HttpUpstream upstream) {
        this.upstream = upstream;
        this.dialect = Dialect.of(upstream.provider().dialect(), upstream.provider().baseUrl());
        MultiMap headers = MultiMap.caseInsensitiveMultiMap();
        String apiKey = upstream.provider().apiKey();
        if (!apiKey.isEmpty()) {
            headers.add(HttpHeaders.AUTHORIZATION, "Bearer " + apiKey);
        }
        this.chat = upstream.endpoint("/chat/completions", headers);
        this.embeddings = upstream.endpoint("/embeddings", headers);
        this.rerank = upstream.endpoint("/rerank", headers);
    }

    @Override
    public int retries() {
        return upstream.provider().retries();
    }

    @Override
    public String providerId() {
        return upstream.provider().id();
    }

    @Override
    public Future<Completion> complete(UpstreamCall call, Abort abort) {
        Buffer body = upstreamBody(call, false);
        return upstream.post(chat, body, abort, call.clock())
            .compose(response -> HttpUpstream.body(response, upstream, call.clock(), abort))
            .map(buffer -> completion(buffer, call));
    }

    @Override
    public Future<ChunkStream> stream(UpstreamCall call, Abort abort) {
        Buffer body = upstreamBody(call, true);
        return upstream.post(chat, body, abort, call.clock())
            .map(response -> new OpenAiChunkStream(response, upstream, call, abort, dialect));
    }

    /**
     * The error a body holds in place of an answer or a chunk, or null: its {@code error} object, or
     * its {@code error} text (Text Generation Inference's older shape, with {@code error_type}).
     */
    static JsonObject errorIn(JsonObject body) {
        if (body.getValue("error") instanceof JsonObject error) {
            return error;
        }
        return body.getValue("error") instanceof String message
            ? new JsonObject().put("message", message).put("type", body.getValue("error_type")) : null;
    }

    @Override
    public Future<Completion> embeddings(UpstreamCall call, Abort abort) {
        JsonObject body = call.body().copy().put("model", call.upstreamModel());
        return upstream.post(embeddings, body.toBuffer(), abort, call.clock())
            .compose(response -> HttpUpstream.body(response, upstream, call.clock(), abort))
            .map(buffer -> {
                JsonObject answer = json(buffer, "data");
                answer.put("model", label(answer.getValue("model"), call));
                EmbeddingFormat.asAsked(answer.getValue("data"), call.body().getValue("encoding_format"), providerId());
                return Completion.of(answer, inputCount(answer, "prompt_tokens", "total_tokens"));
            });
    }

    @Override
    public Future<Completion> rerank(UpstreamCall call, Abort abort) {
        JsonObject body = call.body().copy().put("model", call.upstreamModel());
        return upstream.post(rerank, body.toBuffer(), abort, call.clock())
            .compose(response -> HttpUpstream.body(response, upstream, call.clock(), abort))
            .map(buffer -> {
                JsonObject answer = json(buffer, "results");
                // Jina reports usage.total_tokens; Cohere reports meta.billed_units.search_units.
                Usage tokens = inputCount(answer, "total_tokens");
                JsonObject result = new JsonObject()
                    // Cohere and Jina name their answers, vLLM's may not: then the request's id, never null.
                    .put("id", answer.getValue("id") instanceof String id && !id.isEmpty() ? id
                        : "rerank-" + call.requestId())
                    .put("model", label(answer.getValue("model"), call))
                    .put("results", rerankResults(answer.getJsonArray("results"), call.body()));
                return Completion.of(result, tokens);
            });
    }

    /**
     * The results as Cohere's shape has them, whatever the provider's defaults: best first, at most
     * {@code top_n}, a {@code document} only when the client asked for documents (Jina returns them
     * unless told otherwise, vLLM always).
     */
    static JsonArray rerankResults(JsonArray results, JsonObject request) {
        boolean documents = Boolean.TRUE.equals(request.getValue("return_documents"));
        int topN = request.getValue("top_n") instanceof Number n ? n.intValue() : Integer.MAX_VALUE;
        List<Object> ranked = new ArrayList<>(results.size());
        results.forEach(ranked::add);
        ranked.sort(Comparator.comparingDouble(OpenAiAdapter::relevance).reversed());
        JsonArray out = new JsonArray();
        for (Object result : ranked.subList(0, Math.min(topN, ranked.size()))) {
            if (!documents && result instanceof JsonObject r && r.containsKey("document")) {
                JsonObject without = r.copy();
                without.remove("document");
                out.add(without);
            } else {
                out.add(result);
            }
        }
        return out;
    }

    private static double relevance(Object result) {
        return result instanceof JsonObject r && r.getValue("relevance_score") instanceof Number score
            ? score.doubleValue() : Double.NEGATIVE_INFINITY;
    }

    private JsonObject json(Buffer buffer, String requiredArray) {
        try {
            JsonObject body = buffer.toJsonObject();
            if (body.getValue(requiredArray) instanceof JsonArray) {
                return body;
            }
        } catch (DecodeException | ClassCastException e) {
            throw UpstreamException.of(providerId(), Kind.CONNECTION, "the provider answered with malformed JSON");
        }
        throw UpstreamException.of(providerId(), Kind.CONNECTION, "the provider's answer has no " + requiredArray);
    }

    /**
     * The chat body for the upstream: the client's, without TokenHub's own fields, with the
     * deployment's model, the stream flag, the output limit and (streaming) the usage option set.
     * From the client's bytes when the call has them, so that the messages are not encoded again.
     */
    Buffer upstreamBody(UpstreamCall call, boolean stream) {
        JsonObject body = call.body();
        // OpenAI's reasoning models refuse max_tokens, and all its chat models take max_completion_tokens
        // (the limit is sent even when the client set none); DeepSeek's documents max_tokens only;
        // elsewhere the name the client used.
        boolean completionLimit = dialect == Dialect.OPENAI
            || dialect != Dialect.DEEPSEEK && body.containsKey("max_completion_tokens");
        JsonObject changed = new JsonObject(new LinkedHashMap<>(8))
            .put("model", call.upstreamModel())
            .put("stream", stream)
            .put(completionLimit ? "max_completion_tokens" : "max_tokens", call.maxTokens());
        if (stream) {
            JsonObject options = body.getValue("stream_options") instanceof JsonObject o ? o.copy() : new JsonObject();
            changed.put("stream_options", options.put("include_usage", true));
        }
        Object effort = body.getValue("reasoning_effort");
        String effortWord = effort == null ? null : dialect.effortWord(effort);
        if (effortWord != null) {
            changed.put("reasoning_effort", effortWord);
        }
        boolean effortOff = dialect.offByEffort(body);
        boolean translated = effortOff || !dialect.passesThrough() && Dialect.asked(body);
        if (translated) {
            dialect.translate(body, changed);
        }
        Set<String> dropped = effortOff ? DROPPED_AND_EFFORT : translated ? DROPPED_AND_EXTENSIONS : DROPPED;
        // Below about half a kilobyte, encoding the few fields is quicker than scanning the bytes (JMH
        // OpenAiRelayBenchmark: 1.1 against 1.9 µs at 203 bytes; 3.2 against 2.5 µs at 1 KB, 41 against 18 at 16 KB).
        if (call.raw() != null && call.raw().length() >= RELAY_FROM_BYTES) {
            Buffer relayed = RelayedRequest.rewrite(call.raw(),
                name -> body.containsKey(name) && !changed.containsKey(name) && !dropped.contains(name), changed);
            if (relayed != null) {
                return relayed;
            }
        }
        // Only top-level fields change, so the messages are shared with the client's body, not copied.
        JsonObject whole = new JsonObject(new LinkedHashMap<>(body.getMap()));
        dropped.forEach(whole::remove);
        whole.getMap().putAll(changed.getMap());
        return whole.toBuffer();
    }

    private Completion completion(Buffer buffer, UpstreamCall call) {
        Completion relayed = RelayedCompletion.scan(buffer.getBytes(), providerId(), call.upstreamModel());
        return relayed != null ? relayed : parsed(buffer, call);
    }

    /**
     * The whole parse: for answers the byte-level relay does not take, and to say what is wrong with
     * one (an answer the provider cut short for want of resources is its failure, not an answer).
     */
    private Completion parsed(Buffer buffer, UpstreamCall call) {
        JsonObject body;
        try {
            body = buffer.toJsonObject();
        } catch (DecodeException | ClassCastException e) {
            throw UpstreamException.of(providerId(), Kind.CONNECTION, "the provider answered with malformed JSON");
        }
        if (!(body.getValue("choices") instanceof JsonArray)) {
            JsonObject error = errorIn(body);
            throw error != null ? upstream.answerError(error)
                : UpstreamException.of(providerId(), Kind.CONNECTION, "the provider's answer has no choices");
        }
        if (ResourceShortage.in(body.getValue("choices"))) {
            throw ResourceShortage.failure(providerId());
        }
        body.put("model", label(body.getValue("model"), call));
        ReasoningField.rename(body.getValue("choices"), "message");
        Usage usage = body.getValue("usage") instanceof JsonObject u ? Usage.fromOpenAi(u) : null;
        return Completion.of(body, usage);
    }

    /**
     * The input tokens an embeddings or rerank answer's usage counts, under the first of
     * {@code names} it has; null when it counts none (no usage, or {@code {}}), to be estimated.
     */
    private static Usage inputCount(JsonObject answer, String... names) {
        if (answer.getValue("usage") instanceof JsonObject usage) {
            for (String name : names) {
                if (usage.getValue(name) instanceof Number tokens) {
                    return new Usage(tokens.longValue(), 0, 0, 0, false);
                }
            }
        }
        return null;
    }

    /** {@code provider/model} as the provider reported it, else as it was asked for. */
    private String label(Object reportedModel, UpstreamCall call) {
        return providerId() + "/" + (reportedModel instanceof String s && !s.isEmpty() ? s : call.upstreamModel());
    }
}
