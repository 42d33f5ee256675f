package io.tokenhub.provider;

import io.tokenhub.config.TokenHubConfig.Provider;
import io.tokenhub.core.OncePer;
import io.tokenhub.provider.UpstreamException.Kind;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.net.ConnectException;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeoutException;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP part every adapter shares: POST a JSON body to one provider with its connect, first-byte
 * and idle timeouts, honour the caller's {@link Abort}, and turn every way the call can go wrong
 * into an {@link UpstreamException}. A successful response is handed over paused. Used on one
 * event loop (each API verticle has its own adapters).
 */
public final class HttpUpstream {

    private static final CharSequence JSON = HttpHeaders.createOptimized("application/json");
    private static final CharSequence ACCEPT = HttpHeaders.createOptimized("application/json, text/event-stream");
    private static final Logger LOG = LoggerFactory.getLogger(HttpUpstream.class);
    /** A provider's refusal of TokenHub's credentials is logged once a minute at most, by provider id. */
    /**
     * Error codes that some providers send with a 400 for what is the provider's (or TokenHub's
     * account's) state, not the request's: DashScope's overdue account, Volcengine Ark's closed
     * endpoint. The caller cannot fix them and another deployment may answer.
     */
    private static final Set<String> OPERATOR_CODES = Set.of("Arrearage", "InvalidEndpoint.ClosedEndpoint",
        "AccountOverdueError");
    /**
     * What providers call refusing TokenHub's key, whatever the status they send it with (OpenAI's
     * code, DashScope's, Ark's; Anthropic's and DeepSeek's types): the operator's to fix, never
     * relayed as the caller's, whose own TokenHub key is good.
     */
    private static final Set<String> CREDENTIAL_CODES = Set.of("invalid_api_key", "InvalidApiKey",
        "AuthenticationError", "authentication_error", "permission_error");
    /** Anthropic's message when TokenHub's account there has run out of credit. */
    private static final String OUT_OF_CREDIT = "credit balance is too low";
    /** What providers call their content filter stopping an answer mid-stream (DashScope, OpenAI, Ark). */
    private static final Set<String> CONTENT_FILTER_CODES = Set.of("data_inspection_failed", "content_filter",
        "content_policy_violation", "SensitiveContentDetected", "OutputTextSensitiveContentDetected");
    private static final Map<String, OncePer> OPERATOR_WARNINGS = new ConcurrentHashMap<>();
    /** What of an error body is kept: a provider's error object is a few hundred bytes. */
    static final int MAX_ERROR_BODY = 64 * 1024;
    /** RST_STREAM's CANCEL (RFC 9113 §7); over HTTP/1.1 any reset closes the connection. */
    private static final long HTTP2_CANCEL = 0x8;

    /**
     * Where an adapter posts, resolved once: host, port, path and headers, so that a call neither
     * parses a URL nor validates a header; with the first-byte timeout (an {@link IdleTimeout} from
     * the request sent to the response head; another takes over for the body).
     */
    public static final class Endpoint {
        private final RequestOptions options;
        private final long firstByteMs;

        private Endpoint(RequestOptions options, long firstByteMs) {
            this.options = options;
            this.firstByteMs = firstByteMs;
        }
    }

    private final Vertx vertx;
    private final HttpClient client;
    private final Provider provider;
    private final KeyScrub keyScrub;

    public HttpUpstream(Vertx vertx, HttpClient client, Provider provider) {
        this.vertx = vertx;
        this.client = client;
        this.provider = provider;
        this.keyScrub = new KeyScrub(provider.apiKey());
    }

    /** The provider's words with its {@code api_key} hidden, whole or in part: for a client or the log. */
    public String scrub(String words) {
        return keyScrub.scrub(words);
    }

    public Provider provider() {
        return provider;
    }

    /** The provider's {@code base_url} plus {@code path}, with these headers on every call. */
    public Endpoint endpoint(String path, MultiMap headers) {
        URI base = URI.create(provider.baseUrl());
        boolean ssl = "https".equalsIgnoreCase(base.getScheme());
        // first_byte_ms runs from the request sent to the response head (post's own timeout, not
        // Vert.x's request timeout: see TimeoutLine); from the head on, idle_ms between data is the
        // body readers'.
        long firstByteMs = provider.timeouts().firstByteMs();
        RequestOptions options = new RequestOptions()
            .setMethod(HttpMethod.POST)
            .setSsl(ssl)
            .setHost(base.getHost())
            .setPort(base.getPort() > 0 ? base.getPort() : ssl ? 443 : 80)
            .setURI((base.getRawPath() == null ? "" : base.getRawPath()) + path)
            .setConnectTimeout(provider.timeouts().connectMs())
            .putHeader(HttpHeaders.CONTENT_TYPE, JSON)
            .putHeader(HttpHeaders.ACCEPT, ACCEPT);
        headers.forEach((name, value) ->
            options.putHeader(HttpHeaders.createOptimized(name), HttpHeaders.createOptimized(value)));
        return new Endpoint(options, firstByteMs);
    }

