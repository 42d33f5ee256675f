package io.tokenhub.testing;

import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An Anthropic Messages API on an ephemeral port, speaking the real wire format: the JSON message
 * and the SSE sequence message_start, content_block_start, ping, content_block_delta…,
 * content_block_stop, message_delta, message_stop. Each test configures the answer and at most
 * one fault before calling it. It records every request and counts the connections the client
 * closed, which is how a test proves an upstream call was really cancelled.
 */
public final class FakeAnthropicUpstream {

    /** What happens to a stream after {@code faultAfterEvents} events were written. */
    public enum StreamFault {
        NONE,
        /** Close the TCP connection, as when a proxy or the provider dies mid-answer. */
        DROP,
        /** End the HTTP response cleanly, without message_delta / message_stop. */
        END,
        /** Write an event whose data is truncated JSON, then end. */
        MALFORMED,
        /** Write Anthropic's in-stream {@code error} event (overloaded_error), then end. */
        ERROR_EVENT,
        /** Write nothing more and keep the connection open. */
        STALL
    }

    public record Recorded(String method, String path, MultiMap headers, JsonObject body) {
    }

    /** One content block of the answer: text or thinking deltas, or a tool call's partial_json fragments. */
    private record Block(String type, String toolId, String toolName, List<String> parts) {
    }

    private static final String THINKING_SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxsig_fake";

    private final Vertx vertx;
    private HttpServer server;
    private final List<Recorded> requests = new CopyOnWriteArrayList<>();
    private final AtomicInteger connectionsOpened = new AtomicInteger();
    private final AtomicInteger clientCloses = new AtomicInteger();
    /** Connections the fake closed itself (DROP), so that they are not counted as client closes. */
    private final Set<HttpConnection> closedByServer = Collections.synchronizedSet(
        Collections.newSetFromMap(new IdentityHashMap<>()));
    private final Map<CompletableFuture<Integer>, Integer> closeWaiters = new IdentityHashMap<>();
    private final Map<CompletableFuture<Void>, Integer> requestWaiters = new IdentityHashMap<>();

    private final List<Block> blocks = new CopyOnWriteArrayList<>();
    private volatile String stopReason = "end_turn";
    private volatile JsonObject usage = usageJson(25, 0, 0, 12);
    private volatile boolean finalUsage = true;

    private volatile int failStatus;
    private volatile String failType;
    private volatile String failMessage;
    private volatile String retryAfter;
    private volatile boolean hang;
    private volatile long firstByteDelayMs;
    private volatile StreamFault streamFault = StreamFault.NONE;
    private volatile int faultAfterEvents;

    public FakeAnthropicUpstream(Vertx vertx) {
        this.vertx = vertx;
    }

    public Future<FakeAnthropicUpstream> start() {
        server = vertx.createHttpServer()
            .connectionHandler(this::onConnection)
            .requestHandler(this::onRequest);
        return server.listen(0, "127.0.0.1").map(s -> this);
    }

    public Future<Void> close() {
        return server == null ? Future.succeededFuture() : server.close();
    }

    /** The base URL a Provider uses; the adapter appends {@code /messages}. */
    public String baseUrl() {
        return "http://127.0.0.1:" + server.actualPort() + "/v1";
    }

    // ---- the answer ------------------------------------------------------------------------

    public FakeAnthropicUpstream text(String... deltas) {
        blocks.add(new Block("text", null, null, List.of(deltas)));
        return this;
    }

    /** An extended-thinking block (thinking_delta events, then its signature_delta), before what follows. */
    public FakeAnthropicUpstream thinking(String... deltas) {
        blocks.add(new Block("thinking", null, null, List.of(deltas)));
        return this;
    }

    public FakeAnthropicUpstream toolUse(String id, String name, String... jsonFragments) {
        blocks.add(new Block("tool_use", id, name, List.of(jsonFragments)));
        return this;
    }

    public FakeAnthropicUpstream stopReason(String reason) {
        this.stopReason = reason;
        return this;
    }

    public FakeAnthropicUpstream usage(long input, long cacheRead, long cacheWrite, long output) {
        this.usage = usageJson(input, cacheRead, cacheWrite, output);
        return this;
    }

    /** message_delta without its {@code usage}: the stream ends well but Anthropic never counts the output. */
    public FakeAnthropicUpstream withoutFinalUsage() {
        this.finalUsage = false;
        return this;
    }

    // ---- faults ----------------------------------------------------------------------------

    /** Answer with this status and Anthropic's error body. */
    public FakeAnthropicUpstream failWith(int status, String errorType, String message) {
        this.failStatus = status;
        this.failType = errorType;
        this.failMessage = message;
        return this;
    }

    public FakeAnthropicUpstream retryAfter(String value) {
        this.retryAfter = value;
        return this;
    }

    /** Read the request, never answer. */
    public FakeAnthropicUpstream hang() {
        this.hang = true;
        return this;
    }

