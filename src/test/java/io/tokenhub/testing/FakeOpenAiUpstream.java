package io.tokenhub.testing;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An OpenAI-compatible Chat Completions server on an ephemeral port, for tests: answers with the
 * configured text (whole, or streamed as one chunk per piece) and usage, or with one fault; also
 * {@code /embeddings} and {@code /rerank} (Jina shape), with the same faults. It
 * records what it received and notices when a client abandons a response before its end — which
 * is how a test proves that TokenHub cancelled an upstream call.
 */
public final class FakeOpenAiUpstream {

    public enum Fault {
        NONE,
        /** Answer {@link #status} with an OpenAI error body (and Retry-After when set). */
        STATUS,
        /** Accept the request and never answer. */
        HANG,
        /** Answer {@link #status} with the start of an error body, then go quiet with the connection open. */
        STATUS_STALL,
        /** Answer 200 with the start of a chat completion, then go quiet with the connection open. */
        BODY_STALL,
        /** Stream {@link #faultAfter} chunks, then close the connection. */
        DROP_MID_STREAM,
        /** Stream {@link #faultAfter} chunks, then a chunk that is not JSON. */
        MALFORMED,
        /** Stream every chunk, then end the body without {@code [DONE]}. */
        NO_DONE,
        /** Stream {@link #faultAfter} chunks, then go quiet with the connection open. */
        STALL,
        /** Stream {@link #faultAfter} chunks, then wait for {@link #resume()} before the rest. */
        PAUSE,
        /** Stream {@link #faultAfter} chunks, then {@link #errorBody} as a chunk, and end. */
        ERROR_CHUNK,
        /** Stream {@link #faultAfter} chunks, then {@link #raw} as it is, then the rest as usual. */
        RAW,
        /** Stream every chunk and {@code [DONE]}, then {@link #raw} (if set), and keep the body open. */
        HOLD_AFTER_DONE,
        /** Stream {@link #faultAfter} chunks, then a {@code data:} line of 17 MiB that never ends; stay open. */
        ENDLESS_LINE,
        /** Stream {@link #faultAfter} chunks, then a data line of 10 MiB and one of 7 MiB without its end, and end the body. */
        OVERSIZE_AT_END,
        /** Answer 200 {@code application/json}, a streamed request too: {@link #errorBody} if set, else a whole answer. */
        JSON_FOR_STREAM,
        /**
         * DeepSeek's {@code finish_reason: "insufficient_system_resource"}: a stream's chunk
         * {@link #faultAfter} (the role chunk is 0, then one per piece) ends the answer so, with the
         * usage on it or after it as usual, then {@code [DONE]}; a whole answer ends so.
         */
        OUT_OF_RESOURCES,
        /**
         * Answer a stream's head, then only {@code : keep-alive} comments every 50 ms until the client
         * leaves, as DeepSeek keeps a queued request's connection open until inference starts.
         */
        KEEP_ALIVE
    }

    /**
     * One request as received: {@code connection} names the TCP connection it came on (the client's
     * address), so that a test can tell how many connections carried its requests.
     */
    public record Recorded(MultiMap headers, JsonObject body, HttpVersion version, String connection) {
    }

    private final Vertx vertx;
    private final String model;
    private HttpServer server;
    private final List<Recorded> requests = new CopyOnWriteArrayList<>();
    private final AtomicInteger abandoned = new AtomicInteger();
    private final AtomicInteger bodiesStarted = new AtomicInteger();
    private volatile CompletableFuture<Void> abandonedSignal = new CompletableFuture<>();
    private volatile CompletableFuture<Void> resumed = new CompletableFuture<>();