    /** Completes with a 2xx response, paused; any other status fails with the upstream's error. */
    public Future<HttpClientResponse> post(Endpoint endpoint, Buffer body, Abort abort, UpstreamClock clock) {
        Promise<HttpClientResponse> result = Promise.promise();
        client.request(endpoint.options).onComplete(ar -> {
            if (ar.failed()) {
                result.tryFail(classify(ar.cause()));
                return;
            }
            var request = ar.result();
            // A reset before the body is all written fails the send, which is handled below; without a
            // handler Vert.x would also log it at ERROR ("Stream reset: 0"), once per cancelled call.
            request.exceptionHandler(failure -> LOG.debug("provider {}: request failed while sending: {}",
                provider.id(), failure.toString()));
            // Fail first, then reset: the reset fails the send too, and the first failure must win.
            // Once the response is handed over, tryFail is false and the stream's own cancel applies.
            // The first-byte timeout resets as Vert.x's own request timeout did: over HTTP/2 a CANCEL.
            IdleTimeout firstByte = new IdleTimeout(vertx, endpoint.firstByteMs, () -> {
                if (result.tryFail(UpstreamException.of(provider.id(), Kind.TIMEOUT,
                    "no response within " + endpoint.firstByteMs + " ms"))) {
                    request.reset(HTTP2_CANCEL);
                }
            });
            abort.onAbort(() -> {
                if (result.tryFail(cancelled())) {
                    firstByte.stop();
                    request.reset();
                }
            });
            firstByte.start();
            Future<HttpClientResponse> sending = request.send(body);
            // Marked once send() has encoded and written the request: that work is TokenHub's own.
            clock.sent();
            sending.onComplete(sent -> {
                firstByte.stop();
                if (sent.failed()) {
                    result.tryFail(classify(sent.cause()));
                } else {
                    clock.received();
                    HttpClientResponse response = sent.result();
                    response.pause();
                    if (response.statusCode() / 100 == 2) {
                        if (!result.tryComplete(response)) {
                            request.reset();
                        }
                    } else {
                        failWithBody(response, result);
                    }
                }
            });
        });
        return result.future();
    }

    /**
     * Fails with the status and what the error body says. The body is read as any body is, under
     * {@code idle_ms} (a provider that sends an error head and then goes quiet fails this attempt
     * with its status, not the request for as long as it stays quiet), and only its first
     * {@link #MAX_ERROR_BODY} bytes are kept.
     */
    private void failWithBody(HttpClientResponse response, Promise<HttpClientResponse> result) {
        int status = response.statusCode();
        long retryAfterMs = retryAfterMs(response.headers());
        read(response, MAX_ERROR_BODY, () -> { }, null).onComplete(body -> result.tryFail(
            statusFailure(status, retryAfterMs, body.succeeded() ? errorObject(body.result()) : null)));
    }

    /**
     * Maps an upstream HTTP status and its error body to the failure routing acts on. The
     * provider's words go on with its {@code api_key} hidden; a refusal of that key, whatever its
     * status, goes on in the gateway's words only.
     */
    public UpstreamException statusFailure(int status, long retryAfterMs, JsonObject error) {
        // The provider's fault, not the caller's: 401 and 403, TokenHub's own credentials are wrong; 402,
        // TokenHub's account there is out of credit; 404, the deployment names a model (or base_url a
        // path) the provider does not have. Another deployment may well answer, and the caller cannot
        // fix any of them.
        String code = error != null && error.getValue("code") instanceof String c ? c : null;
        boolean credentials = status == 401 || status == 403 || refusesKey(error);
        boolean operators = credentials || status == 402 || status == 404
            || code != null && OPERATOR_CODES.contains(code)
            // Anthropic's word for 402: a 400 with no code, its message the only sign.
            || status == 400 && error != null && error.getValue("message") instanceof String m
                && m.contains(OUT_OF_CREDIT);
        Kind kind = status == 429 ? Kind.RATE_LIMITED
            // The provider's own gateway gave up waiting for its model (Anthropic's timeout_error is a 504).
            : status == 408 || status == 504 ? Kind.TIMEOUT
            : status >= 500 || operators ? Kind.SERVER_ERROR
            : Kind.REJECTED;
        String detail = error != null && error.getValue("message") instanceof String m ? scrub(m) : "no error message";
        if (credentials) {
            // The provider's own words are for the operator: they may quote what is left of TokenHub's key.
            if (operatorWarningDue()) {
                LOG.warn("provider {} refused TokenHub's credentials or account (HTTP {}): {}", provider.id(), status,
                    forLog(detail));
            }
            detail = credentialsRefused(code);
            error = null;
        } else if (operators && operatorWarningDue()) {
            LOG.warn("provider {} answered HTTP {}{}: {} (no caller can fix it: check TokenHub's account there, the "
                + "deployment's model and base_url)", provider.id(), status, code == null ? "" : " " + code,
                forLog(detail));
        }
        return new UpstreamException(provider.id(), kind, status, "HTTP " + status + ": " + detail, retryAfterMs,
            error == null ? null : scrubbed(error));
    }

