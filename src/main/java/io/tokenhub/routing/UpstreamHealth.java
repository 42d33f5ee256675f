package io.tokenhub.routing;

import io.tokenhub.config.TokenHubConfig.CircuitBreaker;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.UpstreamException;
import io.vertx.circuitbreaker.CircuitBreakerOptions;
import io.vertx.circuitbreaker.CircuitBreakerState;
import io.vertx.circuitbreaker.OpenCircuitException;
import io.vertx.circuitbreaker.impl.CircuitBreakerImpl;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The health of one upstream deployment on this node: a circuit breaker (consecutive failures open
 * it; after {@code reset_ms} one trial call is let through, a trial stream judged when it ends), an
 * error-rate trip over a rolling window (the breaker alone forgets failures on every success, so a
 * steady 30 % error rate would never open it), and the provider's own {@code Retry-After}. The
 * Vert.x circuit breaker holds the state and its transitions (the reset timer, the handlers); calls
 * do not run through its {@code execute}, which costs an extra event-loop task, several futures and
 * its lock per call: the state is read from a volatile field, outcomes are counted here, and only a
 * failure or a success after failures takes a lock. A call the client cancelled counts for nothing.
 * Thread-safe: every event loop of the node shares it. An opening is logged (at WARN the first,
 * with the kind of the last failure; a trial's failure or a peer's opening at INFO), and so is
 * the closing that follows, so that a failing provider shows in the log and not only in the
 * metrics.
 */
public final class UpstreamHealth {

    private static final Logger LOG = LoggerFactory.getLogger(UpstreamHealth.class);

    /** Listens to state changes, to publish them and keep the gauge. */
    public interface Listener {
        void changed(UpstreamHealth health, CircuitBreakerState state);
    }

    private final String provider;
    private final String deployment;
    private final io.vertx.circuitbreaker.CircuitBreaker breaker;
    private final ErrorRateWindow window;
    private final ConsecutiveFailures failures;
    /** Streams that broke off after their start, with no stream ending well in between. */
    private final ConsecutiveFailures breakOffs;
    private final long resetMs;
    private final CircuitBreaker config;
    /** The breaker's state, as its handlers last reported it. */
    private volatile CircuitBreakerState state = CircuitBreakerState.CLOSED;
    /**
     * Half-open: the request whose call is the one trial, null until one takes it. Its identity, so
     * that a request that leaves after its trial was judged frees no later request's trial.
     */
    private final AtomicReference<Abort> trialBy = new AtomicReference<>();
    private volatile long blockedUntilMs;
    private volatile long openedAtMs;
    private volatile double latencyEwmaMs = -1;
    /** The kind of the last provider failure (no provider's words: they may quote a prompt). */
    private volatile String lastFailure = "";
    /** Whether the opening under way is another node's, not this one's failures (set under the breaker's lock). */
    private volatile boolean openedByPeer;

    UpstreamHealth(Vertx vertx, String provider, String deployment, CircuitBreaker config, Listener listener) {
        this.provider = provider;
        this.deployment = deployment;
        this.resetMs = config.resetMs();
        this.config = config;
        this.window = new ErrorRateWindow(ErrorRateWindow.DEFAULT_WINDOW_MS, ErrorRateWindow.DEFAULT_MIN_CALLS,
            config.maxFailures(), ErrorRateWindow.DEFAULT_THRESHOLD);
        this.failures = new ConsecutiveFailures(config.maxFailures(), config.windowMs());
        this.breakOffs = new ConsecutiveFailures(config.maxFailures(), config.windowMs());
        this.breaker = io.vertx.circuitbreaker.CircuitBreaker.create(provider + "/" + deployment, vertx,
                new CircuitBreakerOptions()
                    .setMaxFailures(config.maxFailures())
                    .setFailuresRollingWindow(config.windowMs())
                    .setResetTimeout(config.resetMs())
                    .setTimeout(-1)
                    .setNotificationAddress(null))
            .openHandler(v -> {
                logOpening(state);
                openedAtMs = System.currentTimeMillis();
                state = CircuitBreakerState.OPEN;
                listener.changed(this, CircuitBreakerState.OPEN);
            })
            .halfOpenHandler(v -> {
                state = CircuitBreakerState.HALF_OPEN;
                listener.changed(this, CircuitBreakerState.HALF_OPEN);
            })
            .closeHandler(v -> {
                if (state != CircuitBreakerState.CLOSED) {
                    LOG.info("upstream {} answers again: circuit closed", key());
                }
                window.clear();
                failures.clear();
                breakOffs.clear();
                state = CircuitBreakerState.CLOSED;
                listener.changed(this, CircuitBreakerState.CLOSED);
            });
    }

