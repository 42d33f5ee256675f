package io.tokenhub;

import static io.tokenhub.testing.OpenAiErrorAssert.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream.Fault;
import io.tokenhub.testing.TestCluster;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A node of a cluster asked to stop (SIGTERM in a pod): it stops accepting, lets the requests and
 * streams passing through it finish within {@code server.shutdown_grace_ms} and cuts them after it
 * (a stream with an error event, a request with a 503), records their usage, and leaves the cluster.
 * Four nodes: one that drains with time to spare, two with a short grace period, and one that
 * watches them leave.
 */
class ClusterShutdownIT {

    /** The catalog, after a server section that replaces the test default to set the grace period. */
    private static final String CONFIG = """
        server: { port: 0, management_port: 0, instances: 1, max_body_bytes: 65536, shutdown_grace_ms: %d }
        providers:
          - { id: openai, type: openai, base_url: "%s" }
        models:
          - id: gpt-4o-mini
            deployments: [ { provider: openai, model: gpt-4o-mini } ]
        """;
    private static final long LONG_GRACE_MS = 30_000;
    private static final long SHORT_GRACE_MS = 1_000;
    private static final long WAIT_MS = 20_000;
    /** HTTP/1.1, as a load balancer speaks to a pod (and the JDK client's h2c upgrade is not wanted here). */
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();

    static TestCluster cluster;
    static TestGateway patient;
    static TestGateway hasty;
    static TestGateway hastyToo;
    static TestGateway observer;

    @BeforeAll
    static void startCluster() {
        cluster = new TestCluster("gpt-4o-mini");
        patient = cluster.addNode(url -> CONFIG.formatted(LONG_GRACE_MS, url));
        hasty = cluster.addNode(url -> CONFIG.formatted(SHORT_GRACE_MS, url));
        hastyToo = cluster.addNode(url -> CONFIG.formatted(SHORT_GRACE_MS, url));
        observer = cluster.addNode(url -> CONFIG.formatted(LONG_GRACE_MS, url));
    }

    @AfterAll
    static void stopCluster() {
        cluster.close();
    }

    @BeforeEach
    void streamsPauseAfterTheirFirstWord() {
        cluster.upstream().reset();
        cluster.upstream().fault = Fault.PAUSE;
        cluster.upstream().faultAfter = 2;
    }

    @Test
    void aClosingNodeFinishesItsStreamRefusesNewRequestsRecordsUsageAndLeavesTheCluster() throws Exception {
        // Given a ready node with a stream in flight through it, its first word delivered
        JsonObject key = observer.newKey(new JsonObject());
        int members = memberCount();
        TestGateway.eventually(() -> readiness(patient) == 200, WAIT_MS, "readiness 200 before closing");
        Iterator<String> stream = openStream(patient, key.getString("key"));
        String received = readUntil(stream, "Hello");

        // When the node is asked to close
        CompletableFuture<Void> closing = closeAsync(patient);

        // Then it is no longer ready, and refuses new connections, while the stream is held open
        TestGateway.eventually(() -> readiness(patient) == 503, WAIT_MS, "readiness 503 while draining");
        TestGateway.eventually(() -> refusesConnections(patient), WAIT_MS, "new connections refused");
        assertThat(closing).as("closing, while a stream is in flight").isNotDone();
        // And once the upstream goes on, the client gets the whole stream
        cluster.upstream().resume();
        received += readUntil(stream, "data: [DONE]");
        assertThat(received).contains("\"content\":\" upstream.\"").contains("\"finish_reason\":\"stop\"");
        closing.get(WAIT_MS, TimeUnit.MILLISECONDS);
        // And its usage was written before the node finished closing
        assertThat(usageOf(key)).singleElement().satisfies(row -> {
            assertThat(row.get("status")).isEqualTo(200);
            assertThat(row.get("stream")).isEqualTo(true);
            assertThat(row.get("completion_tokens")).isEqualTo(5);
        });
        // And the node left the cluster
        TestGateway.eventually(() -> memberCount() == members - 1, WAIT_MS, "one member fewer");
    }