    /** Whether an error object says the provider refused TokenHub's key. */
    private static boolean refusesKey(JsonObject error) {
        return error != null && (error.getValue("code") instanceof String code && CREDENTIAL_CODES.contains(code)
            || error.getValue("type") instanceof String type && CREDENTIAL_CODES.contains(type));
    }

    private static String credentialsRefused(String code) {
        return "the provider refused TokenHub's " + (code == null ? "credentials" : "credentials or account (" + code
            + ")") + "; its api_key or account needs an operator's attention";
    }

    /** An error object with the provider's {@code api_key} hidden in each of its words. */
    private JsonObject scrubbed(JsonObject error) {
        JsonObject copy = new JsonObject();
        error.forEach(field -> copy.put(field.getKey(),
            field.getValue() instanceof String words ? scrub(words) : field.getValue()));
        return copy;
    }

    /**
     * An error the provider sent inside a stream, after its 200. Its content filter stopping the
     * answer is the request's doing, not a failure of the provider's (it must not open the circuit
     * for every other caller); anything else is.
     */
    public UpstreamException streamError(JsonObject error) {
        return errorIn("the stream", error);
    }

    /**
     * An error the provider sent as a 200's body: in place of a whole answer, or of the stream a
     * streamed request asked for. Judged as one sent inside a stream is.
     */
    public UpstreamException answerError(JsonObject error) {
        return errorIn("a 200 answer", error);
    }

    private UpstreamException errorIn(String where, JsonObject error) {
        String code = error.getValue("code") instanceof String c ? c : error.getValue("type") instanceof String t ? t : "";
        String detail = refusesKey(error) ? credentialsRefused(code)
            : error.getValue("message") instanceof String m ? scrub(m) : "no error message";
        boolean filtered = CONTENT_FILTER_CODES.contains(code);
        return new UpstreamException(provider.id(), filtered ? Kind.REJECTED : Kind.SERVER_ERROR, filtered ? 400 : 500,
            "error in " + where + (code.isEmpty() ? "" : " (" + code + ")") + ": " + detail, 0,
            new JsonObject().put("message", detail).put("type", "invalid_request_error").put("code", code));
    }

    /** Whether a warning that needs an operator is due for this provider (one a minute at most). */
    private boolean operatorWarningDue() {
        return OPERATOR_WARNINGS.computeIfAbsent(provider.id(), id -> new OncePer(60_000)).due(System.currentTimeMillis());
    }

    /** Any exception of the HTTP client, as an {@link UpstreamException}. */
    public UpstreamException classify(Throwable failure) {
        if (failure instanceof UpstreamException upstream) {
            return upstream;
        }
        String message = failure.getMessage() == null ? failure.getClass().getSimpleName() : failure.getMessage();
        boolean timeout = failure instanceof TimeoutException || message.toLowerCase().contains("timeout")
            || message.toLowerCase().contains("timed out");
        // The exception's own words name addresses and hosts behind the gateway: the operator's, at debug.
        LOG.debug("provider {}: {}", provider.id(), message);
        return UpstreamException.of(provider.id(), timeout ? Kind.TIMEOUT : Kind.CONNECTION,
            timeout ? "timed out" : "connection failed: " + connectionTrouble(failure, message));
    }

