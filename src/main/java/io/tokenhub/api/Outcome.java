package io.tokenhub.api;

import io.tokenhub.accounting.UsageEvent;
import io.tokenhub.accounting.UsageRecorder;
import io.tokenhub.billing.PriceCalculator;
import io.tokenhub.config.TokenHubConfig.Model;
import io.tokenhub.core.Usage;
import io.tokenhub.telemetry.Metrics;
import io.tokenhub.routing.Attempt;
import java.time.Instant;

/**
 * Closes the books on one request that reached an upstream: prices it, emits its one usage event
 * and updates the request meters. Both response paths (whole and streamed) end here.
 */
final class Outcome {

    private final UsageRecorder recorder;
    private final Metrics metrics;

    Outcome(UsageRecorder recorder, Metrics metrics) {
        this.recorder = recorder;
        this.metrics = metrics;
    }

    /** What an upstream answer costs at the price of the model that served it. */
    static long cost(Attempt served, Usage usage) {
        return served == null ? 0 : PriceCalculator.chatCost(served.model().pricing(), usage);
    }

    /**
     * @param served    the candidate that answered, or null when none did
     * @param ttftNanos time to first token for streams, -1 otherwise
     */
    void record(Exchange ex, Attempt served, boolean fallback, Usage usage, long costMicroUsd, int status,
                String errorCode, long ttftNanos) {
        ModelRequest request = ex.request;
        Model requested = request.target().model();
        String provider = served == null ? null : served.provider();
        recorder.record(new UsageEvent(ex.requestId, Instant.now(), ex.key.accountId(), ex.key.keyId(),
            requested.id(), served == null ? null : served.model().id(), provider,
            served == null ? null : served.deployment().model(), usage, costMicroUsd,
            served == null ? null : served.model().pricing().version(), ex.elapsedMs(),
            ttftNanos < 0 ? -1 : ttftNanos / 1_000_000, status, errorCode, request.stream(), fallback));
        String modelLabel = served == null ? requested.id() : served.model().id();
        metrics.request(modelLabel, provider == null ? "none" : provider, status, System.nanoTime() - ex.startNanos);
        if (served != null) {
            metrics.tokens(modelLabel, provider, usage);
            metrics.cost(modelLabel, costMicroUsd);
        }
    }
}
