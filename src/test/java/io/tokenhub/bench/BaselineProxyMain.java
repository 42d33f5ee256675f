package io.tokenhub.bench;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import java.nio.file.Path;
import java.util.Set;

/**
 * A bare Vert.x forwarding proxy (server → pooled client, bodies piped both ways, no parsing), set
 * up as TokenHub's own server and clients are: Netty's epoll transport, strict thread mode, no
 * WebSocket compression, TCP_NODELAY, kept-alive upstream connections. What it costs is the floor
 * of any gateway built on Vert.x's HTTP server and client: the load benchmark's {@code vertx} path,
 * and its baseline when nginx is not installed. {@code BaselineProxyMain <port> <upstream port>
 * <event loops> <ready file>}; exits when stdin closes.
 */
public final class BaselineProxyMain {

    private static final Set<String> HOP_BY_HOP = Set.of("connection", "keep-alive", "transfer-encoding",
        "te", "trailer", "upgrade", "proxy-connection", "host");

    private BaselineProxyMain() {
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        int upstreamPort = Integer.parseInt(args[1]);
        int loops = Integer.parseInt(args[2]);
        Path ready = Path.of(args[3]);
        Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(loops).setPreferNativeTransport(true));
        vertx.deployVerticle(() -> new Proxy(port, upstreamPort), new DeploymentOptions().setInstances(loops)).await();
        if (!vertx.isNativeTransportEnabled()) {
            System.out.println("Netty's epoll transport is not available here: Java NIO instead, unlike TokenHub");
        }
        Procs.writeReady(ready, "READY " + port);
        Procs.exitWhenStdinCloses(() -> vertx.close().await());
    }

    static final class Proxy extends VerticleBase {
        private final int port;
        private final int upstreamPort;
        private HttpClient client;

        Proxy(int port, int upstreamPort) {
            this.port = port;
            this.upstreamPort = upstreamPort;
        }

        @Override
        public Future<?> start() {
            client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true),
                new PoolOptions().setHttp1MaxSize(20_000));
            // Responses are written on the request's event loop (the client's connections are this
            // verticle's), so strict thread mode holds here as it does in TokenHub.
            return vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(port)
                    .setTcpNoDelay(true).setAcceptBacklog(8192).setStrictThreadMode(true)
                    .setPerMessageWebSocketCompressionSupported(false).setPerFrameWebSocketCompressionSupported(false))
                .requestHandler(this::forward)
                .listen();
        }

        private void forward(HttpServerRequest request) {
            request.pause();
            RequestOptions options = new RequestOptions().setMethod(request.method()).setHost("127.0.0.1")
                .setPort(upstreamPort).setURI(request.uri()).setHeaders(copy(request.headers()));
            HttpServerResponse response = request.response();
            client.request(options)
                .compose(upstream -> upstream.send(request))
                .onSuccess(upstreamResponse -> {
                    response.setStatusCode(upstreamResponse.statusCode());
                    response.headers().addAll(copy(upstreamResponse.headers()));
                    if (upstreamResponse.getHeader(HttpHeaders.CONTENT_LENGTH) == null) {
                        response.setChunked(true);
                    }
                    response.send(upstreamResponse);
                })
                .onFailure(e -> {
                    if (!response.headWritten()) {
                        response.setStatusCode(502).end();
                    } else {
                        response.reset();
                    }
                });
        }

        private static MultiMap copy(MultiMap headers) {
            MultiMap out = MultiMap.caseInsensitiveMultiMap();
            headers.forEach((name, value) -> {
                if (!HOP_BY_HOP.contains(name.toLowerCase())) {
                    out.add(name, value);
                }
            });
            return out;
        }
    }
}
