package io.tokenhub.bench;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.VerticleBase;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;

/**
 * The load generator: Vert.x HTTP clients, one per event loop (each with its own connection
 * pool), driven in two ways.
 * <ul>
 *   <li><b>Open model</b> ({@link #open}): request i is due at {@code start + i / rate}, whatever
 *   happened to earlier ones; its latency is measured from that intended time, not from when it
 *   could actually be sent, so a stall of the server (or of this process) shows in the
 *   percentiles instead of silently lowering the rate (coordinated omission corrected).</li>
 *   <li><b>Closed model</b> ({@link #closed}): N virtual users, each sending its next request as
 *   soon as the previous answer arrived: N = 1 is "one request in flight", a large N is
 *   saturation.</li>
 * </ul>
 * Streams are read as SSE: time to the first content chunk, and each chunk's transit time from the
 * upstream's {@code bench_t} stamp (CLOCK_MONOTONIC, shared by processes) to its arrival here.
 * <p>Each event loop has two pools per target: one that opens connections as requests need them
 * (up to {@code maxConnections}), and a fixed one ({@link #prime}, {@code fixedPool}) that opens
 * all of its connections before a phase and never more during it, as wrk2 does. On the fixed pool
 * a stalled server makes requests wait here, which the open model's latency counts from their
 * intended time; on the growing one it makes the generator open connections while the server is
 * least able to set them up, and a stall of a few milliseconds could spiral into hundreds of them.
 */
final class LoadClient implements AutoCloseable {

