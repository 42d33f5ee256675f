package io.tokenhub.provider.anthropic;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.tokenhub.config.TokenHubConfig.CircuitBreaker;
import io.tokenhub.config.TokenHubConfig.Deployment;
import io.tokenhub.config.TokenHubConfig.Provider;
import io.tokenhub.config.TokenHubConfig.Timeouts;
import io.tokenhub.core.Usage;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.Chunk;
import io.tokenhub.provider.ChunkStream;
import io.tokenhub.provider.Completion;
import io.tokenhub.provider.HttpUpstream;
import io.tokenhub.provider.UpstreamCall;
import io.tokenhub.provider.UpstreamException;
import io.tokenhub.provider.UpstreamException.Kind;
import io.tokenhub.testing.FakeAnthropicUpstream;
import io.tokenhub.testing.FakeAnthropicUpstream.Recorded;
import io.tokenhub.testing.FakeAnthropicUpstream.StreamFault;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The adapter against a fake Anthropic server over real HTTP. Every adapter call and every
 * handler runs on one event loop context, as in the gateway (Abort is single-threaded); the test
 * thread only waits, with a timeout, for futures completed from there.
 */
class AnthropicAdapterTest {

    private static final long WAIT_SECONDS = 10;

    private Vertx vertx;
    private Context loop;
    private HttpClient client;
    private FakeAnthropicUpstream fake;

    @BeforeEach
    void setUp() throws Exception {
        vertx = Vertx.vertx();
        loop = vertx.getOrCreateContext();
        fake = get(new FakeAnthropicUpstream(vertx).start());
        client = vertx.createHttpClient(new HttpClientOptions(), new PoolOptions().setHttp1MaxSize(50));
    }

    @AfterEach
    void tearDown() throws Exception {
        get(vertx.close());
    }

    // ---- the request on the wire ---------------------------------------------------------------

    @Test
    void sendsAnthropicHeadersAndTheTranslatedBody() throws Exception {
        fake.text("ok");
        JsonObject body = chat("hi").put("temperature", 1.7).put("stop", "END")
            .put("tools", new JsonArray().add(new JsonObject().put("type", "function")
                .put("function", new JsonObject().put("name", "get_weather"))));
        body.getJsonArray("messages").add(0, new JsonObject().put("role", "system").put("content", "Be brief."));

        onLoop(() -> adapter().complete(call(body), new Abort()));

        assertThat(fake.requests()).hasSize(1);
        Recorded request = fake.requests().get(0);
        assertThat(request.method()).isEqualTo("POST");
        assertThat(request.path()).isEqualTo("/v1/messages");
        assertThat(request.headers().get("x-api-key")).isEqualTo("sk-ant-test");
        assertThat(request.headers().get("anthropic-version")).as("the provider's pinned version").isEqualTo("2023-01-01");
        assertThat(request.headers().contains("authorization")).as("Anthropic keys never go in Authorization").isFalse();
        assertThat(request.headers().get("content-type")).isEqualTo("application/json");
        assertThat(request.body()).isEqualTo(new JsonObject("""
            {"model":"claude-sonnet-4-5","max_tokens":256,"system":"Be brief.",
             "messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],
             "temperature":1.0,"stop_sequences":["END"],
             "tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{}}}],
             "stream":false}"""));
    }

    @Test
    void sendsTheDefaultApiVersionWhenTheProviderPinsNone() throws Exception {
        fake.text("ok");
        AnthropicAdapter adapter = adapter(provider(10_000, ""));

        onLoop(() -> adapter.complete(call(chat("hi")), new Abort()));

        assertThat(fake.requests().get(0).headers().get("anthropic-version")).isEqualTo("2023-06-01");
    }

