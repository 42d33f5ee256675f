package io.tokenhub.provider;

/**
 * How long one request waited on upstreams: from the first request written to one (the first
 * attempt's) to the latest byte that came back. The rest of the request's time is TokenHub's
 * own, which {@code tokenhub_overhead_seconds} reports. Confined to the request's event loop.
 */
public final class UpstreamClock {

    private long sentNanos = -1;
    private long receivedNanos = -1;

    /** A request was written to the network; only the first one starts the clock. */
    public void sent() {
        if (sentNanos < 0) {
            sentNanos = System.nanoTime();
        }
    }

    /** Bytes of an answer arrived. */
    public void received() {
        receivedNanos = System.nanoTime();
    }

    /** From the first send to the latest arrival; 0 when nothing was sent or nothing came back. */
    public long upstreamNanos() {
        return sentNanos < 0 || receivedNanos < sentNanos ? 0 : receivedNanos - sentNanos;
    }
}
