package io.tokenhub.bench;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.VerticleBase;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/**
 * The benchmark's upstream, in its own process so that its CPU is not the gateway's: a minimal
 * Vert.x server that answers every POST with one fixed OpenAI chat completion, or, when the body
 * says {@code "stream":true}, with an SSE stream. It does not parse JSON (a byte search finds the
 * few fields it reads), so it costs as little as an upstream can.
 *
 * <p>Stream shape: {@code bench_chunks} content chunks (default 5), the first at once and the next
 * every {@code bench_delay_ms} (default 0), then a finish chunk, a usage chunk and {@code [DONE]}.
 * Every content chunk carries {@code "bench_t"}: this process's {@link System#nanoTime()} when it
 * was written. On Linux that clock is CLOCK_MONOTONIC, shared by all processes, so the client can
 * tell how long each chunk took to reach it.
 *
 * <p>Usage: {@code FakeUpstreamMain <port> <event loops> <ready file>}; exits when stdin closes.
 */
public final class FakeUpstreamMain {

    static final String MODEL = "fake-model";
    static final String COMPLETION_JSON = "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\","
        + "\"created\":1700000000,\"model\":\"" + MODEL + "\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
        + "\"assistant\",\"content\":\"Hello! I am a fast fake upstream and I answer every request with these "
        + "same words.\"},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":24,"
        + "\"completion_tokens\":19,\"total_tokens\":43},\"system_fingerprint\":\"fp_bench\"}";
    private static final Buffer COMPLETION = Buffer.buffer(COMPLETION_JSON);
    private static final String COMPLETION_LENGTH = Integer.toString(COMPLETION.length());
    private static final CharSequence JSON = HttpHeaders.createOptimized("application/json");
    private static final CharSequence EVENT_STREAM = HttpHeaders.createOptimized("text/event-stream");
    private static final byte[] STREAM_TRUE = "\"stream\":true".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] CHUNKS = "\"bench_chunks\":".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] DELAY = "\"bench_delay_ms\":".getBytes(StandardCharsets.US_ASCII);
    private static final String CHUNK_HEAD = "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\","
        + "\"created\":1700000000,\"model\":\"" + MODEL + "\",\"bench_t\":";

    private FakeUpstreamMain() {
    }

    /** Starts it in its own process on {@code port} (log in {@code work}) and waits until it listens. */
    static Procs.Child start(Path work, int port, int loops) throws Exception {
        Path ready = work.resolve("upstream.ready");
        Procs.Child upstream = Procs.java("upstream", work.resolve("upstream.log"),
            List.of("-Xmx1g", "-XX:+UseParallelGC"), FakeUpstreamMain.class.getName(),
            List.of(Integer.toString(port), Integer.toString(loops), ready.toString()));
        Procs.awaitFile(ready, upstream, 60_000);
        return upstream;
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        int loops = Integer.parseInt(args[1]);
        Path ready = Path.of(args[2]);
        Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(loops));
        vertx.deployVerticle(() -> new Server(port), new DeploymentOptions().setInstances(loops)).await();
        Procs.writeReady(ready, "READY " + port);
        System.out.println("fake upstream on 127.0.0.1:" + port + " with " + loops + " event loops");
        Procs.exitWhenStdinCloses(() -> vertx.close().await());
    }

    static final class Server extends VerticleBase {
        private final int port;

        Server(int port) {
            this.port = port;
        }

        @Override
        public Future<?> start() {
            return vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(port)
                    .setTcpNoDelay(true).setAcceptBacklog(8192).setIdleTimeout(0))
                .requestHandler(this::handle)
                .listen();
        }

        private void handle(HttpServerRequest request) {
            request.body().onSuccess(body -> {
                HttpServerResponse response = request.response();
                if (indexOf(body, STREAM_TRUE) < 0) {
                    response.putHeader(HttpHeaders.CONTENT_TYPE, JSON)
                        .putHeader(HttpHeaders.CONTENT_LENGTH, COMPLETION_LENGTH)
                        .end(COMPLETION);
                    return;
                }
                int chunks = Math.max(1, intAfter(body, CHUNKS, 5));
                int delay = Math.max(0, intAfter(body, DELAY, 0));
                response.setChunked(true).putHeader(HttpHeaders.CONTENT_TYPE, EVENT_STREAM);
                send(response, 0, chunks, delay);
            });
        }

        private void send(HttpServerResponse response, int index, int chunks, int delayMs) {
            while (true) {
                if (response.closed()) {
                    return;
                }
                response.write(chunk(index));
                int next = index + 1;
                if (next == chunks) {
                    response.end(tail(chunks));
                    return;
                }
                if (delayMs > 0) {
                    vertx.setTimer(delayMs, id -> send(response, next, chunks, delayMs));
                    return;
                }
                index = next;
            }
        }
    }

    private static Buffer chunk(int index) {
        String delta = index == 0 ? "{\"role\":\"assistant\",\"content\":\"Hello\"}"
            : "{\"content\":\" token" + index + "\"}";
        return Buffer.buffer(CHUNK_HEAD + System.nanoTime() + ",\"choices\":[{\"index\":0,\"delta\":" + delta
            + ",\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    }

    private static Buffer tail(int chunks) {
        return Buffer.buffer("data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
            + "\"model\":\"" + MODEL + "\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
            + "\"finish_reason\":\"stop\"}]}\n\n"
            + "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
            + "\"model\":\"" + MODEL + "\",\"choices\":[],\"usage\":{\"prompt_tokens\":24,\"completion_tokens\":"
            + chunks + ",\"total_tokens\":" + (24 + chunks) + "}}\n\n"
            + "data: [DONE]\n\n");
    }

    static int indexOf(Buffer haystack, byte[] needle) {
        int last = haystack.length() - needle.length;
        outer:
        for (int i = 0; i <= last; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack.getByte(i + j) != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    /** The non-negative integer right after {@code key}, or the fallback. */
    static int intAfter(Buffer body, byte[] key, int fallback) {
        int at = indexOf(body, key);
        if (at < 0) {
            return fallback;
        }
        int value = 0;
        boolean any = false;
        for (int i = at + key.length; i < body.length(); i++) {
            byte b = body.getByte(i);
            if (b < '0' || b > '9') {
                break;
            }
            value = value * 10 + (b - '0');
            any = true;
        }
        return any ? value : fallback;
    }
}