    @Test
    void unsupportedRequestIsRejectedWithoutAnyNetworkCall() throws Exception {
        JsonObject body = chat("hi").put("n", 2);

        UpstreamException completeFailure = failure(() -> adapter().complete(call(body), new Abort()));
        UpstreamException streamFailure = failure(() -> adapter().stream(call(body), new Abort()));

        for (UpstreamException e : List.of(completeFailure, streamFailure)) {
            // (not the provider's fault, and another provider may serve it)
            assertThat(e.kind()).isEqualTo(Kind.UNSUPPORTED);
            assertThat(e.isProviderFault()).isFalse();
            assertThat(e.status()).isEqualTo(400);
            assertThat(e.getMessage()).contains("n > 1");
            assertThat(e.error().getString("type")).isEqualTo("invalid_request_error");
            assertThat(e.error().getString("param")).isEqualTo("n");
            assertThat(e.error().getString("code")).isEqualTo("unsupported_parameter");
        }
        assertThat(fake.connectionsOpened()).isZero();
        assertThat(fake.requests()).isEmpty();
    }

    @Test
    void aBodyTheTranslationTripsOverIsTheCallersErrorNotTheProviders() throws Exception {
        // A part missing where the translation needs one (the gateway's own checks stop this one earlier)
        JsonObject body = chat("hi");
        body.getJsonArray("messages")
            .add(new JsonObject().put("role", "assistant").put("tool_calls", new JsonArray().addNull()))
            .add(new JsonObject().put("role", "user").put("content", "go"));

        UpstreamException e = failure(() -> adapter().complete(call(body), new Abort()));

        assertThat(e.kind()).isEqualTo(Kind.REJECTED);
        assertThat(e.isProviderFault()).isFalse();
        assertThat(e.status()).isEqualTo(400);
        assertThat(e.getMessage()).doesNotContain("null").doesNotContain("Exception");
        assertThat(fake.requests()).isEmpty();
    }

    @Test
    void translationErrorNamesTheOffendingParameter() throws Exception {
        JsonObject body = chat("hi");
        body.getJsonArray("messages").getJsonObject(0).put("role", "narrator");

        UpstreamException e = failure(() -> adapter().complete(call(body), new Abort()));

        assertThat(e.kind()).isEqualTo(Kind.REJECTED);
        assertThat(e.error().getString("param")).isEqualTo("messages[0].role");
        assertThat(fake.requests()).isEmpty();
    }

    // ---- non-streamed answers ------------------------------------------------------------------

    @Test
    void mapsANonStreamedAnswer() throws Exception {
        fake.text("Hello").text(" world").usage(10, 90, 5, 7);

        Completion completion = onLoop(() -> adapter().complete(call(chat("hi")), new Abort()));

        JsonObject body = completion.body();
        assertThat(body.getString("id")).isEqualTo("chatcmpl-req-1");
        assertThat(body.getString("object")).isEqualTo("chat.completion");
        assertThat(body.getString("model")).isEqualTo("claude/claude-sonnet-4-5");
        JsonObject choice = body.getJsonArray("choices").getJsonObject(0);
        assertThat(choice.getJsonObject("message").getString("content")).isEqualTo("Hello world");
        assertThat(choice.getString("finish_reason")).isEqualTo("stop");
        // Anthropic's input_tokens excludes the cache; OpenAI's prompt_tokens includes it.
        assertThat(completion.usage()).isEqualTo(new Usage(105, 90, 5, 7, 0, false));
        assertThat(body.getJsonObject("usage").getLong("total_tokens")).isEqualTo(112);
    }

    @Test
    void mapsANonStreamedToolCall() throws Exception {
        fake.toolUse("toolu_1", "get_weather", "{\"city\":", "\"Paris\"}").stopReason("tool_use");

        Completion completion = onLoop(() -> adapter().complete(call(chat("weather?")), new Abort()));

        JsonObject choice = completion.body().getJsonArray("choices").getJsonObject(0);
        assertThat(choice.getString("finish_reason")).isEqualTo("tool_calls");
        JsonObject toolCall = choice.getJsonObject("message").getJsonArray("tool_calls").getJsonObject(0);
        assertThat(toolCall.getString("id")).isEqualTo("toolu_1");
        assertThat(toolCall.getJsonObject("function").getString("name")).isEqualTo("get_weather");
        assertThat(new JsonObject(toolCall.getJsonObject("function").getString("arguments")))
            .isEqualTo(new JsonObject().put("city", "Paris"));
    }

