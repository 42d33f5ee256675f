package io.tokenhub.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.TestGateway;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A client that pipelines requests on one connection and reads none of the answers: the gateway
 * stops reading it once the answers back up, so that what it holds for the connection is bounded
 * by its write queue and the sockets' buffers, not by what the client sends.
 */
class UnreadAnswersIT {

    private static final byte[] REQUEST = "GET /v1/models HTTP/1.1\r\nHost: g\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    /** About 230 000 requests. */
    private static final long SENT_BYTES = 8L << 20;

    static TestGateway gateway;

    @BeforeAll
    static void start() {
        gateway = TestGateway.start(TestGateway.MOCK_CATALOG, "");
    }

    @AfterAll
    static void stop() {
        gateway.close();
    }

    @Test
    void aClientThatReadsNoAnswerIsNotReadFurtherOnceItsAnswersBackUp() throws Exception {
        byte[] batch = new byte[REQUEST.length * 1_000];
        for (int i = 0; i < 1_000; i++) {
            System.arraycopy(REQUEST, 0, batch, i * REQUEST.length, REQUEST.length);
        }
        AtomicLong sent = new AtomicLong();
        try (Socket socket = new Socket()) {
            // Given a client with a small receive buffer that pipelines 8 MB of requests (without a key) and reads nothing
            socket.setReceiveBufferSize(4096);
            socket.connect(new InetSocketAddress("127.0.0.1", gateway.hub().apiPort()), 5_000);
            OutputStream out = socket.getOutputStream();
            Thread writer = new Thread(() -> {
                try {
                    while (sent.get() < SENT_BYTES) {
                        out.write(batch);
                        sent.addAndGet(batch.length);
                    }
                } catch (Exception closed) {
                    // the connection was closed under it
                }
            }, "pipelining-client");
            writer.setDaemon(true);
            writer.start();

            // When it has sent what it could, and the gateway has answered what it read
            standsStill(sent::get);
            long answered = standsStill(UnreadAnswersIT::answered401s);

            // Then the gateway answered what its write queue and the sockets' buffers hold (a few
            // thousand), not every request sent (it read them all, and queued every answer in memory)
            long requests = sent.get() / REQUEST.length;
            assertThat(answered).as("answers queued for a client that read none of them, of %d requests sent", requests)
                .isPositive().isLessThan(requests / 4);
        }
    }

    /**
     * Waits, at most two minutes, until {@code value} has not changed for two seconds; answers it.
     * (What the test waits for is the end of progress, which has no event of its own.)
     */
    private static long standsStill(LongSupplier value) {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        long last = value.getAsLong();
        int still = 0;
        while (still < 10 && System.nanoTime() < deadline) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(200));
            long now = value.getAsLong();
            still = now == last ? still + 1 : 0;
            last = now;
        }
        return last;
    }

    /** The requests the gateway has answered 401, from its HTTP server's meters. */
    private static long answered401s() {
        String metrics = gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/metrics"))).GET()).body();
        return (long) metrics.lines().filter(line -> line.startsWith("vertx_http_server_requests_total{")
                && line.contains("code=\"401\""))
            .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1))).sum();
    }
}
