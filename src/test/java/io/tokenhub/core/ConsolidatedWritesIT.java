package io.tokenhub.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.flush.FlushConsolidationHandler;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.impl.ConnectionBase;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The HTTP/2 connections of a client built as TokenHub builds its provider client get consolidated
 * writes, and requests on them are answered whole; HTTP/1.1 connections are left alone. A real
 * Vert.x server over loopback.
 */
class ConsolidatedWritesIT {

    private final Vertx vertx = Vertx.vertx();
    private final List<HttpConnection> connections = new CopyOnWriteArrayList<>();
    private HttpServer server;

    @BeforeEach
    void start() throws Exception {
        server = await(vertx.createHttpServer(new HttpServerOptions().setHttp2ClearTextEnabled(true))
            .requestHandler(request -> request.body().onSuccess(body ->
                request.response().end("echo " + body)))
            .listen(0, "127.0.0.1"));
    }

    @AfterEach
    void stop() throws Exception {
        await(vertx.close());
    }

    @Test
    void anHttp2ConnectionGetsThemAndAnswersEveryRequestOfATurnWhole() throws Exception {
        HttpClient client = client(HttpVersion.HTTP_2);

        // 50 requests sent at once share one connection, whose writes are consolidated
        List<String> answers = await(Future.all(IntStream.range(0, 50).mapToObj(i -> post(client, "r" + i)).toList()))
            .list();

        assertThat(answers).containsExactlyElementsOf(IntStream.range(0, 50).mapToObj(i -> "echo r" + i).toList());
        assertThat(connections).hasSize(1);
        assertThat(consolidated(connections.get(0))).isTrue();
    }

    @Test
    void anHttp1ConnectionIsLeftAlone() throws Exception {
        HttpClient client = client(HttpVersion.HTTP_1_1);

        assertThat(await(post(client, "one"))).isEqualTo("echo one");

        assertThat(connections).hasSize(1);
        assertThat(consolidated(connections.get(0))).isFalse();
    }

    private HttpClient client(HttpVersion version) {
        return vertx.httpClientBuilder()
            .with(new HttpClientOptions().setProtocolVersion(version).setHttp2ClearTextUpgrade(false))
            .withConnectHandler(connection -> {
                connections.add(connection);
                ConsolidatedWrites.installIfHttp2(connection);
            })
            .build();
    }

    private static boolean consolidated(HttpConnection connection) {
        return ((ConnectionBase) connection).channelHandlerContext().pipeline().get(FlushConsolidationHandler.class)
            != null;
    }

    private Future<String> post(HttpClient client, String body) {
        return client.request(HttpMethod.POST, server.actualPort(), "127.0.0.1", "/")
            .compose(request -> request.send(body))
            .compose(response -> response.body())
            .map(Object::toString);
    }

    private static <T> T await(Future<T> future) throws Exception {
        return future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