    private static final long HIGHEST_NANOS = TimeUnit.MINUTES.toNanos(10);
    /** A request slower than this is a slow one, whose intended send time {@link Result#slow} keeps. */
    static final long SLOW_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final int MAX_SLOW = 100_000;
    private static final byte[] BENCH_T = "\"bench_t\":".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] DONE = "data: [DONE]".getBytes(StandardCharsets.US_ASCII);

    /** Where requests go. */
    record Target(String name, int port, String path, String authorization) {
    }

    /** What one run measured. Latencies are in nanoseconds. */
    static final class Result {
        final Histogram latency = new ConcurrentHistogram(HIGHEST_NANOS, 3);
        final Histogram ttft = new ConcurrentHistogram(HIGHEST_NANOS, 3);
        final Histogram chunk = new ConcurrentHistogram(HIGHEST_NANOS, 3);
        final LongAdder ok = new LongAdder();
        final LongAdder errors = new LongAdder();
        final LongAdder chunks = new LongAdder();
        final AtomicInteger inFlight = new AtomicInteger();
        final AtomicInteger openStreams = new AtomicInteger();
        final AtomicInteger maxOpenStreams = new AtomicInteger();
        final AtomicReference<String> firstError = new AtomicReference<>();
        /**
         * Intended send times (System.nanoTime) of the answered non-streamed requests over SLOW_NANOS,
         * the first 100 000; kept in the open model only (at saturation most requests are slow).
         */
        final Queue<Long> slow = new ConcurrentLinkedQueue<>();
        final AtomicInteger slowCount = new AtomicInteger();
        volatile boolean keepSlow;
        long sent;
        double seconds;
        long unfinished;

        void error(String what) {
            errors.increment();
            firstError.compareAndSet(null, what);
        }

        double throughput() {
            return seconds <= 0 ? 0 : ok.sum() / seconds;
        }
    }

    /** One event loop's client. */
    private static final class Driver extends VerticleBase {
        private final int poolSize;
        private final int fixedSize;
        private final LongAdder opened;
        HttpClient client;
        HttpClient fixed;

        Driver(int poolSize, int fixedSize, LongAdder opened) {
            this.poolSize = poolSize;
            this.fixedSize = fixedSize;
            this.opened = opened;
        }

        @Override
        public Future<?> start() {
            client = newClient(poolSize);
            fixed = fixedSize > 0 ? newClient(fixedSize) : null;
            return Future.succeededFuture();
        }

        private HttpClient newClient(int poolSize) {
            // Idle connections are let go before the gateway's server does (after 300 s): a request
            // sent on one the server is closing at that moment fails, as a soak saw twice.
            return vertx.httpClientBuilder()
                .with(new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true)
                    .setKeepAliveTimeout(240).setConnectTimeout(10_000))
                .with(new PoolOptions().setHttp1MaxSize(poolSize).setMaxWaitQueueSize(-1))
                .withConnectHandler(connection -> opened.increment())
                .build();
        }

        /** On this driver's event loop: its connections closed, an empty pool in their place. */
        Future<Void> reconnect() {
            HttpClient old = client;
            client = newClient(poolSize);
            return old.close();
        }

        void run(Runnable task) {
            context.runOnContext(v -> task.run());
        }
    }

    private final Vertx vertx;
    private final List<Driver> drivers = new CopyOnWriteArrayList<>();
    /** Connections opened so far, to any target: an open-model phase opens more when answers lag. */
    private final LongAdder opened = new LongAdder();

    /** @param maxConnections connections per target over all event loops, on the growing pools; no fixed pools */
    LoadClient(int eventLoops, int maxConnections) {
        this(eventLoops, maxConnections, 0);
    }

    /** @param fixedConnections connections per target over all event loops, on the fixed pools (0: none) */
    LoadClient(int eventLoops, int maxConnections, int fixedConnections) {
        vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(eventLoops));
        int perLoop = perLoop(maxConnections, eventLoops);
        int fixedPerLoop = fixedConnections > 0 ? perLoop(fixedConnections, eventLoops) : 0;
        vertx.deployVerticle(() -> {
            Driver d = new Driver(perLoop, fixedPerLoop, opened);
            drivers.add(d);
            return d;
        }, new DeploymentOptions().setInstances(eventLoops)).await();
    }

    /**
     * Closes every connection and starts again with empty pools. After a phase whose connections
     * spiralled (thousands opened while answers lagged), the next phase would otherwise spread its
     * requests over all of them, and the gateway would hold them all.
     */
    void reconnect() {
        for (Driver driver : drivers) {
            CompletableFuture<Void> done = new CompletableFuture<>();
            driver.run(() -> driver.reconnect().onComplete(ar -> done.complete(null)));
            done.orTimeout(30, TimeUnit.SECONDS).join();
        }
    }

    private static int perLoop(int connections, int eventLoops) {
        return Math.max(1, (connections + eventLoops - 1) / eventLoops);
    }

    /**
     * Opens every connection of the fixed pools to {@code target}: as many requests at once as the
     * pools hold, each pool's all sent before any answer can come back. Connections the server closed
     * since are opened again. Returns when every one was answered.
     */
    Result prime(Target target, Buffer body) {
        Result result = new Result();
        for (Driver driver : drivers) {
            result.inFlight.addAndGet(driver.fixedSize);
            driver.run(() -> {
                long now = System.nanoTime();
                for (int i = 0; i < driver.fixedSize; i++) {
                    send(driver.fixed, target, body, false, now, result, null);
                }
            });
        }
        drain(result, 30_000);
        return result;
    }

    /** Connections per target over all event loops on the fixed pools. */
    int fixedConnections() {
        return drivers.stream().mapToInt(d -> d.fixedSize).sum();
    }

    /** Connections this load generator has opened so far, to any target. */
    long connectionsOpened() {
        return opened.sum();
    }

    /** Open model: {@code rate} requests per second for {@code seconds}, then waits for stragglers. */
    Result open(Target target, Buffer body, boolean stream, double rate, double seconds, long drainMs) {
        return open(target, body, stream, rate, seconds, drainMs, new Result());
    }

    /** The same, filling a result the caller can watch while it runs. */
    Result open(Target target, Buffer body, boolean stream, double rate, double seconds, long drainMs,
                Result result) {
        return open(target, body, stream, rate, seconds, drainMs, result, false);
    }

    /**
     * The same on the pools chosen: with {@code fixedPool}, the fixed ones, {@link #prime primed}
     * first, so that no connection opens while it runs.
     */
    Result open(Target target, Buffer body, boolean stream, double rate, double seconds, long drainMs,
                boolean fixedPool) {
        return open(target, body, stream, rate, seconds, drainMs, new Result(), fixedPool);
    }

    private Result open(Target target, Buffer body, boolean stream, double rate, double seconds, long drainMs,
                        Result result, boolean fixed) {
        long interval = (long) (1e9 / rate);
        long count = (long) (rate * seconds);
        result.keepSlow = true;
        long start = System.nanoTime() + 5_000_000;
        for (long i = 0; i < count; i++) {
            long intended = start + i * interval;
            long wait;
            while ((wait = intended - System.nanoTime()) > 0) {
                LockSupport.parkNanos(wait);
            }
            result.inFlight.incrementAndGet();
            Driver driver = drivers.get((int) (i % drivers.size()));
            HttpClient pool = fixed ? driver.fixed : driver.client;
            driver.run(() -> send(pool, target, body, stream, intended, result, null));
        }
        result.sent = count;
        result.seconds = seconds;
        drain(result, drainMs);
        return result;
    }

    /** Closed model: {@code users} concurrent request loops for {@code seconds}. */
    Result closed(Target target, Buffer body, boolean stream, int users, double seconds) {
        Result result = new Result();
        long end = System.nanoTime() + (long) (seconds * 1e9);
        CountDownLatch finished = new CountDownLatch(users);
        for (int u = 0; u < users; u++) {
            Driver driver = drivers.get(u % drivers.size());
            driver.run(() -> loop(driver, target, body, stream, end, result, finished));
        }
        long started = System.nanoTime();
        try {
            finished.await((long) (seconds * 1000) + 60_000, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        result.seconds = Math.min(seconds, (System.nanoTime() - started) / 1e9);
        result.unfinished = finished.getCount();
        return result;
    }

    private void loop(Driver driver, Target target, Buffer body, boolean stream, long end, Result result,
                      CountDownLatch finished) {
        long now = System.nanoTime();
        if (now >= end) {
            finished.countDown();
            return;
        }
        result.inFlight.incrementAndGet();
        send(driver.client, target, body, stream, now, result,
            () -> loop(driver, target, body, stream, end, result, finished));
    }

    private static void drain(Result result, long drainMs) {
        long deadline = System.currentTimeMillis() + drainMs;
        while (result.inFlight.get() > 0 && System.currentTimeMillis() < deadline) {
            LockSupport.parkNanos(5_000_000);
        }
        result.unfinished = result.inFlight.get();
    }

    private void send(HttpClient pool, Target target, Buffer body, boolean stream, long intended, Result result,
                      Runnable then) {
        RequestOptions options = new RequestOptions().setMethod(HttpMethod.POST).setHost("127.0.0.1")
            .setPort(target.port()).setURI(target.path())
            .setIdleTimeout(stream ? 120_000 : 30_000)
            .putHeader(HttpHeaders.CONTENT_TYPE, "application/json");
        if (target.authorization() != null) {
            options.putHeader(HttpHeaders.AUTHORIZATION, target.authorization());
        }
        Runnable done = () -> {
            result.inFlight.decrementAndGet();
            if (then != null) {
                then.run();
            }
        };
        pool.request(options)
            .compose(request -> request.send(body))
            .onComplete(ar -> {
                if (ar.failed()) {
                    result.error(String.valueOf(ar.cause()));
                    done.run();
                    return;
                }
                HttpClientResponse response = ar.result();
                if (response.statusCode() != 200) {
                    response.body().onComplete(b -> {
                        result.error("HTTP " + response.statusCode() + ": " + (b.succeeded() ? b.result() : b.cause()));
                        done.run();
                    });
                    return;
                }
                if (stream) {
                    new SseReader(intended, result, done).attach(response);
                } else {
                    response.body().onComplete(b -> {
                        if (b.succeeded()) {
                            long latency = System.nanoTime() - intended;
                            if (result.keepSlow && latency > SLOW_NANOS
                                && result.slowCount.getAndIncrement() < MAX_SLOW) {
                                result.slow.add(intended);
                            }
                            result.latency.recordValue(Math.min(HIGHEST_NANOS, latency));
                            result.ok.increment();
                        } else {
                            result.error(String.valueOf(b.cause()));
                        }
                        done.run();
                    });
                }
            });
    }

    /** Splits an SSE body into events; times the first one and every stamped chunk. */
    private static final class SseReader {
        private final long intended;
        private final Result result;
        private final Runnable done;
        private Buffer pending = Buffer.buffer();
        private boolean first = true;
        private boolean sawDone;
        private boolean finished;

        SseReader(long intended, Result result, Runnable done) {
            this.intended = intended;
            this.result = result;
            this.done = done;
        }

        void attach(HttpClientResponse response) {
            int open = result.openStreams.incrementAndGet();
            result.maxOpenStreams.accumulateAndGet(open, Math::max);
            response.handler(this::feed);
            response.exceptionHandler(e -> finish(String.valueOf(e)));
            response.endHandler(v -> finish(sawDone ? null : "stream ended without [DONE]"));
        }

        private void feed(Buffer data) {
            long now = System.nanoTime();
            pending.appendBuffer(data);
            int from = 0;
            int length = pending.length();
            for (int i = 0; i + 1 < length; i++) {
                if (pending.getByte(i) == '\n' && pending.getByte(i + 1) == '\n') {
                    event(from, i, now);
                    from = i + 2;
                    i++;
                }
            }
            if (from > 0) {
                pending = from == length ? Buffer.buffer() : pending.getBuffer(from, length);
            }
        }

        private void event(int from, int to, long now) {
            if (startsWith(from, to, DONE)) {
                sawDone = true;
                return;
            }
            int at = find(from, to, BENCH_T);
            if (at < 0) {
                return;
            }
            long stamp = 0;
            for (int i = at + BENCH_T.length; i < to; i++) {
                byte b = pending.getByte(i);
                if (b < '0' || b > '9') {
                    break;
                }
                stamp = stamp * 10 + (b - '0');
            }
            if (first) {
                first = false;
                result.ttft.recordValue(Math.min(HIGHEST_NANOS, Math.max(0, now - intended)));
            }
            result.chunk.recordValue(Math.min(HIGHEST_NANOS, Math.max(0, now - stamp)));
            result.chunks.increment();
        }

        private boolean startsWith(int from, int to, byte[] prefix) {
            if (to - from < prefix.length) {
                return false;
            }
            for (int j = 0; j < prefix.length; j++) {
                if (pending.getByte(from + j) != prefix[j]) {
                    return false;
                }
            }
            return true;
        }

        private int find(int from, int to, byte[] needle) {
            outer:
            for (int i = from; i <= to - needle.length; i++) {
                for (int j = 0; j < needle.length; j++) {
                    if (pending.getByte(i + j) != needle[j]) {
                        continue outer;
                    }
                }
                return i;
            }
            return -1;
        }

        private void finish(String error) {
            if (finished) {
                return;
            }
            finished = true;
            result.openStreams.decrementAndGet();
            if (error == null) {
                result.latency.recordValue(Math.min(HIGHEST_NANOS, System.nanoTime() - intended));
                result.ok.increment();
            } else {
                result.error(error);
            }
            done.run();
        }
    }

    @Override
    public void close() {
        try {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        } catch (Exception ignored) {
            // exiting anyway
        }
    }
}