    // ---- upstream statuses ---------------------------------------------------------------------

    @ParameterizedTest
    @CsvSource({"500, api_error, Internal server error", "529, overloaded_error, Overloaded"})
    void serverErrorsAreTheProvidersFault(int status, String type, String message) throws Exception {
        fake.failWith(status, type, message);

        UpstreamException completeFailure = failure(() -> adapter().complete(call(chat("hi")), new Abort()));
        UpstreamException streamFailure = failure(() -> adapter().stream(call(chat("hi")), new Abort()));

        for (UpstreamException e : List.of(completeFailure, streamFailure)) {
            assertThat(e.kind()).isEqualTo(Kind.SERVER_ERROR);
            assertThat(e.status()).isEqualTo(status);
            assertThat(e.getMessage()).contains(message);
            assertThat(e.error().getString("type")).isEqualTo("server_error");
        }
    }

    @Test
    void rateLimitCarriesRetryAfter() throws Exception {
        fake.failWith(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit").retryAfter("7");

        UpstreamException e = failure(() -> adapter().complete(call(chat("hi")), new Abort()));

        assertThat(e.kind()).isEqualTo(Kind.RATE_LIMITED);
        assertThat(e.status()).isEqualTo(429);
        assertThat(e.retryAfterMs()).isEqualTo(7000);
    }

    @Test
    void badRequestIsRejected() throws Exception {
        fake.failWith(400, "invalid_request_error", "messages: roles must alternate");

        UpstreamException e = failure(() -> adapter().complete(call(chat("hi")), new Abort()));

        assertThat(e.kind()).isEqualTo(Kind.REJECTED);
        assertThat(e.status()).isEqualTo(400);
        assertThat(e.getMessage()).contains("roles must alternate");
        assertThat(e.error().getString("type")).isEqualTo("invalid_request_error");
        assertThat(e.error().getString("message")).isEqualTo("messages: roles must alternate");
    }

    @Test
    void noFirstByteWithinTheTimeoutIsATimeoutAndFreesTheConnection() throws Exception {
        fake.firstByteDelay(60_000).text("too late");
        AnthropicAdapter adapter = adapter(provider(300, "2023-01-01"));

        UpstreamException e = failure(() -> adapter.stream(call(chat("hi")), new Abort()));

        assertThat(e.kind()).isEqualTo(Kind.TIMEOUT);
        get(fake.awaitClientClosedConnections(1));
    }

    @Test
    void abortBeforeTheAnswerClosesTheConnection() throws Exception {
        fake.hang();
        Abort abort = new Abort();
        CompletableFuture<Completion> pending = start(() -> adapter().complete(call(chat("hi")), abort));
        get(fake.awaitRequests(1));

        loop.runOnContext(v -> abort.abort());

        assertThat(get(fake.awaitClientClosedConnections(1))).isEqualTo(1);
        UpstreamException e = unwrap(pending);
        assertThat(e.kind()).isEqualTo(Kind.CONNECTION);
    }

    // ---- streams -------------------------------------------------------------------------------

    @Test
    void streamsTextAndToolCallsInOrderWithUsageLast() throws Exception {
        fake.text("Let me ", "check.").toolUse("toolu_1", "get_weather", "{\"city\":", "\"Paris\"}")
            .stopReason("tool_use").usage(20, 5, 0, 30);

        Collected c = stream(adapter(), new Abort(), chunk -> { });
        Optional<Throwable> outcome = get(c.outcome);

        assertThat(outcome).isEmpty();
        assertThat(c.chunks.stream().map(AnthropicAdapterTest::describe)).containsExactly(
            "role",
            "content:Let me ",
            "content:check.",
            "tool:0:toolu_1:get_weather",
            "args:0:{\"city\":",
            "args:0:\"Paris\"}",
            "finish:tool_calls",
            "usage:25/5/30");
        assertThat(c.chunks).allSatisfy(chunk -> {
            assertThat(chunk.getString("model")).isEqualTo("claude/claude-sonnet-4-5");
            assertThat(chunk.getString("id")).isEqualTo("chatcmpl-req-1");
            assertThat(chunk.getString("object")).isEqualTo("chat.completion.chunk");
        });
        assertThat(c.stream.usage()).isEqualTo(new Usage(25, 5, 30, 0, false));
        assertThat(fake.requests().get(0).body().getBoolean("stream")).isTrue();
        assertExactlyOneOutcome(c);
    }

    /**
     * Each fault strikes after message_start, content_block_start, ping and the first delta: the
     * client got a partial answer and must learn it was cut off, never see a clean end.
     */
    @ParameterizedTest
    @CsvSource({"DROP, connection failed", "END, before message_stop", "MALFORMED, malformed event"})
    void brokenStreamFailsWithConnection(StreamFault fault, String reason) throws Exception {
        fake.text("a", "b", "c").streamFault(fault, 4);

        Collected c = stream(adapter(), new Abort(), chunk -> { });

        UpstreamException e = (UpstreamException) get(c.outcome).orElseThrow();
        assertThat(e.kind()).isEqualTo(Kind.CONNECTION);
        assertThat(e.getMessage()).contains(reason);
        assertThat(c.chunks.stream().map(AnthropicAdapterTest::describe)).containsExactly("role", "content:a");
        assertExactlyOneOutcome(c);
    }

    @Test
    void errorEventMidStreamIsAServerError() throws Exception {
        fake.text("a", "b").streamFault(StreamFault.ERROR_EVENT, 4);

        Collected c = stream(adapter(), new Abort(), chunk -> { });

        UpstreamException e = (UpstreamException) get(c.outcome).orElseThrow();
        assertThat(e.kind()).isEqualTo(Kind.SERVER_ERROR);
        assertThat(e.status()).isEqualTo(529);
        assertThat(e.getMessage()).contains("overloaded_error").contains("Overloaded");
        assertThat(e.error().getString("type")).isEqualTo("server_error");
        assertThat(c.chunks.stream().map(AnthropicAdapterTest::describe)).containsExactly("role", "content:a");
        assertExactlyOneOutcome(c);
    }

    @Test
    void abortMidStreamClosesTheUpstreamConnectionAndEndsNothing() throws Exception {
        // The fake sends the first delta and then stalls, so only the abort can end this call.
        fake.text("a", "b").streamFault(StreamFault.STALL, 4);
        Abort abort = new Abort();

        Collected c = stream(adapter(), abort, chunk -> {
            if (describe(chunk).equals("content:a")) {
                abort.abort();
            }
        });

        assertThat(get(fake.awaitClientClosedConnections(1))).isEqualTo(1);
        onLoop(() -> Future.succeededFuture()); // let anything the reset queued on the loop run first
        assertThat(c.outcome).as("neither end nor exception after cancel").isNotDone();
        assertThat(c.terminations).hasValue(0);
        assertThat(c.chunks.stream().map(AnthropicAdapterTest::describe)).containsExactly("role", "content:a");
    }

    // ---- helpers -------------------------------------------------------------------------------

    /** What a test saw of one stream; {@code outcome} is empty on end, the failure otherwise. */
    private static final class Collected {
        final List<JsonObject> chunks = new CopyOnWriteArrayList<>();
        final CompletableFuture<Optional<Throwable>> outcome = new CompletableFuture<>();
        final AtomicInteger terminations = new AtomicInteger();
        volatile ChunkStream stream;

        void terminate(Throwable failure) {
            terminations.incrementAndGet();
            outcome.complete(Optional.ofNullable(failure));
        }
    }

    private Collected stream(AnthropicAdapter adapter, Abort abort, Consumer<JsonObject> onChunk)
        throws Exception {
        Collected c = new Collected();
        onLoop(() -> adapter.stream(call(chat("hi")), abort).map(s -> {
            c.stream = s;
            s.handler(chunk -> {
                JsonObject json = ((Chunk.Parsed) chunk).json();
                c.chunks.add(json);
                onChunk.accept(json);
            }).endHandler(v -> c.terminate(null)).exceptionHandler(c::terminate);
            s.resume();
            return s;
        }));
        return c;
    }

    /** A second end or exception would have been queued behind the first; one loop turn later there is none. */
    private void assertExactlyOneOutcome(Collected c) throws Exception {
        onLoop(() -> Future.succeededFuture());
        assertThat(c.terminations).hasValue(1);
    }

    /** One chunk as a short string, so that a whole stream reads as one ordered list. */
    private static String describe(JsonObject chunk) {
        if (chunk.getJsonArray("choices").isEmpty()) {
            JsonObject u = chunk.getJsonObject("usage");
            return "usage:" + u.getLong("prompt_tokens") + "/"
                + u.getJsonObject("prompt_tokens_details").getLong("cached_tokens") + "/" + u.getLong("completion_tokens");
        }
        JsonObject choice = chunk.getJsonArray("choices").getJsonObject(0);
        JsonObject delta = choice.getJsonObject("delta");
        if (choice.getString("finish_reason") != null) {
            return "finish:" + choice.getString("finish_reason");
        }
        if ("assistant".equals(delta.getString("role"))) {
            return "role";
        }
        if (delta.containsKey("tool_calls")) {
            JsonObject call = delta.getJsonArray("tool_calls").getJsonObject(0);
            JsonObject fn = call.getJsonObject("function");
            return call.containsKey("id")
                ? "tool:" + call.getInteger("index") + ":" + call.getString("id") + ":" + fn.getString("name")
                : "args:" + call.getInteger("index") + ":" + fn.getString("arguments");
        }
        return "content:" + delta.getString("content");
    }

    private AnthropicAdapter adapter() {
        return adapter(provider(10_000, "2023-01-01"));
    }

    private AnthropicAdapter adapter(Provider provider) {
        return new AnthropicAdapter(new HttpUpstream(vertx, client, provider));
    }

    private Provider provider(long firstByteMs, String apiVersion) {
        return new Provider("claude", "anthropic", fake.baseUrl(), "sk-ant-test", apiVersion,
            new Timeouts(2_000, firstByteMs, 30_000), new CircuitBreaker(5, 60_000, 30_000), 0, 50, false, 0, "", false);
    }

    private static UpstreamCall call(JsonObject body) {
        return new UpstreamCall("req-1", body, new Deployment("claude", "claude-sonnet-4-5", 1, 1), 256);
    }

    private static JsonObject chat(String userText) {
        return new JsonObject().put("model", "sonnet").put("messages", new JsonArray()
            .add(new JsonObject().put("role", "user").put("content", userText)));
    }

    /** Runs the call on the test's event loop context, where all its callbacks then run too. */
    private <T> CompletableFuture<T> start(Supplier<Future<T>> action) {
        Promise<T> result = Promise.promise();
        loop.runOnContext(v -> action.get().onComplete(result));
        return result.future().toCompletionStage().toCompletableFuture();
    }

    private <T> T onLoop(Supplier<Future<T>> action) throws Exception {
        return get(start(action));
    }

    private <T> UpstreamException failure(Supplier<Future<T>> action) throws Exception {
        return unwrap(start(action));
    }

    private static UpstreamException unwrap(CompletableFuture<?> pending) throws Exception {
        try {
            pending.get(WAIT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            assertThat(e.getCause()).isInstanceOf(UpstreamException.class);
            return (UpstreamException) e.getCause();
        }
        return fail("expected the call to fail");
    }

    private static <T> T get(Future<T> future) throws Exception {
        return get(future.toCompletionStage().toCompletableFuture());
    }

    private static <T> T get(CompletableFuture<T> future) throws Exception {
        return future.get(WAIT_SECONDS, TimeUnit.SECONDS);
    }
}
