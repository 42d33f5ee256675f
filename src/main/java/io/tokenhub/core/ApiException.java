package io.tokenhub.core;

/**
 * Carries an {@link ApiError} through a failed Future. Expected control flow, so it records no
 * stack trace.
 */
public final class ApiException extends RuntimeException {

    private final transient ApiError error;

    public ApiException(ApiError error) {
        super(error.message(), null, false, false);
        this.error = error;
    }

    public ApiError error() {
        return error;
    }
}