    public FakeAnthropicUpstream firstByteDelay(long ms) {
        this.firstByteDelayMs = ms;
        return this;
    }

    public FakeAnthropicUpstream streamFault(StreamFault fault, int afterEvents) {
        this.streamFault = fault;
        this.faultAfterEvents = afterEvents;
        return this;
    }

    /** Back to an empty, healthy answer with default usage; forgets what was received. */
    public FakeAnthropicUpstream reset() {
        blocks.clear();
        stopReason = "end_turn";
        usage = usageJson(25, 0, 0, 12);
        finalUsage = true;
        failStatus = 0;
        failType = null;
        failMessage = null;
        retryAfter = null;
        hang = false;
        firstByteDelayMs = 0;
        streamFault = StreamFault.NONE;
        faultAfterEvents = 0;
        requests.clear();
        return this;
    }

    // ---- what was seen ---------------------------------------------------------------------

    public List<Recorded> requests() {
        return List.copyOf(requests);
    }

    public int connectionsOpened() {
        return connectionsOpened.get();
    }

    public int clientClosedConnections() {
        return clientCloses.get();
    }

    /** Completes once {@code count} requests have been read in full (e.g. before aborting a hung one). */
    public CompletableFuture<Void> awaitRequests(int count) {
        CompletableFuture<Void> waiter = new CompletableFuture<>();
        synchronized (requestWaiters) {
            if (requests.size() >= count) {
                waiter.complete(null);
            } else {
                requestWaiters.put(waiter, count);
            }
        }
        return waiter;
    }

    /** Completes once the client has closed at least {@code count} connections. */
    public CompletableFuture<Integer> awaitClientClosedConnections(int count) {
        CompletableFuture<Integer> waiter = new CompletableFuture<>();
        synchronized (closeWaiters) {
            if (clientCloses.get() >= count) {
                waiter.complete(clientCloses.get());
            } else {
                closeWaiters.put(waiter, count);
            }
        }
        return waiter;
    }

    // ---- server ----------------------------------------------------------------------------

    private void onConnection(HttpConnection connection) {
        connectionsOpened.incrementAndGet();
        connection.closeHandler(v -> {
            if (closedByServer.contains(connection)) {
                return;
            }
            int closes = clientCloses.incrementAndGet();
            synchronized (closeWaiters) {
                closeWaiters.entrySet().removeIf(e -> closes >= e.getValue() && e.getKey().complete(closes));
            }
        });
    }

    private void onRequest(HttpServerRequest request) {
        request.body().onSuccess(buffer -> {
            MultiMap headers = MultiMap.caseInsensitiveMultiMap().addAll(request.headers());
            JsonObject body = buffer.length() == 0 ? new JsonObject() : buffer.toJsonObject();
            requests.add(new Recorded(request.method().name(), request.path(), headers, body));
            synchronized (requestWaiters) {
                requestWaiters.entrySet().removeIf(e -> requests.size() >= e.getValue() && e.getKey().complete(null));
            }
            if (hang) {
                return;
            }
            HttpServerResponse response = request.response();
            if (firstByteDelayMs > 0) {
                long timer = vertx.setTimer(firstByteDelayMs, id -> answer(request, body));
                response.closeHandler(v -> vertx.cancelTimer(timer));
            } else {
                answer(request, body);
            }
        });
    }

    private void answer(HttpServerRequest request, JsonObject body) {
        HttpServerResponse response = request.response();
        if (response.closed()) {
            return;
        }
        response.putHeader("request-id", "req_fake_" + requests.size());
        if (failStatus != 0) {
            if (retryAfter != null) {
                response.putHeader("retry-after", retryAfter);
            }
            JsonObject error = new JsonObject().put("type", "error")
                .put("error", new JsonObject().put("type", failType).put("message", failMessage));
            response.setStatusCode(failStatus).putHeader("content-type", "application/json").end(error.encode());
            return;
        }
        String model = body.getString("model", "claude-fake");
        if (Boolean.TRUE.equals(body.getValue("stream"))) {
            stream(request, response, model);
        } else {
            response.putHeader("content-type", "application/json").end(message(model).encode());
        }
    }

    private JsonObject message(String model) {
        JsonArray content = new JsonArray();
        for (Block block : blocks) {
            String joined = String.join("", block.parts());
            content.add(switch (block.type()) {
                case "text" -> new JsonObject().put("type", "text").put("text", joined);
                case "thinking" -> new JsonObject().put("type", "thinking").put("thinking", joined)
                    .put("signature", THINKING_SIGNATURE);
                default -> new JsonObject().put("type", "tool_use").put("id", block.toolId())
                    .put("name", block.toolName())
                    .put("input", joined.isEmpty() ? new JsonObject() : new JsonObject(joined));
            });
        }
        return new JsonObject().put("id", "msg_fake").put("type", "message").put("role", "assistant")
            .put("model", model).put("content", content).put("stop_reason", stopReason)
            .put("stop_sequence", null).put("usage", usage.copy());
    }

