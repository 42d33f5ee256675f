package io.tokenhub.limit;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.limit.RateLimiter.Admission;
import io.tokenhub.limit.RateLimiter.Check;
import io.tokenhub.limit.RateLimiter.Unit;
import io.vertx.core.Vertx;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A shared counter that stops answering (a cluster member frozen or cut off, which holds the calls
 * to the windows it owns until the cluster drops it, up to a minute) does not hold requests: after
 * {@link RateLimiter#COUNTER_WAIT_MS} they are admitted on the node's own count.
 */
class SilentCounterTest {

    private final Vertx vertx = Vertx.vertx();

    @AfterEach
    void close() {
        vertx.close();
    }

    @Test
    void aCounterThatDoesNotAnswerAdmitsOnTheNodesCountInsteadOfHoldingTheRequest() throws Exception {
        SilentCounter silent = new SilentCounter();
        RateLimiter limiter = new RateLimiter(silent);
        Check check = new Check("key_rpm", "key-1", Unit.REQUESTS, 60, 1);

        CompletableFuture<Admission> admitted = new CompletableFuture<>();
        vertx.runOnContext(v -> limiter.admit(List.of(check)).onComplete(ar -> {
            if (ar.succeeded()) {
                admitted.complete(ar.result());
            } else {
                admitted.completeExceptionally(ar.cause());
            }
        }));

        Admission admission = admitted.get(10, TimeUnit.SECONDS);
        assertThat(silent.asked).hasValue(1);
        assertThat(admission.taken()).hasSize(1);
        assertThat(admission.taken().get(0).remaining()).isEqualTo(59);
    }
}