    public volatile List<String> pieces = List.of("Hello", " from", " the", " fake", " upstream.");
    public volatile JsonObject usage = usage(11, 5, 0, 0);
    public volatile Fault fault = Fault.NONE;
    public volatile int status = 500;
    public volatile String retryAfter;
    /** With {@link Fault#STATUS}: this body instead of the OpenAI-shaped error. */
    public volatile JsonObject errorBody;
    public volatile int faultAfter = 1;
    /** With {@link Fault#KEEP_ALIVE}: how many comments before the answer streams; 0, none ever. */
    public volatile int keepAliveComments;
    public volatile long firstByteDelayMs;
    public volatile long chunkDelayMs;
    /** Streams put the usage on the chunk with the finish reason, with no usage chunk after it (as DeepSeek does). */
    public volatile boolean usageWithFinish;
    /** A stream's deltas between the role's and the finish's, when set; else one per piece of {@link #pieces}. */
    public volatile List<JsonObject> deltas;
    /** Fields added to a whole answer's message, when set. */
    public volatile JsonObject messageExtra;
    /** Each chunk of a stream as its JSON pretty-printed over several {@code data:} lines, as SSE allows. */
    public volatile boolean dataOverLines;
    /** What {@link Fault#RAW} and {@link Fault#HOLD_AFTER_DONE} write as it is. */
    public volatile String raw;
    /** The Content-Type of a stream's answer (some servers label a stream {@code application/json}). */
    public volatile String streamContentType = "text/event-stream";

    public FakeOpenAiUpstream(Vertx vertx, String model) {
        this.vertx = vertx;
        this.model = model;
    }

    public static JsonObject usage(int prompt, int completion, int cached, int reasoning) {
        return new JsonObject().put("prompt_tokens", prompt).put("completion_tokens", completion)
            .put("total_tokens", prompt + completion)
            .put("prompt_tokens_details", new JsonObject().put("cached_tokens", cached))
            .put("completion_tokens_details", new JsonObject().put("reasoning_tokens", reasoning));
    }

    public FakeOpenAiUpstream start() {
        server = vertx.createHttpServer().requestHandler(this::handle);
        join(server.listen(0, "127.0.0.1"));
        return this;
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.actualPort() + "/v1";
    }

    /** A catalog of one model, gpt-4o-mini at OpenAI's price, served by this upstream as provider {@code openai}. */
    public String miniCatalog() {
        return """
            providers:
              - { id: openai, type: openai, base_url: "%s" }
            models:
              - id: gpt-4o-mini
                pricing: { input: 0.15, output: 0.60 }
                deployments: [ { provider: openai, model: gpt-4o-mini } ]
            """.formatted(baseUrl());
    }

    public void stop() {
        join(server.close());
    }

    /** Back to a healthy upstream with the default answer, and forget what was received. */
    public void reset() {
        pieces = List.of("Hello", " from", " the", " fake", " upstream.");
        usage = usage(11, 5, 0, 0);
        fault = Fault.NONE;
        status = 500;
        retryAfter = null;
        errorBody = null;
        faultAfter = 1;
        firstByteDelayMs = 0;
        chunkDelayMs = 0;
        usageWithFinish = false;
        deltas = null;
        messageExtra = null;
        dataOverLines = false;
        raw = null;
        streamContentType = "text/event-stream";
        keepAliveComments = 0;
        requests.clear();
        abandoned.set(0);
        bodiesStarted.set(0);
        abandonedSignal = new CompletableFuture<>();
        resumed = new CompletableFuture<>();
    }

    /** Lets streams held by {@link Fault#PAUSE} go on to their end. */
    public void resume() {
        resumed.complete(null);
    }

    public List<Recorded> requests() {
        return requests;
    }

    public Recorded lastRequest() {
        return requests.get(requests.size() - 1);
    }

    /** Responses of {@link Fault#BODY_STALL} whose head and first bytes were written to the client. */
    public int bodiesStarted() {
        return bodiesStarted.get();
    }

    /** Responses the client abandoned before they ended. */
    public int abandoned() {
        return abandoned.get();
    }

