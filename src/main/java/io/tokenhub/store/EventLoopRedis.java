package io.tokenhub.store;

import io.netty.channel.EventLoop;
import io.netty.util.concurrent.EventExecutor;
import io.tokenhub.core.ConsolidatedWrites;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.internal.net.NetSocketInternal;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.vertx.redis.client.impl.PooledRedisConnection;
import java.lang.reflect.Field;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Redis client that sends the commands of each event loop on a connection of that loop's own,
 * opened on it and kept, commands pipelined on it as Redis answers them in order, and those of one
 * turn of the loop in one write ({@link #consolidateWrites}). The Vert.x
 * client's pool leases a connection for every command and takes it back after the answer: a sixth
 * of the gateway's CPU per request at saturation with the wallet counters in Redis (two commands a
 * request; 101–109 against 84–86 µs), and the connection it leases may have been made on another
 * event loop, whose answers then cross threads. Commands from outside an event loop, and batches,
 * go through that pool. A connection that fails or closes is let go; the loop's next command opens
 * another (its commands in flight fail, as they would on a pooled connection).
 */
public final class EventLoopRedis implements Redis {

    private static final Logger LOG = LoggerFactory.getLogger(EventLoopRedis.class);
    private static final AtomicBoolean UNCONSOLIDATED = new AtomicBoolean();
    /** The longest a command sent {@link #later()} waits for its loop's next command. */
    static final long LATER_MS = 1;

    private final Vertx vertx;
    private final RedisOptions options;
    private final Redis pooled;
    private final Map<EventLoop, Loop> loops = new ConcurrentHashMap<>();
    /**
     * A client for each event loop's connection, made here: a client made later, inside the verticle
     * whose command first came from that loop, would be closed with that verticle (Vert.x closes what
     * a deployment made when it is undeployed), while the loop's other users (a node share's renewal,
     * another verticle) still send on it.
     */
    private final ConcurrentLinkedQueue<Redis> spare = new ConcurrentLinkedQueue<>();
    private volatile boolean closed;
    private final long silentNanos;

    /** To be made outside any verticle, as the clients it makes outlive them. */
    public EventLoopRedis(Vertx vertx, RedisOptions options) {
        this(vertx, options, SILENT_NANOS);
    }

    /** @param silentNanos how long a connection may wait for answers with none coming: {@link #SILENT_NANOS} */
    EventLoopRedis(Vertx vertx, RedisOptions options, long silentNanos) {
        this.silentNanos = silentNanos;
        this.vertx = vertx;
        this.options = options;
        this.pooled = Redis.createClient(vertx, options);
        for (EventExecutor ignored : ((VertxInternal) vertx).nettyEventLoopGroup()) {
            spare.add(oneConnection());
        }
    }

    /** A client of one connection, so that the connection is made on the loop that uses it, for that loop. */
    private Redis oneConnection() {
        return Redis.createClient(vertx, new RedisOptions(options).setMaxPoolSize(1));
    }

    @Override
    public Future<Response> send(Request command) {
        ContextInternal context = (ContextInternal) Vertx.currentContext();
        Loop loop = loop(context);
        return loop == null ? pooled.send(command) : loop.send(command);
    }

    /**
     * This client for commands whose answer can wait a little (a request's settlement, after its
     * response): each goes with its event loop's next command, in that command's write, and is
     * answered in that command's read, or alone after {@link #LATER_MS}. At one request in flight a
     * settlement so shares the next request's reservation's round trip instead of making one of its
     * own: a wake-up fewer for Redis and for the loop. Commands from outside an event loop go at once.
     * A view: connections and batches are this client's, and closing it closes this client.
     */
    public Redis later() {
        return new Redis() {
            @Override
            public Future<Response> send(Request command) {
                ContextInternal context = (ContextInternal) Vertx.currentContext();
                Loop loop = loop(context);
                return loop == null ? pooled.send(command) : loop.sendLater(context, command);
            }

            @Override
            public Future<RedisConnection> connect() {
                return EventLoopRedis.this.connect();
            }

            @Override
            public Future<List<Response>> batch(List<Request> commands) {
                return EventLoopRedis.this.batch(commands);
            }

            @Override
            public Future<Void> close() {
                return EventLoopRedis.this.close();
            }
        };
    }

    /** The caller's event loop's connection, or null when the caller is not on an event loop. */
    private Loop loop(ContextInternal context) {
        if (closed || context == null || !context.isEventLoopContext() || !context.nettyEventLoop().inEventLoop()) {
            return null;
        }
        Loop loop = loops.get(context.nettyEventLoop());
        if (loop == null) {
            loop = loops.computeIfAbsent(context.nettyEventLoop(), first -> new Loop());
        }
        return loop;
    }

    @Override
    public Future<RedisConnection> connect() {
        return pooled.connect();
    }

    @Override
    public Future<List<Response>> batch(List<Request> commands) {
        return pooled.batch(commands);
    }

    @Override
    public Future<Void> close() {
        closed = true;
        List<Future<Void>> closing = new ArrayList<>();
        loops.values().forEach(loop -> closing.add(loop.close()));
        spare.forEach(client -> closing.add(client.close()));
        closing.add(pooled.close());
        return Future.join(closing).mapEmpty();
    }

    /**
     * Lets the commands a loop sends in one turn leave in one write ({@link ConsolidatedWrites}).
     * Every command is otherwise a write of its own, and a read of Redis's: at saturation this halves
     * Redis's reads and cuts the gateway's CPU per request by about a third (the performance log,
     * src/test/java/io/tokenhub/bench/README.md).
     * The Vert.x Redis client does not expose its socket; it is its connection's {@code netSocket}
     * field. Without it (another client version), commands are written one by one, as before, and a
     * warning says so once.
     */
    private static void consolidateWrites(RedisConnection connection) {
        try {
            ConsolidatedWrites.install(socketOf(connection).channelHandlerContext());
        } catch (ReflectiveOperationException | RuntimeException e) {
            if (UNCONSOLIDATED.compareAndSet(false, true)) {
                LOG.warn("Redis commands are written one by one: this Redis client's socket is out of reach ({})",
                    e.toString());
            }
        }
    }

    /** Closes the connection's socket (its commands waiting fail with it), else lets go of it. */
    private static void closeSocket(RedisConnection connection) {
        try {
            socketOf(connection).close();
        } catch (ReflectiveOperationException | RuntimeException e) {
            connection.close();
        }
    }

    /** The connection's socket: its {@code netSocket} field, which the Vert.x Redis client does not expose. */
    private static NetSocketInternal socketOf(RedisConnection connection) throws ReflectiveOperationException {
        Object actual = ((PooledRedisConnection) connection).actual();
        Field field = actual.getClass().getDeclaredField("netSocket");
        field.setAccessible(true);
        return (NetSocketInternal) field.get(actual);
    }

    /** A command waiting for its loop's next one. */
    private record Deferred(Request command, Promise<Response> answer) {
    }

    /**
     * One event loop's connection, and what it is waiting for; used on that loop only (but for
     * {@link #close}).
     */
    private static final class Connection {
        final Future<RedisConnection> opened;
        /** Commands sent and not answered yet. */
        int waiting;
        /** When the connection last answered, or began to wait with nothing waiting before. */
        long answeredAtNanos = System.nanoTime();

        Connection(Future<RedisConnection> opened) {
            this.opened = opened;
        }

        /** Waiting for answers that have not come for {@code silentNanos}: a peer gone without a word. */
        boolean silent(long now, long silentNanos) {
            return waiting > 0 && now - answeredAtNanos > silentNanos;
        }
    }

    /**
     * How long a connection may wait for answers with none coming before it is let go: a Redis that
     * vanished without closing its connections (a node or pod gone, its address dropping packets)
     * held every command of the loop until the kernel gave up, about 15 minutes (a review found it).
     * A Redis that is only slow answers something within it.
     */
    static final long SILENT_NANOS = TimeUnit.SECONDS.toNanos(10);

    /** One event loop's connection; used on that loop only (but for {@link #close}). */
    private final class Loop {
        private final Redis client = Optional.ofNullable(spare.poll()).orElseGet(EventLoopRedis.this::oneConnection);
        private Connection connection;
        /** Commands sent {@link #later()}, oldest first; they go before the loop's next command. */
        private final ArrayDeque<Deferred> deferred = new ArrayDeque<>();
        private long deferredTimer = -1;

        Future<Response> send(Request command) {
            if (!deferred.isEmpty()) {
                sendDeferred();
            }
            return sendNow(command);
        }

        Future<Response> sendLater(ContextInternal context, Request command) {
            Promise<Response> answer = context.promise();
            deferred.add(new Deferred(command, answer));
            if (deferredTimer < 0) {
                deferredTimer = vertx.setTimer(LATER_MS, id -> {
                    deferredTimer = -1;
                    sendDeferred();
                });
            }
            return answer.future();
        }

        private void sendDeferred() {
            if (deferredTimer >= 0) {
                vertx.cancelTimer(deferredTimer);
                deferredTimer = -1;
            }
            for (Deferred next = deferred.poll(); next != null; next = deferred.poll()) {
                sendNow(next.command()).onComplete(next.answer());
            }
        }

        private Future<Response> sendNow(Request command) {
            Connection current = connection;
            if (current != null && current.silent(System.nanoTime(), silentNanos)) {
                LOG.warn("Redis has not answered this event loop's connection for {} ms: it is closed, and a new one "
                    + "opened", TimeUnit.NANOSECONDS.toMillis(silentNanos));
                if (connection == current) {
                    connection = null;
                    // Its socket, not only the pool's lease of it: the pool would hand the same one back.
                    current.opened.onSuccess(EventLoopRedis::closeSocket);
                }
                current = null;
            }
            if (current == null) {
                Connection opening = new Connection(client.connect());
                connection = opening;
                // A connect that fails at once (a client closing with the node) lets go of it here and
                // now: the command fails with it.
                opening.opened.onSuccess(c -> {
                    consolidateWrites(c);
                    c.exceptionHandler(failure -> letGo(opening));
                    c.endHandler(v -> letGo(opening));
                }).onFailure(failure -> letGo(opening));
                current = opening;
            }
            Connection on = current;
            if (on.waiting++ == 0) {
                on.answeredAtNanos = System.nanoTime(); // silence counts from the first command waiting
            }
            return on.opened.compose(c -> c.send(command)).andThen(answered -> {
                on.waiting--;
                on.answeredAtNanos = System.nanoTime();
            });
        }

        private void letGo(Connection which) {
            if (connection == which) {
                connection = null;
                which.opened.onSuccess(RedisConnection::close);
            }
        }

        Future<Void> close() {
            return client.close();
        }
    }
}
