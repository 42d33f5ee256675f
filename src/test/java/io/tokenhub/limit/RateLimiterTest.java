package io.tokenhub.limit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tokenhub.limit.RateLimiter.Admission;
import io.tokenhub.limit.RateLimiter.Check;
import io.tokenhub.limit.RateLimiter.Unit;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Two nodes' limiters over one shared counter, at a fixed moment in a minute: what one node leased
 * and did not use is not lost to the other, and a limit lowered mid-minute holds on a node that
 * leased under the old one.
 */
class RateLimiterTest {

    /** Twenty seconds into a minute. */
    private static final long NOW = 29_000_000 * 60_000L + 20_000;

    private final Vertx vertx = Vertx.vertx();
    private final SharedCounter cluster = new LocalCounter();
    private final long[] now = {NOW};
    private final RateLimiter nodeA = new RateLimiter(cluster, () -> now[0]);
    private final RateLimiter nodeB = new RateLimiter(cluster, () -> now[0]);

    @AfterEach
    void close() {
        vertx.close();
    }

    @Test
    void tokensReservedOnOneNodeAndNotUsedCanBeTakenOnAnother() throws Exception {
        // Given node A admitting a request that reserves 9 000 of a key's 10 000 tokens and uses 100
        Admission admitted = admit(nodeA, new Check("key_tpm", "key-1", Unit.TOKENS, 10_000, 9_000));
        nodeA.correct(admitted, 100);

        // Then node B can admit what is really left, and node A too; together no more than the limit
        admit(nodeB, new Check("key_tpm", "key-1", Unit.TOKENS, 10_000, 5_000));
        admit(nodeA, new Check("key_tpm", "key-1", Unit.TOKENS, 10_000, 4_000));
        assertThatThrownBy(() -> admit(nodeB, new Check("key_tpm", "key-1", Unit.TOKENS, 10_000, 901)))
            .hasMessageContaining("10000 tokens per minute");
        assertThat(await(cluster.used("key_tpm|key-1|" + NOW / 60_000))).isLessThanOrEqualTo(10_000);
    }

    @Test
    void aRequestRefusedByALaterCheckGivesTheEarlierOnesTokensBackToEveryNode() throws Exception {
        // Given a model's window that refuses what the key's admitted first
        admit(nodeA, new Check("model_tpm", "acct|m", Unit.TOKENS, 10_000, 10_000));
        assertThatThrownBy(() -> admit(nodeA, new Check("key_tpm", "key-1", Unit.TOKENS, 10_000, 9_000),
            new Check("model_tpm", "acct|m", Unit.TOKENS, 10_000, 1)))
            .hasMessageContaining("this model on your account");

        // Then node B finds the key's 9 000 free again
        admit(nodeB, new Check("key_tpm", "key-1", Unit.TOKENS, 10_000, 9_000));
    }

    @Test
    void aLimitLoweredMidMinuteHoldsOnANodeThatLeasedUnderTheOldOne() throws Exception {
        // Given a key at 1 600 requests a minute: its first request leases a block of 100 on this node
        admit(nodeA, new Check("key_rpm", "key-1", Unit.REQUESTS, 1_600, 1));

        // When its limit is lowered to 5, the node admits what 5 leaves, and no more
        Check lowered = new Check("key_rpm", "key-1", Unit.REQUESTS, 5, 1);
        for (int i = 0; i < 4; i++) {
            admit(nodeA, lowered);
        }
        assertThatThrownBy(() -> admit(nodeA, lowered)).hasMessageContaining("5 requests per minute");
        assertThatThrownBy(() -> admit(nodeB, lowered)).hasMessageContaining("5 requests per minute");
        assertThat(nodeA.remaining(lowered)).isZero();
    }

    @Test
    void aLeaseANodeLeftUnusedGoesBackSoThatTheNodeTheClientStaysOnGetsTheWholeLimit() throws Exception {
        // Given a key at 160 requests a minute whose one request on node A leased a block of 10
        Check rpm = new Check("key_rpm", "key-1", Unit.REQUESTS, 160, 1);
        admit(nodeA, rpm);
        // and whose client then stays on node B: B admits all but A's block
        for (int i = 0; i < 150; i++) {
            admit(nodeB, rpm);
        }
        assertThatThrownBy(() -> admit(nodeB, rpm)).hasMessageContaining("160 requests per minute");

        // When A's lease has been idle long enough and A releases its idle leases (not before)
        nodeA.releaseIdle();
        assertThatThrownBy(() -> admit(nodeB, rpm)).hasMessageContaining("160 requests per minute");
        now[0] += RateLimiter.IDLE_LEASE_MS;
        nodeA.releaseIdle();

        // Then B admits the rest of the limit, and no more
        for (int i = 0; i < 9; i++) {
            admit(nodeB, rpm);
        }
        assertThatThrownBy(() -> admit(nodeB, rpm)).hasMessageContaining("160 requests per minute");
        assertThat(await(cluster.used("key_rpm|key-1|" + NOW / 60_000))).isEqualTo(160);
    }

    @Test
    void aRequestRefusedOnOneNodeLeavesWhatIsLeftToTheOthers() throws Exception {
        // Given a key of 1 000 tokens a minute that has used 600 (on node B)
        admit(nodeB, tpm(600));

        // When node A refuses a request of 510 tokens, time after time, with no time passing
        for (int i = 0; i < 3; i++) {
            assertThatThrownBy(() -> admit(nodeA, tpm(510))).hasMessageContaining("1000 tokens per minute");
        }

        // Then node B admits what is left, 400 (the refusals held it on A: B refused 110 with 7 "remaining",
        // and for as long as A's refusals kept its lease busy)
        Admission left = admit(nodeB, tpm(400));
        assertThat(left.taken().get(0).remaining()).isZero();
        assertThatThrownBy(() -> admit(nodeA, tpm(1))).hasMessageContaining("1000 tokens per minute");
    }

    @Test
    void tokensARequestUsedBeyondItsEstimateCountOnEveryNode() throws Exception {
        // Given a request on node A that reserved 28 tokens (an image the estimate cannot see) and used 905
        nodeA.correct(admit(nodeA, tpm(28)), 905);

        // Then node B knows 905 of the key's 1 000 are used: 110 more are refused, 95 admitted
        // (B admitted 110 and said 777 remained)
        assertThatThrownBy(() -> admit(nodeB, tpm(110))).hasMessageContaining("1000 tokens per minute");
        assertThat(admit(nodeB, tpm(95)).taken().get(0).remaining()).isZero();
        assertThat(await(cluster.used("key_tpm|key-1|" + NOW / 60_000))).isEqualTo(1_000);
    }

    private static Check tpm(long tokens) {
        return new Check("key_tpm", "key-1", Unit.TOKENS, 1_000, tokens);
    }

    private Admission admit(RateLimiter node, Check... checks) throws Exception {
        return onContext(() -> node.admit(List.of(checks)));
    }

    private <T> T onContext(Supplier<Future<T>> call) throws Exception {
        CompletableFuture<T> done = new CompletableFuture<>();
        vertx.runOnContext(v -> call.get().onComplete(ar -> {
            if (ar.succeeded()) {
                done.complete(ar.result());
            } else {
                done.completeExceptionally(ar.cause());
            }
        }));
        try {
            return done.get(10, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw (Exception) e.getCause();
        }
    }

    private static <T> T await(Future<T> future) throws Exception {
        return future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