    /** What went wrong with the connection, in words that name no address. */
    private static String connectionTrouble(Throwable failure, String message) {
        if (failure instanceof UnknownHostException || message.startsWith("Failed to resolve")) {
            return "the provider's host name did not resolve";
        }
        if (failure instanceof ConnectException) {
            return "the provider's address refused or did not take the connection";
        }
        if (failure instanceof SSLException) {
            return "the TLS handshake or session failed";
        }
        if (failure instanceof ClosedChannelException || message.contains("closed")) {
            return "the connection was closed";
        }
        if (message.contains("reset")) {
            return "the connection was reset";
        }
        return failure.getClass().getSimpleName();
    }

    /**
     * A provider's own words for the log: on one line (an upstream cannot forge log lines), not too
     * long, and without its {@code api_key}.
     */
    private String forLog(String words) {
        String line = scrub(words).replaceAll("[\\r\\n\\t]+", " ");
        return line.length() <= 300 ? line : line.substring(0, 300) + "…";
    }

    /** The {@code error} object of an OpenAI- or Anthropic-shaped error body, or null. */
    static JsonObject errorObject(Buffer body) {
        try {
            JsonObject json = body.toJsonObject();
            if (json.getValue("error") instanceof JsonObject e) {
                return e;
            }
            // DashScope's own shape: {"code", "message", "request_id"} at the top.
            return json.getValue("message") instanceof String ? json : null;
        } catch (DecodeException | ClassCastException e) {
            return null;
        }
    }

    /** {@code retry-after-ms}, else {@code Retry-After} in seconds or as an HTTP date; 0 if absent. */
    static long retryAfterMs(MultiMap headers) {
        try {
            String ms = headers.get("retry-after-ms");
            if (ms != null) {
                return Math.max(0, (long) Double.parseDouble(ms.trim()));
            }
            String value = headers.get(HttpHeaders.RETRY_AFTER);
            if (value == null) {
                return 0;
            }
            value = value.trim();
            if (value.chars().allMatch(Character::isDigit)) {
                return Long.parseLong(value) * 1000;
            }
            ZonedDateTime at = ZonedDateTime.parse(value, DateTimeFormatter.RFC_1123_DATE_TIME);
            return Math.max(0, Duration.between(ZonedDateTime.now(at.getZone()), at).toMillis());
        } catch (RuntimeException e) {
            return 0;
        }
    }

    /** The provider's {@code idle_ms} for a response body that has started; see {@link IdleTimeout}. */
    public IdleTimeout idleTimeout(Runnable onIdle) {
        return new IdleTimeout(vertx, provider.timeouts().idleMs(), onIdle);
    }

    /**
     * The whole body of a 2xx response, failing with a timeout when it goes quiet for {@code idle_ms}.
     * A client that leaves while it comes cancels it (the provider may still be generating it).
     */
    public static Future<Buffer> body(HttpClientResponse response, HttpUpstream upstream, UpstreamClock clock,
                                      Abort abort) {
        return upstream.read(response, Integer.MAX_VALUE, clock::received, abort);
    }

    private UpstreamException cancelled() {
        return UpstreamException.of(provider.id(), Kind.CONNECTION, "cancelled by the client");
    }

    /**
     * A response body, failing with a timeout (and resetting the request) when it goes quiet for
     * {@code idle_ms}, or when {@code abort} (if any) is called; its first {@code maxBytes} kept, the
     * rest read and dropped.
     */
    private Future<Buffer> read(HttpClientResponse response, int maxBytes, Runnable onData, Abort abort) {
        Promise<Buffer> result = Promise.promise();
        Buffer body = Buffer.buffer();
        IdleTimeout idle = idleTimeout(() -> {
            if (result.tryFail(UpstreamException.of(provider.id(), Kind.TIMEOUT,
                "no data for " + provider.timeouts().idleMs() + " ms in the response body"))) {
                response.request().reset();
            }
        });
        if (abort != null) {
            abort.onAbort(() -> {
                if (result.tryFail(cancelled())) {
                    idle.stop();
                    response.request().reset();
                }
            });
        }
        response.handler(chunk -> {
            idle.touch();
            onData.run();
            int room = maxBytes - body.length();
            if (room >= chunk.length()) {
                body.appendBuffer(chunk);
            } else if (room > 0) {
                body.appendBuffer(chunk, 0, room);
            }
        });
        response.endHandler(v -> {
            idle.stop();
            result.tryComplete(body);
        });
        response.exceptionHandler(e -> {
            idle.stop();
            result.tryFail(classify(e));
        });
        // Resumed first: a body that came with the head ends right here, and its timeout never starts.
        response.resume();
        idle.start();
        return result.future();
    }
}
