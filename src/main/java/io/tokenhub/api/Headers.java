package io.tokenhub.api;

import io.vertx.core.http.HttpHeaders;

/** Response headers TokenHub sets, pre-encoded once. */
final class Headers {

    static final CharSequence REQUEST_ID = HttpHeaders.createOptimized("X-Request-Id");
    static final CharSequence PROVIDER = HttpHeaders.createOptimized("X-TokenHub-Provider");
    /** {@code X-TokenHub-Provider} of a response no provider served (a refusal, the model list…). */
    static final CharSequence NO_PROVIDER = HttpHeaders.createOptimized("none");
    static final CharSequence JSON = HttpHeaders.createOptimized("application/json");
    static final CharSequence EVENT_STREAM = HttpHeaders.createOptimized("text/event-stream; charset=utf-8");
    static final CharSequence NO_CACHE = HttpHeaders.createOptimized("no-cache");

    private Headers() {
    }
}
