package io.tokenhub.store;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.PrivateRedis;
import io.tokenhub.testing.TcpProxy;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.internal.VertxInternal;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Each event loop's commands go on a connection of its own, those of one turn in one write, and a
 * command that can wait with the loop's next one, with a real Redis of the test's own: {@code CLIENT ID} names the connection a command came on,
 * {@code INFO stats} counts Redis's reads.
 */
class EventLoopRedisIT {

    /** Redis of this test's own: INFO counts the reads of every client, and the shared one has others. */
    private static PrivateRedis server;

    private final Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(2));
    private final EventLoopRedis redis = new EventLoopRedis(vertx, new RedisOptions()
        .setConnectionString(server.url()).setMaxPoolSize(8));

    @BeforeAll
    static void startRedis() {
        server = PrivateRedis.start();
    }

    @AfterAll
    static void stopRedis() {
        server.close();
    }

    @AfterEach
    void stop() throws Exception {
        await(redis.close());
        await(vertx.close());
    }

    @Test
    void anEventLoopSendsEveryCommandOnOneConnectionOfItsOwn() throws Exception {
        // Contexts on the two event loops, in turn
        Context first = ((VertxInternal) vertx).createEventLoopContext();
        Context second = ((VertxInternal) vertx).createEventLoopContext();

        // 50 commands at once from each loop, pipelined
        Set<Long> firstIds = clientIds(first, 50);
        Set<Long> secondIds = clientIds(second, 50);

        assertThat(firstIds).hasSize(1);
        assertThat(secondIds).hasSize(1);
        assertThat(firstIds).doesNotContainAnyElementsOf(secondIds);
    }

    @Test
    void theCommandsALoopSendsInOneTurnReachRedisInOneWrite() throws Exception {
        // Given a loop whose connection is open
        Context loop = ((VertxInternal) vertx).createEventLoopContext();
        long id = clientIds(loop, 1).iterator().next();
        long readsBefore = readsProcessed();

        // When it sends 200 commands in one turn
        Set<Long> ids = clientIds(loop, 200);

        // Then Redis read them at once (one read, and one for the INFO that asks), not one by one
        assertThat(ids).containsExactly(id);
        assertThat(readsProcessed() - readsBefore).isLessThanOrEqualTo(3);
    }

    @Test
    void aCommandSentLaterGoesInTheWriteOfItsLoopsNextCommand() throws Exception {
        // Given a loop whose connection is open
        Context loop = ((VertxInternal) vertx).createEventLoopContext();
        long id = clientIds(loop, 1).iterator().next();
        long readsBefore = readsProcessed();

        // When, 20 times over, it sends a command that can wait in one turn, and another in the next
        for (int i = 0; i < 20; i++) {
            Promise<List<Response>> answers = Promise.promise();
            loop.runOnContext(first -> {
                Future<Response> waited = redis.later().send(Request.cmd(Command.CLIENT).arg("ID"));
                loop.runOnContext(next -> Future.all(waited, redis.send(Request.cmd(Command.CLIENT).arg("ID")))
                    .map(both -> both.<Response>list()).onComplete(answers));
            });
            // Then both are answered, on the loop's connection
            assertThat(await(answers.future())).extracting(Response::toLong).containsExactly(id, id);
        }
        // And Redis read each pair at once (and the INFO that asks), not one command at a time
        assertThat(readsProcessed() - readsBefore).isLessThanOrEqualTo(21);
    }

    @Test
    void aCommandSentLaterWithNothingAfterItGoesAlone() throws Exception {
        Context loop = ((VertxInternal) vertx).createEventLoopContext();
        long id = clientIds(loop, 1).iterator().next();

        Promise<Response> answer = Promise.promise();
        loop.runOnContext(v -> redis.later().send(Request.cmd(Command.CLIENT).arg("ID")).onComplete(answer));

        assertThat(await(answer.future()).toLong()).isEqualTo(id);
        // (from outside an event loop it goes at once, through the pool)
        assertThat(await(redis.later().send(Request.cmd(Command.PING))).toString()).isEqualTo("PONG");
    }

    @Test
    void aConnectionRedisClosedIsReplacedByTheLoopsNextCommand() throws Exception {
        Context loop = ((VertxInternal) vertx).createEventLoopContext();
        long before = clientIds(loop, 1).iterator().next();

        // Redis drops the connection (as a restart or a network failure would)
        Response killed = await(redis.send(Request.cmd(Command.CLIENT).arg("KILL").arg("ID").arg(before)));
        assertThat(killed.toLong()).isEqualTo(1);

        // The next commands of that loop answer, on a new connection
        long after = awaitAnswer(() -> clientIds(loop, 1).iterator().next());
        assertThat(after).isNotEqualTo(before);
        assertThat(clientIds(loop, 20)).containsExactly(after);
    }

    @Test
    void aConnectionWhoseRedisVanishedWithoutAWordIsReplacedOnceItHasBeenSilentLongEnough() throws Exception {
        try (TcpProxy network = new TcpProxy("127.0.0.1", URI.create(server.url()).getPort())) {
            EventLoopRedis through = new EventLoopRedis(vertx, new RedisOptions()
                .setConnectionString("redis://127.0.0.1:" + network.port()), TimeUnit.MILLISECONDS.toNanos(500));
            Context loop = ((VertxInternal) vertx).createEventLoopContext();
            assertThat(ping(through, loop, 5_000)).isTrue();

            // When the loop's connection goes silent for good (its peer gone, packets dropped: no reset)
            network.strandConnections();
            assertThat(ping(through, loop, 200)).as("answered on a stranded connection").isFalse();

            // Then, once it has been silent long enough, the loop's next commands go on a new connection
            // (they waited on the dead one until the kernel gave up, about 15 minutes)
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            boolean answered = false;
            while (!answered && System.nanoTime() < deadline) {
                answered = ping(through, loop, 500);
            }
            assertThat(answered).as("a PING answered within 10 s").isTrue();
            await(through.close());
        }
    }

    /** Whether a PING sent from {@code context} is answered within {@code waitMs}. */
    private static boolean ping(Redis client, Context context, long waitMs) throws Exception {
        Promise<Response> answer = Promise.promise();
        context.runOnContext(v -> client.send(Request.cmd(Command.PING)).onComplete(answer));
        try {
            return "PONG".equals(answer.future().toCompletionStage().toCompletableFuture()
                .get(waitMs, TimeUnit.MILLISECONDS).toString());
        } catch (TimeoutException | ExecutionException silent) {
            return false;
        }
    }

    @Test
    void commandsFromOutsideAnEventLoopGoThroughThePool() throws Exception {
        assertThat(await(redis.send(Request.cmd(Command.PING))).toString()).isEqualTo("PONG");
    }

    /** The connection ids of {@code n} {@code CLIENT ID} commands sent at once from {@code context}. */
    private Set<Long> clientIds(Context context, int n) throws Exception {
        Promise<List<Response>> answers = Promise.promise();
        context.runOnContext(v -> {
            List<Future<Response>> sent = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                sent.add(redis.send(Request.cmd(Command.CLIENT).arg("ID")));
            }
            Future.all(sent).map(all -> all.<Response>list()).onComplete(answers);
        });
        Set<Long> ids = new HashSet<>();
        await(answers.future()).forEach(id -> ids.add(id.toLong()));
        return ids;
    }

    /** Redis's count of the reads from its clients' sockets that brought commands. */
    private long readsProcessed() throws Exception {
        String stats = await(redis.send(Request.cmd(Command.INFO).arg("stats"))).toString();
        return stats.lines().filter(line -> line.startsWith("total_reads_processed:"))
            .mapToLong(line -> Long.parseLong(line.substring(line.indexOf(':') + 1).trim()))
            .findFirst().orElseThrow();
    }

    /** The command sent when the connection went away may fail with it; the loop's next one answers. */
    private static <T> T awaitAnswer(Callable<T> attempt) throws Exception {
        try {
            return attempt.call();
        } catch (Exception firstFailed) {
            return attempt.call();
        }
    }

    private static <T> T await(Future<T> future) throws Exception {
        return future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