    public String provider() {
        return provider;
    }

    public String deployment() {
        return deployment;
    }

    /** The settings it was made with. */
    CircuitBreaker config() {
        return config;
    }

    public String key() {
        return provider + "/" + deployment;
    }

    public CircuitBreakerState state() {
        return state;
    }

    /** False while the circuit is open or the provider asked us to wait: skip without a network call. */
    public boolean admits(long nowMs) {
        return nowMs >= blockedUntilMs && state != CircuitBreakerState.OPEN;
    }

    /** Milliseconds until this upstream may be tried again (0 if it may now). */
    public long retryInMs(long nowMs) {
        long wait = Math.max(0, blockedUntilMs - nowMs);
        if (state == CircuitBreakerState.OPEN) {
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
     * faults (a 4xx other than 429) count as an answer; a call the client cancelled (through
     * {@code abort}) counts for nothing. Fails with {@link OpenCircuitException} when the circuit
     * refuses the call: open, or half-open with its trial call already taken.
     *
     * @param ended for a stream, its end once it has started (failed if it breaks off or is
     *              cancelled), see {@link #streamStarted}; null when the call's result is its outcome
     */
    public <T> Future<T> guard(Abort abort, Supplier<Future<T>> call, Function<T, Future<?>> ended) {
        CircuitBreakerState now = state;
        if (now == CircuitBreakerState.OPEN) {
            return Future.failedFuture(OpenCircuitException.INSTANCE);
        }
        boolean trial = now == CircuitBreakerState.HALF_OPEN;
        if (trial) {
            if (!trialBy.compareAndSet(null, abort)) {
                return Future.failedFuture(OpenCircuitException.INSTANCE);
            }
            // A trial the client cancels is freed for the next call to be the trial: the client's
            // leaving says nothing of the upstream either way, and a cancelled call may never be
            // judged (a cancelled stream never ends), which would leave the circuit half-open with
            // its one trial taken, refusing every call for ever.
            abort.onAbort(() -> trialBy.compareAndSet(abort, null));
        }
        long started = System.nanoTime();
        Future<T> result;
        try {
            result = call.get();
        } catch (RuntimeException thrown) {
            // A call that throws instead of failing is judged as one that failed: a trial left taken
            // and never judged would keep the circuit half-open, refusing every call, for good.
            result = Future.failedFuture(thrown);
        }
        result.onComplete(ar -> {
            if (abort.aborted()) {
                return;
            }
            if (ar.failed() && ar.cause() instanceof UpstreamException u && u.kind() == UpstreamException.Kind.UNSUPPORTED) {
                // Refused before any call was made: it says nothing of the upstream, and a trial is
                // left for the next call to make.
                if (trial) {
                    trialBy.compareAndSet(abort, null);
                }
                return;
            }
            if (ar.succeeded()) {
                latency(System.nanoTime() - started);
            }
            if (ar.failed() || ended == null) {
                judge(trial, ar.cause());
            } else {
                streamStarted(abort, trial, ended.apply(ar.result()));
            }
        });
        return result;
    }

    /**
     * A stream that started. A trial stream is judged by its end, not its start: judged at its
     * start, one that then broke off would close the circuit and let another {@code max_failures}
     * failing calls through; until it ends it is the one trial call, and no other goes through.
     * Outside a trial the start ends the ordinary run of failures (long streams would otherwise let
     * any {@code max_failures} failures in a window open it), and a stream that breaks off still
     * counts as a failure: {@code max_failures} of them in a row open the circuit however many
     * started well in between (only a clean end ends that run).
     */
    private void streamStarted(Abort abort, boolean trial, Future<?> end) {
        if (!trial) {
            answered(false);
        }
        end.onComplete(ar -> {
            if (abort.aborted()) {
                return;
            }
            if (trial) {
                judge(true, ar.cause());
            } else if (ar.succeeded()) {
                breakOffs.clear();
            } else if (providerFault(ar.cause())) {
                lastFailure = "streams broke off: " + kindOf(ar.cause());
                failed(false, breakOffs.add(System.currentTimeMillis()));
            }
        });
    }

    /**
     * Another node saw this upstream fail (or, to a node that joins, holds its circuit open): open
     * here too, without another round of failures. This node's trial comes after {@code reset_ms},
     * unless a peer's trial closes the circuit first ({@link #closedByPeer}).
     */
    public void openFromPeer() {
        if (state == CircuitBreakerState.CLOSED) {
            open(true);
        }
    }

    /**
     * Another node's trial closed its circuit: one this node opened only because a peer did closes
     * too, without a trial of its own (the upstream answers again). One its own calls opened waits
     * for its own trial.
     */
    public void closedByPeer() {
        synchronized (breaker) {
            if (openedByPeer && state != CircuitBreakerState.CLOSED) {
                // The breaker refuses to close an open circuit unless forced.
                ((CircuitBreakerImpl) breaker).reset(true);
                trialBy.set(null);
            }
        }
    }

    /**
     * Opens the circuit unless another event loop just did: the check and the opening hold the
     * breaker's own lock, under which its {@code open} runs the open handler (opened twice, the
     * breaker would tell and log it twice and set a second reset timer).
     */
    private void open(boolean byPeer) {
        synchronized (breaker) {
            if (state != CircuitBreakerState.OPEN) {
                openedByPeer = byPeer;
                breaker.open();
            }
        }
    }

    private void logOpening(CircuitBreakerState before) {
        if (openedByPeer) {
            LOG.info("upstream {}: circuit open, as another node saw it fail; tried again in {} ms", key(), resetMs);
        } else if (before == CircuitBreakerState.HALF_OPEN) {
            LOG.info("upstream {} still failing ({}): circuit open again, tried again in {} ms", key(), lastFailure,
                resetMs);
        } else {
            LOG.warn("upstream {} failing ({}): circuit open, calls skip it and go to the next candidate; tried "
                + "again in {} ms", key(), lastFailure, resetMs);
        }
    }

    /** What kind of failure it was, in words that quote nothing the provider said. */
    private static String kindOf(Throwable failure) {
        if (failure instanceof UpstreamException u) {
            return switch (u.kind()) {
                case CONNECTION -> "connection failed";
                case TIMEOUT -> "timed out";
                case SERVER_ERROR, RATE_LIMITED -> u.status() > 0 ? "HTTP " + u.status() : "provider error";
                default -> u.kind().name().toLowerCase(Locale.ROOT);
            };
        }
        return failure.getClass().getSimpleName();
    }

    public double errorRate() {
        return window.errorRate();
    }

    public double latencyMs() {
        return latencyEwmaMs;
    }

    /** @param failure why the call failed; null if it succeeded */
    private void judge(boolean trial, Throwable failure) {
        if (providerFault(failure)) {
            lastFailure = kindOf(failure);
            failed(trial);
        } else {
            answered(trial);
        }
    }

    /** Whether a call failed by the provider's fault (null: it did not fail). */
    private static boolean providerFault(Throwable failure) {
        return failure != null && !(failure instanceof UpstreamException u && !u.isProviderFault());
    }

    /** The upstream answered (well, or refusing the caller's request): a trial closes the circuit. */
    private void answered(boolean trial) {
        window.record(true);
        if (trial) {
            breaker.reset();
            trialBy.set(null);
        } else {
            failures.clear();
        }
    }

    private void failed(boolean trial) {
        failed(trial, false);
    }

    /** @param tripped whether another rule (streams breaking off) already calls for opening */
    private void failed(boolean trial, boolean tripped) {
        boolean rateTripped = window.record(false);
        if (trial) {
            open(false);
            trialBy.set(null);
        } else if ((failures.add(System.currentTimeMillis()) || tripped || rateTripped)
            && state == CircuitBreakerState.CLOSED) {
            open(false);
        }
    }

    private void latency(long nanos) {
        double ms = nanos / 1_000_000.0;
        double previous = latencyEwmaMs;
        latencyEwmaMs = previous < 0 ? ms : previous * 0.9 + ms * 0.1;
    }
}
