package io.tokenhub.provider;

import io.vertx.core.json.JsonObject;

/**
 * An upstream call that did not succeed, classified so that routing can tell the provider's
 * failures (move on to the next candidate) from the caller's (answer at once).
 */
public final class UpstreamException extends RuntimeException {

    public enum Kind {
        /** Could not connect, connection reset, or the body was not what the protocol promised. */
        CONNECTION,
        /** No first byte, or no next chunk, within the provider's timeout. */
        TIMEOUT,
        /** 5xx from the upstream. */
        SERVER_ERROR,
        /** 429 from the upstream. */
        RATE_LIMITED,
        /** A 4xx other than 429: the request itself is wrong, another provider would refuse it too. */
        REJECTED,
        /**
         * The request uses what this provider cannot offer (found before any call: a parameter its
         * API has no way to honour, an operation it does not serve); another provider may.
         */
        UNSUPPORTED
    }

    private final String provider;
    private final Kind kind;
    private final int status;
    private final long retryAfterMs;
    private final transient JsonObject error;

    public UpstreamException(String provider, Kind kind, int status, String message, long retryAfterMs,
                             JsonObject error) {
        super(message, null, false, false);
        this.provider = provider;
        this.kind = kind;
        this.status = status;
        this.retryAfterMs = retryAfterMs;
        this.error = error;
    }

    public static UpstreamException of(String provider, Kind kind, String message) {
        return new UpstreamException(provider, kind, 0, message, 0, null);
    }

    /**
     * What the provider cannot offer, found before any call: the next candidate is tried, and the
     * client gets 400 {@code unsupported_parameter} naming {@code param} (null: none named) if none
     * can serve.
     */
    public static UpstreamException unsupported(String provider, String message, String param) {
        JsonObject error = new JsonObject().put("message", message).put("type", "invalid_request_error")
            .put("code", "unsupported_parameter");
        if (param != null) {
            error.put("param", param);
        }
        return new UpstreamException(provider, Kind.UNSUPPORTED, 400, message, 0, error);
    }

    public String provider() {
        return provider;
    }

    public Kind kind() {
        return kind;
    }

    /** The upstream's HTTP status, 0 when there was none. */
    public int status() {
        return status;
    }

    public long retryAfterMs() {
        return retryAfterMs;
    }

    /** The upstream's OpenAI-shaped {@code error} object, when it sent one. */
    public JsonObject error() {
        return error;
    }

    public boolean isProviderFault() {
        return kind != Kind.REJECTED && kind != Kind.UNSUPPORTED;
    }
}