    private void stream(HttpServerRequest request, HttpServerResponse response, String model) {
        response.setChunked(true).putHeader("content-type", "text/event-stream; charset=utf-8")
            .putHeader("cache-control", "no-cache");
        List<String> events = events(model);
        StreamFault fault = streamFault;
        int cut = fault == StreamFault.NONE ? events.size() : Math.min(faultAfterEvents, events.size());
        // One write per event, as Anthropic flushes them, so the client parses across buffers.
        Future<Void> written = Future.succeededFuture();
        for (int i = 0; i < cut; i++) {
            written = response.write(events.get(i));
        }
        switch (fault) {
            case NONE, END -> response.end();
            // Close only once the events are on the wire, so the client really sees a partial stream.
            case DROP -> written.onComplete(v -> {
                closedByServer.add(request.connection());
                request.connection().close();
            });
            case MALFORMED -> response.end(event("content_block_delta",
                "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_"));
            case ERROR_EVENT -> response.end(event("error", new JsonObject().put("type", "error")
                .put("error", new JsonObject().put("type", "overloaded_error").put("message", "Overloaded"))
                .encode()));
            case STALL -> {
            }
        }
    }

    private List<String> events(String model) {
        List<String> out = new ArrayList<>();
        JsonObject startUsage = usage.copy().put("output_tokens", 1);
        out.add(event("message_start", new JsonObject().put("type", "message_start").put("message",
            new JsonObject().put("id", "msg_fake").put("type", "message").put("role", "assistant")
                .put("content", new JsonArray()).put("model", model).put("stop_reason", null)
                .put("stop_sequence", null).put("usage", startUsage)).encode()));
        for (int index = 0; index < blocks.size(); index++) {
            Block block = blocks.get(index);
            if (block.type().equals("thinking")) {
                thinkingEvents(out, index, block);
                continue;
            }
            boolean text = block.type().equals("text");
            JsonObject start = text ? new JsonObject().put("type", "text").put("text", "")
                : new JsonObject().put("type", "tool_use").put("id", block.toolId()).put("name", block.toolName())
                    .put("input", new JsonObject());
            out.add(event("content_block_start", new JsonObject().put("type", "content_block_start")
                .put("index", index).put("content_block", start).encode()));
            if (index == 0) {
                out.add(event("ping", "{\"type\": \"ping\"}"));
            }
            List<String> parts = new ArrayList<>(block.parts());
            if (!text) {
                parts.add(0, ""); // Anthropic opens every tool_use block with an empty fragment
            }
            for (String part : parts) {
                JsonObject delta = text ? new JsonObject().put("type", "text_delta").put("text", part)
                    : new JsonObject().put("type", "input_json_delta").put("partial_json", part);
                out.add(event("content_block_delta", new JsonObject().put("type", "content_block_delta")
                    .put("index", index).put("delta", delta).encode()));
            }
            out.add(event("content_block_stop", new JsonObject().put("type", "content_block_stop")
                .put("index", index).encode()));
        }
        JsonObject messageDelta = new JsonObject().put("type", "message_delta")
            .put("delta", new JsonObject().put("stop_reason", stopReason).put("stop_sequence", null));
        if (finalUsage) {
            messageDelta.put("usage", new JsonObject().put("output_tokens", usage.getLong("output_tokens")));
        }
        out.add(event("message_delta", messageDelta.encode()));
        out.add(event("message_stop", "{\"type\":\"message_stop\"}"));
        return out;
    }

    private static void thinkingEvents(List<String> out, int index, Block block) {
        out.add(event("content_block_start", new JsonObject().put("type", "content_block_start").put("index", index)
            .put("content_block", new JsonObject().put("type", "thinking").put("thinking", "")).encode()));
        if (index == 0) {
            out.add(event("ping", "{\"type\": \"ping\"}"));
        }
        for (String part : block.parts()) {
            out.add(event("content_block_delta", new JsonObject().put("type", "content_block_delta").put("index", index)
                .put("delta", new JsonObject().put("type", "thinking_delta").put("thinking", part)).encode()));
        }
        out.add(event("content_block_delta", new JsonObject().put("type", "content_block_delta").put("index", index)
            .put("delta", new JsonObject().put("type", "signature_delta").put("signature", THINKING_SIGNATURE))
            .encode()));
        out.add(event("content_block_stop", new JsonObject().put("type", "content_block_stop")
            .put("index", index).encode()));
    }

    private static String event(String name, String data) {
        return "event: " + name + "\ndata: " + data + "\n\n";
    }

    private static JsonObject usageJson(long input, long cacheRead, long cacheWrite, long output) {
        return new JsonObject().put("input_tokens", input).put("cache_creation_input_tokens", cacheWrite)
            .put("cache_read_input_tokens", cacheRead).put("output_tokens", output);
    }
}