    @Test
    void aClosingNodeCutsAStreamThatOutlastsTheGracePeriodAndStillRecordsIt() throws Exception {
        // Given a stream through a node with a short grace period, that will not end by itself
        JsonObject key = observer.newKey(new JsonObject());
        int members = memberCount();
        Iterator<String> stream = openStream(hasty, key.getString("key"));
        readUntil(stream, "Hello");

        // When the node is asked to close, it closes without waiting for the stream
        closeAsync(hasty).get(WAIT_MS, TimeUnit.MILLISECONDS);

        // Then the client's stream was ended before its connection closed: not cut off without a word,
        // but with an error event saying why, and [DONE]
        String rest = String.join("\n", readUntilCut(stream)).strip();
        assertThat(rest).contains("event: error\ndata: {\"error\":").contains("\"code\":\"server_shutdown\"")
            .endsWith("data: [DONE]");
        // And the upstream call was abandoned, and the request still has its one record, billed for
        // what was delivered
        cluster.upstream().awaitAbandoned(WAIT_MS);
        assertThat(usageOf(key)).singleElement().satisfies(row -> {
            assertThat(row.get("status")).as("cut by the node, not left by the client").isEqualTo(503);
            assertThat(row.get("error_code")).isEqualTo("server_shutdown");
            assertThat(row.get("stream")).isEqualTo(true);
            assertThat((Integer) row.get("completion_tokens")).as("the word delivered").isPositive();
        });
        // And the node left the cluster
        TestGateway.eventually(() -> memberCount() == members - 1, WAIT_MS, "one member fewer");
    }

    @Test
    void aClosingNodeAnswersARequestStillWaitingWhenItsGraceEndsAndRecordsIt() throws Exception {
        // Given a request to be answered whole, through a node with a short grace period, whose
        // upstream does not answer
        cluster.upstream().fault = Fault.HANG;
        JsonObject key = observer.newKey(new JsonObject());
        CompletableFuture<HttpResponse<String>> answer = HTTP.sendAsync(
            HttpRequest.newBuilder(URI.create(hastyToo.url("/v1/chat/completions")))
                .header("Authorization", "Bearer " + key.getString("key")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(
                    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        TestGateway.eventually(() -> cluster.upstream().requests().size() == 1, WAIT_MS, "the request at the upstream");

        // When the node is asked to close
        closeAsync(hastyToo).get(WAIT_MS, TimeUnit.MILLISECONDS);

        // Then the client got an answer before the connection closed, one its SDK retries elsewhere
        HttpResponse<String> response = answer.get(WAIT_MS, TimeUnit.MILLISECONDS);
        assertOpenAiError(response, 503, "api_error", "server_shutdown", null);
        assertThat(response.headers().firstValue("Retry-After")).hasValue("1");
        // And the request has its one record, as cut by the node
        assertThat(usageOf(key)).singleElement().satisfies(row -> {
            assertThat(row.get("status")).isEqualTo(503);
            assertThat(row.get("error_code")).isEqualTo("server_shutdown");
            assertThat(row.get("stream")).isEqualTo(false);
        });
    }

    private static CompletableFuture<Void> closeAsync(TestGateway node) {
        return CompletableFuture.runAsync(cluster.remove(node)::close);
    }

    private static int memberCount() {
        return observer.hub().hazelcast().orElseThrow().getCluster().getMembers().size();
    }

    private static List<Map<String, Object>> usageOf(JsonObject key) {
        return cluster.database().query("SELECT status, error_code, stream, completion_tokens FROM usage_records"
            + " WHERE key_id = ?",
            key.getString("id"));
    }

    /** Sends a streaming chat request and returns its body's lines as they arrive. */
    private static Iterator<String> openStream(TestGateway node, String key) throws Exception {
        HttpResponse<Stream<String>> response = HTTP.send(
            HttpRequest.newBuilder(URI.create(node.url("/v1/chat/completions")))
            .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(
                "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))
            .build(), HttpResponse.BodyHandlers.ofLines());
        assertThat(response.statusCode()).isEqualTo(200);
        return response.body().iterator();
    }

    /** Reads lines until one contains {@code marker}; returns them all. */
    private static String readUntil(Iterator<String> lines, String marker) {
        StringBuilder read = new StringBuilder();
        while (lines.hasNext()) {
            String line = lines.next();
            read.append(line).append('\n');
            if (line.contains(marker)) {
                return read.toString();
            }
        }
        throw new AssertionError("the stream ended before '" + marker + "': " + read);
    }

    /** Reads lines until the stream ends or its connection is cut; returns them. */
    private static List<String> readUntilCut(Iterator<String> lines) {
        List<String> read = new ArrayList<>();
        try {
            lines.forEachRemaining(read::add);
        } catch (UncheckedIOException cut) {
            // the connection was closed in the middle of a chunk: what a client of a cut stream sees
        }
        return read;
    }

    private static int readiness(TestGateway node) {
        try {
            return HTTP.send(HttpRequest.newBuilder(URI.create(node.managementUrl("/health/ready"))).GET().build(),
                HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /**
     * A new client gets no answer: the node has stopped accepting. (A connection the kernel accepted
     * just before the listening socket closed is closed unanswered: no answer either.)
     */
    private static boolean refusesConnections(TestGateway node) {
        HttpClient fresh = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        try {
            fresh.send(HttpRequest.newBuilder(URI.create(node.url("/v1/models"))).GET().build(),
                HttpResponse.BodyHandlers.discarding());
            return false;
        } catch (IOException e) {
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
