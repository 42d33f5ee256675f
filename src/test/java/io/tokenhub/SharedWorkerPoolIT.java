package io.tokenhub;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.TestGateway;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Vert.x's shared worker pool taken whole by blocking work: the usage records and the password
 * hashes, which have pools of their own, go on.
 */
class SharedWorkerPoolIT {

    private TestGateway gateway;
    private final CountDownLatch release = new CountDownLatch(1);

    @BeforeEach
    void start() {
        gateway = TestGateway.start("""
            providers: [ { id: mock, type: mock } ]
            models:
              - id: mock-chat
                pricing: { input: 1.0, output: 2.0 }
                deployments: [ { provider: mock, model: mock-chat-1 } ]
            """, "");
    }

    @AfterEach
    void stop() {
        release.countDown();
        gateway.close();
    }

    @Test
    void usageIsRecordedWhileEverySharedWorkerThreadIsBusy() throws InterruptedException {
        // Given a key, and every thread of Vert.x's shared worker pool held by a blocking task
        String key = gateway.newKey();
        holdEverySharedWorker();
        long before = gateway.database().count("SELECT count(*) FROM usage_records");

        // When a request is answered
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key,
            "{\"model\":\"mock-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}");
        assertThat(response.statusCode()).isEqualTo(200);

        // Then its usage record reaches PostgreSQL while those threads are still held
        String requestId = response.headers().firstValue("X-Request-Id").orElseThrow();
        TestGateway.eventually(() -> gateway.database().count(
            "SELECT count(*) FROM usage_records WHERE request_id = ?", requestId) == 1, 10_000, "the usage record");
        assertThat(gateway.database().count("SELECT count(*) FROM usage_records")).isEqualTo(before + 1);
    }

    @Test
    void anAccountWithAPasswordIsCreatedWhileEverySharedWorkerThreadIsBusy() throws InterruptedException {
        // Given every thread of Vert.x's shared worker pool held by a blocking task
        holdEverySharedWorker();

        // When an admin creates an account with a password (hashed off the event loop)
        String email = "busy-" + System.nanoTime() + "@example.com";
        HttpResponse<String> created = gateway.admin("POST", "/admin/v1/accounts",
            new JsonObject().put("name", "Busy").put("email", email).put("password", "a long enough password"));

        // Then it is created, and its holder can sign in with that password
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        HttpResponse<String> login = gateway.post("/console/api/login", null,
            new JsonObject().put("email", email).put("password", "a long enough password").encode());
        assertThat(login.statusCode()).as(login.body()).isEqualTo(200);
    }

    private void holdEverySharedWorker() throws InterruptedException {
        int threads = VertxOptions.DEFAULT_WORKER_POOL_SIZE;
        CountDownLatch busy = new CountDownLatch(threads);
        for (int i = 0; i < threads; i++) {
            gateway.hub().vertx().executeBlocking(() -> {
                busy.countDown();
                return release.await(60, TimeUnit.SECONDS);
            }, false);
        }
        assertThat(busy.await(10, TimeUnit.SECONDS)).as("every shared worker thread busy").isTrue();
    }
}
