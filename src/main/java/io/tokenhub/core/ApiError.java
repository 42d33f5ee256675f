package io.tokenhub.core;

/**
 * The closed set of errors TokenHub answers with. Each knows its HTTP status and its OpenAI
 * {@code type} and {@code code}; {@link ApiException} carries one through a Future chain and the
 * API edge renders it as {@code {"error": {...}}} in exactly one place.
 */
public sealed interface ApiError {

    int status();

    String type();

    String code();

    String message();

    /** The request field at fault, or null. */
    default String param() {
        return null;
    }

    /** The provider whose failure this reports, or null. */
    default String provider() {
        return null;
    }

    /** Seconds the caller should wait before retrying, or 0 for no {@code Retry-After}. */
    default long retryAfterSeconds() {
        return 0;
    }

    /** False for refusals an SDK must not retry (sent as {@code x-should-retry: false}). */
    default boolean retryable() {
        return status() == 429 || status() >= 500;
    }

    default ApiException toException() {
        return new ApiException(this);
    }

    record InvalidRequest(String message, String param) implements ApiError {
        public int status() { return 400; }
        public String type() { return "invalid_request_error"; }
        public String code() { return "invalid_request_error"; }
    }

    record ContextLengthExceeded(String message, String param) implements ApiError {
        public int status() { return 400; }
        public String type() { return "invalid_request_error"; }
        public String code() { return "context_length_exceeded"; }
    }

    record UnsupportedParameter(String message, String param) implements ApiError {
        public int status() { return 400; }
        public String type() { return "invalid_request_error"; }
        public String code() { return "unsupported_parameter"; }
    }

    record InvalidApiKey(String message) implements ApiError {
        public int status() { return 401; }
        public String type() { return "invalid_request_error"; }
        public String code() { return "invalid_api_key"; }
    }

    /** @param param the field naming the model: {@code model}, or {@code fallback_models} */
    record ModelNotAllowed(String model, String param) implements ApiError {
        public ModelNotAllowed(String model) {
            this(model, "model");
        }
        public int status() { return 403; }
        public String type() { return "permission_error"; }
        public String code() { return "model_not_allowed"; }
        public String message() { return "This API key may not use the model '" + model + "'."; }
    }

    /** @param param the field naming the model: {@code model}, or {@code fallback_models} */
    record ModelNotFound(String model, String param) implements ApiError {
        public ModelNotFound(String model) {
            this(model, "model");
        }
        public int status() { return 404; }
        public String type() { return "invalid_request_error"; }
        public String code() { return "model_not_found"; }
        public String message() { return "The model '" + model + "' does not exist or is not served here."; }
    }

    /** A missing route or admin entity. */
    record NotFound(String message) implements ApiError {
        public int status() { return 404; }
        public String type() { return "invalid_request_error"; }
        public String code() { return "not_found"; }
    }

    record MethodNotAllowed(String method) implements ApiError {
        public int status() { return 405; }
        public String type() { return "invalid_request_error"; }
        public String code() { return "method_not_allowed"; }
        public String message() { return "Method " + method + " is not allowed on this path."; }
    }

    record Conflict(String message, String param) implements ApiError {
        public int status() { return 409; }
        public String type() { return "invalid_request_error"; }
        public String code() { return "conflict"; }
    }

    record RequestTooLarge(long limitBytes) implements ApiError {
        public int status() { return 413; }
        public String type() { return "invalid_request_error"; }
        public String code() { return "request_too_large"; }
        public String message() { return "Request body is larger than the limit of " + limitBytes + " bytes."; }
    }

    /** A compressed request body: the gateway reads bodies as they are sent, uncompressed. */
    record UnsupportedContentEncoding(String encoding) implements ApiError {
        public int status() { return 415; }
        public String type() { return "invalid_request_error"; }
        public String code() { return "unsupported_content_encoding"; }
        public String message() {
            return "Content-Encoding '" + encoding + "' is not supported: send the request body uncompressed.";
        }
    }