    /** Completes when a client abandons a response; fails the test after the timeout. */
    public void awaitAbandoned(long timeoutMs) {
        try {
            abandonedSignal.get(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            throw new AssertionError("no upstream response was abandoned within " + timeoutMs + " ms", e);
        }
    }

    private void handle(HttpServerRequest request) {
        request.body().onSuccess(buffer -> {
            JsonObject body = buffer.length() == 0 ? new JsonObject() : buffer.toJsonObject();
            requests.add(new Recorded(MultiMap.caseInsensitiveMultiMap().addAll(request.headers()), body,
                request.version(), String.valueOf(request.connection().remoteAddress())));
            HttpServerResponse response = request.response();
            response.closeHandler(v -> {
                if (!response.ended()) {
                    abandoned.incrementAndGet();
                    abandonedSignal.complete(null);
                }
            });
            if (fault == Fault.HANG) {
                return;
            }
            Runnable answer = () -> answer(request, response, body);
            if (firstByteDelayMs > 0) {
                vertx.setTimer(firstByteDelayMs, id -> answer.run());
            } else {
                answer.run();
            }
        });
    }

    private void answer(HttpServerRequest request, HttpServerResponse response, JsonObject body) {
        if (response.closed()) {
            return;
        }
        if (fault == Fault.STATUS_STALL) {
            response.setStatusCode(status).putHeader("Content-Type", "application/json").setChunked(true)
                .write("{\"error\": {\"message\": \"fake upst");
            return;
        }
        if (fault == Fault.BODY_STALL) {
            response.putHeader("Content-Type", "application/json").setChunked(true)
                .write("{\"id\": \"chatcmpl-fake\", \"object\": \"chat.completion\", ")
                .onSuccess(v -> bodiesStarted.incrementAndGet());
            return;
        }
        if (fault == Fault.STATUS && errorBody != null) {
            response.setStatusCode(status).putHeader("Content-Type", "application/json").end(errorBody.encode());
            return;
        }
        if (fault == Fault.STATUS) {
            if (retryAfter != null) {
                response.putHeader("Retry-After", retryAfter);
            }
            response.setStatusCode(status).putHeader("Content-Type", "application/json")
                .end(new JsonObject().put("error", new JsonObject().put("message", "fake upstream says " + status)
                    .put("type", status == 429 ? "rate_limit_error" : status >= 500 ? "server_error"
                        : "invalid_request_error")
                    .put("param", status == 400 ? "messages" : null).put("code", "fake_" + status)).encode());
            return;
        }
        if (request.path().endsWith("/embeddings")) {
            response.putHeader("Content-Type", "application/json").end(embeddings(body).encode());
        } else if (request.path().endsWith("/rerank")) {
            response.putHeader("Content-Type", "application/json").end(rerank(body).encode());
        } else if (fault == Fault.JSON_FOR_STREAM) {
            response.putHeader("Content-Type", "application/json")
                .end((errorBody != null ? errorBody : completion()).encode());
        } else if (Boolean.TRUE.equals(body.getValue("stream")) && fault == Fault.KEEP_ALIVE) {
            keepAlive(response, body);
        } else if (Boolean.TRUE.equals(body.getValue("stream"))) {
            stream(response, body);
        } else {
            response.putHeader("Content-Type", "application/json").end(completion().encode());
        }
    }

    /**
     * {@code POST /embeddings}: one vector per input ({@code dimensions} long, default 4, entry i of
     * input n is {@code n + i / 10}), usage = the configured usage's prompt tokens ({@code {}} when
     * the configured usage is {@code {}}).
     */
    private JsonObject embeddings(JsonObject body) {
        Object input = body.getValue("input");
        int count = input instanceof JsonArray array ? array.size() : 1;
        int dimensions = body.getValue("dimensions") instanceof Number n ? n.intValue() : 4;
        JsonArray data = new JsonArray();
        for (int n = 0; n < count; n++) {
            JsonArray vector = new JsonArray();
            for (int i = 0; i < dimensions; i++) {
                vector.add(n + i / 10.0);
            }
            data.add(new JsonObject().put("object", "embedding").put("index", n).put("embedding", vector));
        }
        long prompt = usage == null ? 0 : usage.getLong("prompt_tokens", 0L);
        return new JsonObject().put("object", "list").put("data", data).put("model", model)
            .put("usage", usage != null && usage.isEmpty() ? new JsonObject()
                : new JsonObject().put("prompt_tokens", prompt).put("total_tokens", prompt));
    }

    /**
     * {@code POST /rerank} in Jina's shape: document i scores {@code 1 / (i + 1)}, so the order is the
     * documents' order; {@code top_n} and {@code return_documents} honoured; usage.total_tokens =
     * the configured usage's prompt tokens ({@code {}} when the configured usage is {@code {}}).
     */
    private JsonObject rerank(JsonObject body) {
        JsonArray documents = body.getValue("documents") instanceof JsonArray d ? d : new JsonArray();
        int topN = body.getValue("top_n") instanceof Number n ? n.intValue() : documents.size();
        JsonArray results = new JsonArray();
        for (int i = 0; i < Math.min(topN, documents.size()); i++) {
            JsonObject result = new JsonObject().put("index", i).put("relevance_score", 1.0 / (i + 1));
            if (Boolean.TRUE.equals(body.getValue("return_documents"))) {
                Object document = documents.getValue(i);
                result.put("document", document instanceof JsonObject o ? o : new JsonObject().put("text", document));
            }
            results.add(result);
        }
        long prompt = usage == null ? 0 : usage.getLong("prompt_tokens", 0L);
        return new JsonObject().put("model", model).put("results", results)
            .put("usage", usage != null && usage.isEmpty() ? new JsonObject() : new JsonObject().put("total_tokens", prompt));
    }

    private JsonObject completion() {
        return new JsonObject().put("id", "chatcmpl-fake").put("object", "chat.completion").put("created", 1)
            .put("model", model)
            .put("choices", new JsonArray().add(new JsonObject().put("index", 0)
                .put("message", new JsonObject().put("role", "assistant").put("content", String.join("", pieces))
                    .mergeIn(messageExtra == null ? new JsonObject() : messageExtra))
                .put("finish_reason", finishReason())))
            .put("usage", usage)
            .put("system_fingerprint", "fp_fake");
    }

    private void stream(HttpServerResponse response, JsonObject body) {
        boolean includeUsage = body.getValue("stream_options") instanceof JsonObject o
            && Boolean.TRUE.equals(o.getValue("include_usage"));
        List<JsonObject> deltas = new java.util.ArrayList<>();
        deltas.add(new JsonObject().put("role", "assistant").put("content", ""));
        if (this.deltas != null) {
            deltas.addAll(this.deltas);
        } else {
            for (String piece : pieces) {
                deltas.add(new JsonObject().put("content", piece));
            }
        }
        deltas.add(new JsonObject());
        // The chunk with the finish reason: the last, or the one cut short.
        int last = fault == Fault.OUT_OF_RESOURCES ? Math.min(faultAfter, deltas.size() - 1) : deltas.size() - 1;
        List<String> events = new java.util.ArrayList<>();
        for (int i = 0; i < last; i++) {
            events.add(chunk(deltas.get(i), null, includeUsage));
        }
        if (usageWithFinish && includeUsage && usage != null) {
            events.add(new JsonObject(chunk(deltas.get(last), finishReason(), true)).put("usage", usage).encode());
        } else {
            events.add(chunk(deltas.get(last), finishReason(), includeUsage));
        }
        if (includeUsage && usage != null && !usageWithFinish) {
            events.add(new JsonObject().put("id", "chatcmpl-fake").put("object", "chat.completion.chunk")
                .put("created", 1).put("model", model).put("choices", new JsonArray()).put("usage", usage).encode());
        }
        if (!response.headWritten()) {
            response.setChunked(true).putHeader("Content-Type", streamContentType);
        }
        send(response, events, 0);
    }

    private String finishReason() {
        return fault == Fault.OUT_OF_RESOURCES ? "insufficient_system_resource" : "stop";
    }

    /** Comments every 50 ms: for ever, or {@link #keepAliveComments} of them before the answer streams. */
    private void keepAlive(HttpServerResponse response, JsonObject body) {
        response.setChunked(true).putHeader("Content-Type", "text/event-stream").write(": keep-alive\n\n");
        int[] sent = {1};
        int comments = keepAliveComments;
        vertx.setPeriodic(50, id -> {
            if (response.closed()) {
                vertx.cancelTimer(id);
            } else if (comments > 0 && sent[0] >= comments) {
                vertx.cancelTimer(id);
                stream(response, body);
            } else {
                sent[0]++;
                response.write(": keep-alive\n\n");
            }
        });
    }

    private void send(HttpServerResponse response, List<String> events, int index) {
        if (response.closed()) {
            return;
        }
        boolean faultNow = index == faultAfter;
        if (faultNow && fault == Fault.DROP_MID_STREAM) {
            response.reset();
            return;
        }
        if (faultNow && fault == Fault.STALL) {
            return;
        }
        if (faultNow && fault == Fault.PAUSE && !resumed.isDone()) {
            Context context = vertx.getOrCreateContext();
            resumed.thenRun(() -> context.runOnContext(v -> send(response, events, index)));
            return;
        }
        if (faultNow && fault == Fault.ERROR_CHUNK) {
            response.end("data: " + errorBody.encode() + "\n\n");
            return;
        }
        if (faultNow && fault == Fault.MALFORMED) {
            response.end("data: {\"choices\": [\n\n");
            return;
        }
        if (faultNow && fault == Fault.ENDLESS_LINE) {
            response.write("data: {\"x\":\"");
            Buffer mebibyte = Buffer.buffer("a".repeat(1 << 20));
            for (int i = 0; i < 17 && !response.closed(); i++) {
                response.write(mebibyte);
            }
            return;
        }
        if (faultNow && fault == Fault.OVERSIZE_AT_END) {
            Buffer mebibyte = Buffer.buffer("a".repeat(1 << 20));
            response.write("data: {\"x\":\"");
            for (int i = 0; i < 10; i++) {
                response.write(mebibyte);
            }
            response.write("\ndata: ");
            for (int i = 0; i < 7; i++) {
                response.write(mebibyte);
            }
            response.end();
            return;
        }
        if (faultNow && fault == Fault.RAW && raw != null) {
            response.write(raw);
        }
        if (index == events.size() && fault == Fault.HOLD_AFTER_DONE) {
            response.write("data: [DONE]\n\n" + (raw == null ? "" : raw));
            return;
        }
        if (index == events.size()) {
            response.end(fault == Fault.NO_DONE ? "" : "data: [DONE]\n\n");
            return;
        }
        String event = events.get(index);
        response.write(dataOverLines ? "data: " + new JsonObject(event).encodePrettily().replace("\n", "\ndata: ") + "\n\n"
            : "data: " + event + "\n\n");
        if (chunkDelayMs > 0) {
            vertx.setTimer(chunkDelayMs, id -> send(response, events, index + 1));
        } else {
            send(response, events, index + 1);
        }
    }

    private String chunk(JsonObject delta, String finishReason, boolean includeUsage) {
        JsonObject chunk = new JsonObject().put("id", "chatcmpl-fake").put("object", "chat.completion.chunk")
            .put("created", 1).put("model", model)
            .put("choices", new JsonArray().add(new JsonObject().put("index", 0).put("delta", delta)
                .put("finish_reason", finishReason)));
        if (includeUsage) {
            chunk.put("usage", (Object) null);
        }
        return chunk.encode();
    }

    private static <T> T join(Future<T> future) {
        try {
            return future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
