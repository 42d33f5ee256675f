package io.tokenhub.routing;

import io.tokenhub.config.TokenHubConfig.CircuitBreaker;
import io.tokenhub.provider.UpstreamException;
import io.vertx.circuitbreaker.CircuitBreakerOptions;
import io.vertx.circuitbreaker.CircuitBreakerState;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.function.Supplier;

/**
 * The health of one upstream deployment on this node: a Vert.x circuit breaker (consecutive
 * failures open it; after {@code reset_ms} one trial call is let through), an error-rate trip over
 * a rolling window (the Vert.x breaker alone forgets failures on every success, so a steady 30 %
 * error rate would never open it), and the provider's own {@code Retry-After}. Thread-safe: every
 * event loop of the node shares it.
 */
public final class UpstreamHealth {

    /** Listens to state changes, to publish them and keep the gauge. */
    public interface Listener {
        void changed(UpstreamHealth health, CircuitBreakerState state);
    }

    private static final class CallerFault {
        final UpstreamException error;

        CallerFault(UpstreamException error) {
            this.error = error;
        }
    }

    private final String provider;
    private final String deployment;
    private final io.vertx.circuitbreaker.CircuitBreaker breaker;
    private final ErrorRateWindow window;
    private final long resetMs;
    private volatile long blockedUntilMs;
    private volatile long openedAtMs;
    private volatile double latencyEwmaMs = -1;

    UpstreamHealth(Vertx vertx, String provider, String deployment, CircuitBreaker config, Listener listener) {
        this.provider = provider;
        this.deployment = deployment;
        this.resetMs = config.resetMs();
        this.window = new ErrorRateWindow(ErrorRateWindow.DEFAULT_WINDOW_MS, ErrorRateWindow.DEFAULT_MIN_CALLS,
            ErrorRateWindow.DEFAULT_THRESHOLD);
        this.breaker = io.vertx.circuitbreaker.CircuitBreaker.create(provider + "/" + deployment, vertx,
                new CircuitBreakerOptions()
                    .setMaxFailures(config.maxFailures())
                    .setFailuresRollingWindow(config.windowMs())
                    .setResetTimeout(config.resetMs())
                    .setTimeout(-1)
                    .setNotificationAddress(null))
            .openHandler(v -> {
                openedAtMs = System.currentTimeMillis();
                listener.changed(this, CircuitBreakerState.OPEN);
            })
            .halfOpenHandler(v -> listener.changed(this, CircuitBreakerState.HALF_OPEN))
            .closeHandler(v -> {
                window.clear();
                listener.changed(this, CircuitBreakerState.CLOSED);
            });
    }

    public String provider() {
        return provider;
    }

    public String deployment() {
        return deployment;
    }

    public String key() {
        return provider + "/" + deployment;
    }

    public CircuitBreakerState state() {
        return breaker.state();
    }

    /** False while the circuit is open or the provider asked us to wait: skip without a network call. */
    public boolean admits(long nowMs) {
        return nowMs >= blockedUntilMs && breaker.state() != CircuitBreakerState.OPEN;
    }

    /** Milliseconds until this upstream may be tried again (0 if it may now). */
    public long retryInMs(long nowMs) {
        long wait = Math.max(0, blockedUntilMs - nowMs);
        if (breaker.state() == CircuitBreakerState.OPEN) {
            wait = Math.max(wait, openedAtMs + resetMs - nowMs);
        }
        return Math.max(0, wait);
    }

    /** Honours an upstream 429's {@code Retry-After} for this deployment only. */
    public void blockFor(long ms) {
        if (ms > 0) {
            blockedUntilMs = Math.max(blockedUntilMs, System.currentTimeMillis() + ms);
        }
    }

    /**
     * Runs one upstream call through the breaker. Provider faults count against it; the caller's
     * faults (a 4xx other than 429) pass through without counting. Fails with
     * {@link io.vertx.circuitbreaker.OpenCircuitException} when the circuit refuses the call.
     */
    public <T> Future<T> guard(Supplier<Future<T>> call) {
        long started = System.nanoTime();
        return breaker.<Object>execute(promise -> call.get().onComplete(ar -> {
            if (ar.succeeded()) {
                promise.complete(ar.result());
            } else if (ar.cause() instanceof UpstreamException u && !u.isProviderFault()) {
                promise.complete(new CallerFault(u));
            } else {
                promise.fail(ar.cause());
            }
        })).transform(ar -> {
            if (ar.failed()) {
                if (!(ar.cause() instanceof io.vertx.circuitbreaker.OpenCircuitException)) {
                    recordOutcome(false);
                }
                return Future.failedFuture(ar.cause());
            }
            if (ar.result() instanceof CallerFault fault) {
                return Future.failedFuture(fault.error);
            }
            recordOutcome(true);
            latency(System.nanoTime() - started);
            @SuppressWarnings("unchecked")
            T result = (T) ar.result();
            return Future.succeededFuture(result);
        });
    }

    /** A stream that started well and then failed still counts as a failure of this upstream. */
    public void reportFailure(Throwable cause) {
        breaker.execute(promise -> promise.fail(cause));
        recordOutcome(false);
    }

    /** Another node saw this upstream fail: open here too, without another round of failures. */
    public void openFromPeer() {
        if (breaker.state() == CircuitBreakerState.CLOSED) {
            breaker.open();
        }
    }

    public double errorRate() {
        return window.errorRate();
    }

    public double latencyMs() {
        return latencyEwmaMs;
    }

    private void recordOutcome(boolean success) {
        if (window.record(success) && breaker.state() == CircuitBreakerState.CLOSED) {
            breaker.open();
        }
    }

    private void latency(long nanos) {
        double ms = nanos / 1_000_000.0;
        double previous = latencyEwmaMs;
        latencyEwmaMs = previous < 0 ? ms : previous * 0.9 + ms * 0.1;
    }
}