    /** An {@code Expect} header other than {@code 100-continue}, the only expectation HTTP defines. */
    record ExpectationFailed() implements ApiError {
        public int status() { return 417; }
        public String type() { return "invalid_request_error"; }
        public String code() { return "expectation_failed"; }
        public String message() { return "Only 'Expect: 100-continue' is supported."; }
    }

    /** @param retryAfterSeconds when to retry; 0 for a request no window admits (larger than the limit) */
    /** @param retryable false for a request no window will admit: told when the window resets, not to retry */
    record RateLimited(String message, String scope, long retryAfterSeconds, boolean retryable) implements ApiError {
        public RateLimited(String message, String scope, long retryAfterSeconds) {
            this(message, scope, retryAfterSeconds, retryAfterSeconds > 0);
        }

        public int status() { return 429; }
        public String type() { return "rate_limit_error"; }
        public String code() { return "rate_limit_exceeded"; }
    }

    record InsufficientQuota(String message) implements ApiError {
        public int status() { return 429; }
        public String type() { return "insufficient_quota"; }
        public String code() { return "insufficient_quota"; }
        public boolean retryable() { return false; }
    }

    record MonthlyCapExceeded(String message) implements ApiError {
        public int status() { return 429; }
        public String type() { return "insufficient_quota"; }
        public String code() { return "monthly_cap_exceeded"; }
        public boolean retryable() { return false; }
    }

    /** @param retryAfterSeconds when the last provider asked to be left alone that long (its 429), else 0 */
    record ProviderFailed(String provider, String message, long retryAfterSeconds) implements ApiError {
        public ProviderFailed(String provider, String message) {
            this(provider, message, 0);
        }

        public int status() { return 502; }
        public String type() { return "api_error"; }
        public String code() { return "provider_error"; }
    }

    /** The upstream refused the request as the caller's fault (a 4xx other than 429): passed on as is. */
    record UpstreamRejected(int status, String type, String code, String message, String param, String provider)
        implements ApiError {
        public boolean retryable() { return false; }
    }

    record NoHealthyUpstream(String message, long retryAfterSeconds) implements ApiError {
        public int status() { return 503; }
        public String type() { return "api_error"; }
        public String code() { return "no_healthy_upstream"; }
    }

    record UpstreamTimeout(String provider, String message) implements ApiError {
        public int status() { return 504; }
        public String type() { return "api_error"; }
        public String code() { return "upstream_timeout"; }
    }

    /** A stream this node cut when it stopped, its grace period over. */
    record ServerShutdown() implements ApiError {
        public int status() { return 503; }
        public String type() { return "api_error"; }
        public String code() { return "server_shutdown"; }
        public String message() { return "The server is shutting down and could not finish this request in time; "
            + "retry it."; }
        public long retryAfterSeconds() { return 1; }
    }

    record Unavailable(String message) implements ApiError {
        public int status() { return 503; }
        public String type() { return "api_error"; }
        public String code() { return "service_unavailable"; }
        public long retryAfterSeconds() { return 1; }
    }

    /** A report (usage sums, logs) stopped at its time limit: the same one would be stopped again. */
    record ReportTimeout(long limitMs) implements ApiError {
        public int status() { return 503; }
        public String type() { return "api_error"; }
        public String code() { return "report_timeout"; }
        public String message() { return "This report ran longer than its limit of " + limitMs + " ms and was "
            + "stopped: ask for a shorter range (from, to) or narrow it to an account, a key or a model."; }
        public boolean retryable() { return false; }
    }

    /** A bug or an unexpected fault of ours; the message never carries internals. */
    record Internal(String message) implements ApiError {
        public int status() { return 500; }
        public String type() { return "api_error"; }
        public String code() { return "internal_error"; }
    }

    static InvalidRequest invalid(String message, String param) {
        return new InvalidRequest(message, param);
    }
}
