package io.tokenhub.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.TestGateway;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A provider's {@code max_connections} bounds the calls in flight to that provider, whatever the
 * other providers' bounds (the built-in mock's is 1 000): each provider has a pool of its own.
 */
class ProviderConnectionsIT {

    private static final String ANSWER = """
        {"id":"c1","object":"chat.completion","created":1,"model":"m1","choices":[{"index":0,
         "message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],
         "usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}""";

    private Vertx vertx;
    private HttpServer server;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicInteger mostInFlight = new AtomicInteger();

    @BeforeEach
    void upstream() {
        vertx = Vertx.vertx();
        // Holds each answer a while, so that calls overlap when the gateway lets them
        server = vertx.createHttpServer().requestHandler(request -> request.body().onSuccess(body -> {
            mostInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
            vertx.setTimer(500, id -> {
                inFlight.decrementAndGet();
                request.response().putHeader("Content-Type", "application/json").end(ANSWER);
            });
        }));
        server.listen(0, "127.0.0.1").await();
    }

    @AfterEach
    void stop() {
        vertx.close().await();
    }

    @Test
    void aProvidersMaxConnectionsBoundsTheCallsInFlightToIt() throws Exception {
        String catalog = """
            providers:
              - { id: mock, type: mock }
              - { id: small, type: openai, base_url: "http://127.0.0.1:%d/v1", max_connections: 2 }
            models:
              - id: m
                deployments: [ { provider: small, model: m1 } ]
            """.formatted(server.actualPort());
        try (TestGateway gateway = TestGateway.start(catalog, "")) {
            String key = gateway.newKey();
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            List<CompletableFuture<HttpResponse<String>>> sent = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                sent.add(http.sendAsync(HttpRequest.newBuilder(URI.create(gateway.url("/v1/chat/completions")))
                    .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(
                        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))
                    .build(), HttpResponse.BodyHandlers.ofString()));
            }
            for (CompletableFuture<HttpResponse<String>> answer : sent) {
                HttpResponse<String> response = answer.get(60, TimeUnit.SECONDS);
                assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
            }
            assertThat(mostInFlight.get()).as("calls in flight at once to a provider of max_connections: 2")
                .isEqualTo(2);
        }
    }
}
