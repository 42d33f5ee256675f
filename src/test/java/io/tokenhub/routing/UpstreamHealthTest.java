package io.tokenhub.routing;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.tokenhub.config.TokenHubConfig.CircuitBreaker;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.UpstreamException;
import io.tokenhub.provider.UpstreamException.Kind;
import io.tokenhub.testing.TestGateway;
import io.vertx.circuitbreaker.CircuitBreakerState;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * A candidate refused before any call (what its provider cannot offer) says nothing of the upstream;
 * the circuit's changes are logged.
 */
class UpstreamHealthTest {

    private final Vertx vertx = Vertx.vertx();

    @AfterEach
    void close() {
        vertx.close();
    }

    @Test
    void aRefusalBeforeAnyCallNeitherClosesAHalfOpenCircuitNorTakesItsTrial() throws Exception {
        // Given a circuit opened by one provider failure, and half-open once its reset time is over
        UpstreamHealth health = new UpstreamHealth(vertx, "p", "d", new CircuitBreaker(1, 10_000, 100), (h, s) -> { });
        call(health, Future.failedFuture(UpstreamException.of("p", Kind.SERVER_ERROR, "boom")));
        assertThat(health.state()).isEqualTo(CircuitBreakerState.OPEN);
        TestGateway.eventually(() -> health.state() == CircuitBreakerState.HALF_OPEN, 10_000, "half-open");

        // When the trial is refused before any call is made (the provider cannot offer what the request uses)
        call(health, Future.failedFuture(new UpstreamException("p", Kind.UNSUPPORTED, 400, "not here", 0, null)));

        // Then the circuit stays half-open, and the next call is the trial that judges it
        assertThat(health.state()).isEqualTo(CircuitBreakerState.HALF_OPEN);
        call(health, Future.succeededFuture("answered"));
        assertThat(health.state()).isEqualTo(CircuitBreakerState.CLOSED);
    }

    @Test
    void aTrialCallThatThrowsIsJudgedAsAFailureNotLeftTaken() throws Exception {
        // Given a half-open circuit
        UpstreamHealth health = new UpstreamHealth(vertx, "p", "d", new CircuitBreaker(1, 10_000, 100), (h, s) -> { });
        call(health, Future.failedFuture(UpstreamException.of("p", Kind.SERVER_ERROR, "boom")));
        TestGateway.eventually(() -> health.state() == CircuitBreakerState.HALF_OPEN, 10_000, "half-open");

        // When its trial call throws instead of failing
        CompletableFuture<Throwable> thrown = new CompletableFuture<>();
        vertx.runOnContext(v -> health.<String>guard(new Abort(), () -> {
            throw new IllegalStateException("an adapter's bug");
        }, null).onComplete(ar -> thrown.complete(ar.cause())));

        // Then the caller gets the failure, the circuit opens again, and half-open once more lets a trial close it
        assertThat(thrown.get(10, TimeUnit.SECONDS)).hasMessage("an adapter's bug");
        TestGateway.eventually(() -> health.state() == CircuitBreakerState.HALF_OPEN, 10_000, "half-open again");
        call(health, Future.succeededFuture("answered"));
        assertThat(health.state()).isEqualTo(CircuitBreakerState.CLOSED);
    }

    @Test
    void openingsAndTheClosingAreLoggedWithTheKindOfFailureAndNoProviderWords() throws Exception {
        ListAppender<ILoggingEvent> log = new ListAppender<>();
        Logger logger = (Logger) LoggerFactory.getLogger(UpstreamHealth.class);
        Level level = logger.getLevel();
        logger.setLevel(Level.INFO);
        log.start();
        logger.addAppender(log);
        try {
            // Given an upstream whose provider fails, then fails its trial, then answers it
            UpstreamHealth health = new UpstreamHealth(vertx, "p", "d", new CircuitBreaker(1, 10_000, 100), (h, s) -> { });
            call(health, Future.failedFuture(new UpstreamException("p", Kind.SERVER_ERROR, 503,
                "HTTP 503: overloaded, your prompt was: secret", 0, null)));
            TestGateway.eventually(() -> health.state() == CircuitBreakerState.HALF_OPEN, 10_000, "half-open");
            call(health, Future.failedFuture(UpstreamException.of("p", Kind.CONNECTION, "connection failed: reset")));
            TestGateway.eventually(() -> health.state() == CircuitBreakerState.HALF_OPEN, 10_000, "half-open again");
            call(health, Future.succeededFuture("answered"));
            // and another upstream opened because another node saw it fail
            UpstreamHealth peers = new UpstreamHealth(vertx, "q", "e", new CircuitBreaker(1, 10_000, 100), (h, s) -> { });
            peers.openFromPeer();

            // Then each change is a line: the first opening a warning, with the kind of the failure only
            assertThat(log.list).extracting(e -> e.getLevel() + " " + e.getFormattedMessage()).containsExactly(
                "WARN upstream p/d failing (HTTP 503): circuit open, calls skip it and go to the next candidate; "
                    + "tried again in 100 ms",
                "INFO upstream p/d still failing (connection failed): circuit open again, tried again in 100 ms",
                "INFO upstream p/d answers again: circuit closed",
                "INFO upstream q/e: circuit open, as another node saw it fail; tried again in 100 ms");
        } finally {
            logger.detachAppender(log);
            logger.setLevel(level);
        }
    }

    private void call(UpstreamHealth health, Future<String> outcome) throws Exception {
        CompletableFuture<Void> done = new CompletableFuture<>();
        vertx.runOnContext(v -> health.guard(new Abort(), () -> outcome, null).onComplete(ar -> done.complete(null)));
        done.get(10, TimeUnit.SECONDS);
    }
}
