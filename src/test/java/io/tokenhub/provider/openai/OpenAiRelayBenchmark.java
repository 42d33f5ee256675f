package io.tokenhub.provider.openai;

import io.tokenhub.config.ConfigLoader;
import io.tokenhub.config.TokenHubConfig;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.HttpUpstream;
import io.tokenhub.provider.SseParser;
import io.tokenhub.provider.UpstreamCall;
import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.json.JsonObject;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The OpenAI adapter's share of the hot path, with the real (package-private) classes:
 * <ul>
 *   <li>{@code upstreamBodyRelayed} against {@code upstreamBodyEncoded}: the client's body rewritten
 *   for the upstream ({@link OpenAiAdapter#upstreamBody}: model, stream, max_tokens) from its own
 *   bytes ({@link RelayedRequest}), and by encoding the parsed body again;</li>
 *   <li>{@code sseChunk}: one SSE event through {@link OpenAiChunkStream} (SSE parse, the byte-level
 *   scan of {@link RelayedChunk}: error and usage checks, model relabel, generated text) and then
 *   what {@code SseRelay.write} does with it (usage field dropped, {@code data: …\n\n} framing),
 *   against {@code sseChunkWholeParse}: the same event decoded into a {@link JsonObject}, relabelled,
 *   its usage removed and encoded again;</li>
 *   <li>{@code sseParserOnly}: the {@link SseParser} alone on the same bytes;</li>
 *   <li>{@code answerRelayed} against {@code answerWholeParse}: a whole chat completion from the
 *   provider's bytes to the client's, by the byte-level relay ({@link RelayedCompletion}) and by
 *   decoding it into a {@link JsonObject} and encoding it again, side by side.</li>
 * </ul>
 * The HTTP response under the chunk stream is a stand-in that only keeps the data handler.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx512m"})
public class OpenAiRelayBenchmark {

    private static final byte[] DATA = "data: ".getBytes(StandardCharsets.UTF_8);
    private static final byte[] EVENT_END = "\n\n".getBytes(StandardCharsets.UTF_8);
    static final String CHUNK = "data: {\"id\":\"chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz012\",\"object\":"
        + "\"chat.completion.chunk\",\"created\":1735689600,\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":"
        + "\"fp_0123456789\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token\"},\"logprobs\":null,"
        + "\"finish_reason\":null}],\"usage\":null}\n\n";
    static final String ANSWER = "{\"id\":\"chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz012\",\"object\":\"chat.completion\","
        + "\"created\":1735689600,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":"
        + "{\"role\":\"assistant\",\"content\":\"A load balancer spreads requests across servers so no single one is "
        + "overwhelmed.\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":"
        + "24,\"completion_tokens\":19,\"total_tokens\":43,\"prompt_tokens_details\":{\"cached_tokens\":0},"
        + "\"completion_tokens_details\":{\"reasoning_tokens\":0}},\"system_fingerprint\":\"fp_0123456789\"}";
    private static final java.math.BigDecimal COST = new java.math.BigDecimal("0.000042");
    static final String REQUEST = "{\"model\":\"bench-chat\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a "
        + "helpful assistant.\"},{\"role\":\"user\",\"content\":\"Write one short sentence about load balancers.\"}],"
        + "\"max_tokens\":64,\"temperature\":0.7}";

    private OpenAiAdapter adapter;
    private UpstreamCall call;
    private Buffer chunk;
    private Handler<Buffer> feed;
    private SseParser parserOnly;
    private SseParser parserWhole;
    private Buffer written;
    private Blackhole hole;
    private Buffer answer;

    @Setup
    public void setUp(Blackhole blackhole) {
        hole = blackhole;
        TokenHubConfig config = new ConfigLoader(name -> null).parse("""
            providers:
              - { id: fake, type: openai, base_url: "http://127.0.0.1:9/v1", api_key: sk-bench }
            models:
              - id: bench-chat
                deployments: [{ provider: fake, model: fake-model }]
            """, "bench");
        HttpUpstream upstream = new HttpUpstream(null, null, config.providers().get(0));
        adapter = new OpenAiAdapter(upstream);
        call = new UpstreamCall("req_1", new JsonObject(REQUEST), config.models().get(0).deployments().get(0), 64);
        chunk = Buffer.buffer(CHUNK);
        @SuppressWarnings("unchecked")
        Handler<Buffer>[] handler = new Handler[1];
        HttpClientResponse response = (HttpClientResponse) Proxy.newProxyInstance(
            HttpClientResponse.class.getClassLoader(), new Class<?>[] {HttpClientResponse.class},
            (proxy, method, args) -> switch (method.getName()) {
                case "handler" -> {
                    @SuppressWarnings("unchecked")
                    Handler<Buffer> h = (Handler<Buffer>) args[0];
                    handler[0] = h;
                    yield proxy;
                }
                case "hashCode" -> System.identityHashCode(proxy);
                case "equals" -> proxy == args[0];
                case "toString" -> "stand-in response";
                default -> proxy;
            });
        OpenAiChunkStream stream = new OpenAiChunkStream(response, upstream, call, new Abort(), Dialect.PASSTHROUGH);
        stream.handler(relayed -> {
            Buffer event = Buffer.buffer(512).appendBytes(DATA);
            relayed.writeTo(event, false, null);
            written = event.appendBytes(EVENT_END);
        });
        answer = Buffer.buffer(ANSWER);
        feed = handler[0];
        parserOnly = new SseParser((event, data) -> hole.consume(data));
        StringBuilder text = new StringBuilder();
        parserWhole = new SseParser((event, data) -> {
            JsonObject json = new JsonObject(Buffer.buffer(data));
            json.put("model", "fake/" + json.getString("model"));
            io.tokenhub.provider.GeneratedText.append(text, json.getValue("choices"), "delta");
            text.setLength(0);
            json.remove("usage");
            written = Buffer.buffer(512).appendBytes(DATA).appendBuffer(json.toBuffer()).appendBytes(EVENT_END);
        });
        feed.handle(chunk);
        if (written == null || !written.toString().contains("\"model\":\"fake/gpt-4o-mini-2024-07-18\"")) {
            throw new IllegalStateException("the chunk was not relabelled: " + written);
        }
    }

    /** A chat body with a history of {@code messages} messages of about 400 bytes each. */
    @State(Scope.Benchmark)
    public static class History {
        @Param({"2", "40"})
        int messages;
        UpstreamCall call;
        UpstreamCall rawCall;

        @Setup
        public void setUp(OpenAiRelayBenchmark bench) {
            JsonObject body = new JsonObject(REQUEST);
            io.vertx.core.json.JsonArray list = new io.vertx.core.json.JsonArray();
            for (int i = 0; i < messages; i++) {
                list.add(new JsonObject().put("role", i % 2 == 0 ? "user" : "assistant")
                    .put("content", ("Message " + i + " of a long conversation about load balancers. ").repeat(6)));
            }
            body.put("messages", list);
            Buffer raw = body.toBuffer();
            call = new UpstreamCall("req_1", body, bench.call.deployment(), 64);
            rawCall = new UpstreamCall("req_1", body, raw, call.deployment(), 64, call.clock());
        }
    }

    @Benchmark
    public Buffer upstreamBodyRelayed(History history) {
        return adapter.upstreamBody(history.rawCall, false);
    }

    @Benchmark
    public Buffer upstreamBodyEncoded(History history) {
        return adapter.upstreamBody(history.call, false);
    }

    @Benchmark
    public Buffer sseChunk() {
        feed.handle(chunk);
        return written;
    }

    @Benchmark
    public Buffer answerRelayed() {
        return RelayedCompletion.scan(answer.getBytes(), "fake", "gpt-4o-mini").encode(null, COST);
    }

    @Benchmark
    public Buffer answerWholeParse() {
        JsonObject body = answer.toJsonObject();
        body.put("model", "fake/" + body.getString("model"));
        return body.put("usage", body.getJsonObject("usage").put("cost", COST)).toBuffer();
    }

    @Benchmark
    public Buffer sseChunkWholeParse() {
        parserWhole.feed(chunk);
        return written;
    }

    @Benchmark
    public void sseParserOnly() {
        parserOnly.feed(chunk);
    }
}
