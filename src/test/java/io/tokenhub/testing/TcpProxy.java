package io.tokenhub.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A TCP forwarder on an ephemeral loopback port, for tests of a network that goes quiet: after
 * {@link #partition()} every connection, old or new, stays open but nothing gets through in either
 * direction (as when packets are dropped: no reset, no error, just silence); {@link #heal()} lets
 * the held bytes through again. Unlike stopping the server, this is what makes a client without
 * its own timeouts wait forever.
 */
public final class TcpProxy implements AutoCloseable {

    private final String targetHost;
    private final int targetPort;
    private final ServerSocket server;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final Object gate = new Object();
    private volatile boolean partitioned;
    /** Connections numbered below this are stranded ({@link #strandConnections}). */
    private volatile long strandedBelow;
    private long accepted;
    private volatile boolean closed;

    public TcpProxy(String targetHost, int targetPort) {
        this.targetHost = targetHost;
        this.targetPort = targetPort;
        try {
            this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Thread acceptor = new Thread(this::accept, "tcp-proxy-accept-" + port());
        acceptor.setDaemon(true);
        acceptor.start();
    }

    public int port() {
        return server.getLocalPort();
    }

    /** From now on nothing crosses, in either direction, on any connection; connections stay open. */
    public void partition() {
        partitioned = true;
    }

    /** Closes every connection open now, with the bytes held on it (a network blip); new ones are taken. */
    public void dropConnections() {
        sockets.forEach(TcpProxy::closeQuietly);
        sockets.clear();
    }

    /**
     * The connections open now go silent for good, as to a peer that vanished (a node gone, its
     * address dropping packets: no reset, no error); new connections get through.
     */
    public void strandConnections() {
        synchronized (gate) {
            strandedBelow = accepted;
        }
    }

    /** Bytes flow again, those held first. */
    public void heal() {
        synchronized (gate) {
            partitioned = false;
            gate.notifyAll();
        }
    }

    private void accept() {
        while (!closed) {
            try {
                Socket client = server.accept();
                sockets.add(client);
                long number;
                synchronized (gate) {
                    number = accepted++;
                }
                // Connected even while partitioned, as the far side's TCP stack would (SYN/ACK), but silent.
                awaitHealed(number);
                Socket upstream = new Socket(targetHost, targetPort);
                sockets.add(upstream);
                pump(client, upstream, number);
                pump(upstream, client, number);
            } catch (IOException | InterruptedException e) {
                if (!closed) {
                    continue;
                }
                return;
            }
        }
    }

    private void pump(Socket from, Socket to, long number) {
        Thread thread = new Thread(() -> {
            byte[] buffer = new byte[16 * 1024];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                int n;
                while ((n = in.read(buffer)) >= 0) {
                    awaitHealed(number);
                    out.write(buffer, 0, n);
                    out.flush();
                }
            } catch (IOException | InterruptedException e) {
                // one side went away: the other goes too
            } finally {
                closeQuietly(from);
                closeQuietly(to);
            }
        }, "tcp-proxy-pump");
        thread.setDaemon(true);
        thread.start();
    }

    private void awaitHealed(long number) throws InterruptedException {
        synchronized (gate) {
            while ((partitioned || number < strandedBelow) && !closed) {
                gate.wait();
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        heal();
        closeQuietly(server);
        sockets.forEach(TcpProxy::closeQuietly);
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }
}
