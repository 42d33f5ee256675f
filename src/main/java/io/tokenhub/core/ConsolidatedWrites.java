package io.tokenhub.core;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.net.impl.ConnectionBase;

/**
 * Writes of one connection that one turn of its event loop makes leave in one write: their flushes
 * wait for the end of the turn (Netty's {@link FlushConsolidationHandler}, also when no read of the
 * connection is in progress). Vert.x flushes every write made outside the connection's own read, so
 * a connection many requests share (a loop's Redis connection, an HTTP/2 connection to a provider)
 * otherwise makes a write, and its peer a read, per request. A connection one request holds at a
 * time gains nothing from it, and is left alone.
 */
public final class ConsolidatedWrites {

    private static final String NAME = "tokenhub-consolidated-writes";

    private ConsolidatedWrites() {
    }

    /** On the socket whose Vert.x handler is {@code handler}: in front of it, towards the network. */
    public static void install(ChannelHandlerContext handler) {
        handler.pipeline().addBefore(handler.name(), NAME,
            new FlushConsolidationHandler(FlushConsolidationHandler.DEFAULT_EXPLICIT_FLUSH_AFTER_FLUSHES, true));
    }

    /** On an HTTP/2 connection; an HTTP/1.x one (ALPN may settle on it) is left alone. */
    public static void installIfHttp2(HttpConnection connection) {
        if (connection instanceof ConnectionBase base
            && base.channelHandlerContext().handler() instanceof Http2ConnectionHandler) {
            install(base.channelHandlerContext());
        }
    }
}
