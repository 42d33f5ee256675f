package io.tokenhub.api;

import io.tokenhub.core.ApiError;
import io.tokenhub.core.ApiException;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The one place where failures become HTTP: the OpenAI error shape, plus {@code provider}. */
public final class ErrorWriter {

    private static final Logger LOG = LoggerFactory.getLogger(ErrorWriter.class);

    private ErrorWriter() {
    }

    /** Any failure as an {@link ApiError}; what we did not expect is logged and hidden. */
    public static ApiError toApiError(Throwable failure) {
        if (failure instanceof ApiException api) {
            return api.error();
        }
        LOG.error("unexpected failure on the request path", failure);
        return new ApiError.Internal("The server had an error while processing your request.");
    }

    public static JsonObject body(ApiError error) {
        JsonObject detail = new JsonObject()
            .put("message", error.message())
            .put("type", error.type())
            .put("param", error.param())
            .put("code", error.code());
        if (error.provider() != null) {
            detail.put("provider", error.provider());
        }
        return new JsonObject().put("error", detail);
    }

    public static void write(HttpServerResponse response, Throwable failure) {
        write(response, toApiError(failure));
    }

    public static void write(HttpServerResponse response, ApiError error) {
        if (response.ended() || response.closed()) {
            return;
        }
        if (response.headWritten()) {
            // Too late for a status: the stream writer reports errors in-band.
            response.end();
            return;
        }
        response.setStatusCode(error.status()).putHeader("Content-Type", "application/json");
        if (error.retryAfterSeconds() > 0) {
            response.putHeader("Retry-After", Long.toString(error.retryAfterSeconds()));
        }
        if (!error.retryable()) {
            response.putHeader("x-should-retry", "false");
        }
        if (error.provider() != null) {
            response.putHeader(Headers.PROVIDER, error.provider());
        }
        response.end(body(error).toBuffer());
    }
}
