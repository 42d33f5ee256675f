package io.tokenhub.api;

import io.tokenhub.auth.Authenticator;
import io.tokenhub.billing.PriceCalculator;
import io.tokenhub.billing.Reservation;
import io.tokenhub.core.TokenCounter;
import io.tokenhub.core.Usage;
import io.tokenhub.telemetry.Metrics;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.Completion;
import io.tokenhub.provider.GeneratedText;
import io.tokenhub.routing.CatalogHolder;
import io.tokenhub.routing.Dispatcher;
import io.tokenhub.routing.Route;
import io.tokenhub.routing.Served;
import io.tokenhub.routing.StreamStart;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

/**
 * {@code POST /v1/chat/completions}: authenticate → validate → dispatch → answer (whole or
 * streamed) → record. One flat chain; failures become HTTP only in {@link ErrorWriter}.
 */
final class ChatHandler implements Handler<RoutingContext> {

    private final Authenticator auth;
    private final CatalogHolder catalog;
    private final Dispatcher dispatcher;
    private final Outcome outcome;
    private final Metrics metrics;
    private final ChatRequestParser.PromptCounter counter;

    ChatHandler(Authenticator auth, CatalogHolder catalog, Dispatcher dispatcher, Outcome outcome, Metrics metrics,
                ChatRequestParser.PromptCounter counter) {
        this.counter = counter;
        this.auth = auth;
        this.catalog = catalog;
        this.dispatcher = dispatcher;
        this.outcome = outcome;
        this.metrics = metrics;
    }

    @Override
    public void handle(RoutingContext ctx) {
        Exchange ex = new Exchange(ctx);
        ctx.response().closeHandler(v -> ex.abort.abort());
        Keys.of(ctx, auth)
            .compose(key -> {
                ex.key = key;
                return ChatRequestParser.parse(Bodies.jsonObject(ctx), catalog.get(), key, counter,
                    model -> ex.model = model);
            })
            .compose(request -> {
                ex.request = request;
                return outcome.admit(ex);
            })
            .compose(admission -> {
                ModelRequest r = ex.request;
                long estimate = PriceCalculator.reservationCost(r.target().model().pricing(), r.prompt().reserved(),
                    r.outputBound());
                return outcome.reserveThen(ex, estimate, reserved -> dispatch(ex, reserved));
            })
            .onFailure(failure -> outcome.error(ex, failure));
    }

    /**
     * Calls the request's candidates. {@code reserved} is its reservation, made or on its way (see
     * {@link Outcome#reserveThen}): nothing is answered, relayed or recorded before it is made.
     */
    private Future<Void> dispatch(Exchange ex, Future<Reservation> reserved) {
        ModelRequest request = ex.request;
        var attempts = Route.plan(catalog.get(), request.target(), request.fallbackModels(), ex.key::allows);
        // A fallback's reservation replaces the request's own, so it waits for it.
        var call = new Dispatcher.Call(ex.requestId, request.body(), ex.ctx.body().buffer(), request.maxTokens(),
            ex.upstreamClock, ex, model -> reserved.compose(r -> request.fit().check(model)).compose(fits ->
                outcome.fallBack(ex, model, PriceCalculator.reservationCost(model.pricing(),
                    request.prompt().reserved(), request.outputBound()))));
        Abort upstream = Outcome.callAbort(ex, reserved);
        if (request.stream()) {
            Future<Served<StreamStart>> starting = dispatcher.stream(attempts, call, upstream);
            // A client that leaves before the first output is relayed cancels the upstream stream, and a
            // cancelled stream neither starts nor fails: the request's one record (once reserved; a
            // request refused has none) is a client's that left, written by whichever of these runs
            // first. The cancellation may also fail the start; that failure is then the client's leaving,
            // and recorded before it reaches the handler's error path, which would record it again.
            boolean[] gone = {false};
            ex.abort.onAbort(() -> {
                if (!starting.isComplete() || !reserved.isComplete()) {
                    gone[0] = true;
                    reserved.onSuccess(reservation -> recordFailureOnce(ex, null));
                }
            });
            return Outcome.afterReservation(reserved, starting)
                .onSuccess(served -> {
                    if (gone[0]) {
                        served.result().stream().cancel();
                    } else {
                        new SseRelay(ex, served, outcome, metrics).start();
                    }
                })
                .onFailure(failure -> {
                    if (!reserved.failed()) {
                        recordFailureOnce(ex, gone[0] ? null : failure);
                    }
                })
                .mapEmpty();
        }
        return outcome.waitingOn(ex, Outcome.afterReservation(reserved, dispatcher.complete(attempts, call, upstream)))
            .onSuccess(served -> answer(ex, served))
            .onFailure(failure -> {
                if (!reserved.failed()) {
                    recordFailure(ex, failure);
                }
            })
            .mapEmpty();
    }

    private void answer(Exchange ex, Served<Completion> served) {
        Completion completion = served.result();
        Usage usage = completion.usage() != null ? completion.usage() : estimate(ex, completion.body());
        long cost = Outcome.cost(served.attempt(), usage);
        int status = ex.abort.aborted() ? outcome.goneStatus() : 200;
        if (status == 200) {
            ex.ctx.response()
                .putHeader("Content-Type", Headers.JSON)
                .putHeader(Headers.PROVIDER, served.attempt().provider())
                .end(completion.encode(completion.usage() != null ? null : usage.toOpenAi(),
                    PriceCalculator.toUsd(cost)));
        }
        outcome.answered(ex);
        outcome.record(ex, served.attempt(), served.fallback(), usage, cost, status,
            status == 200 ? null : outcome.goneCode(), -1);
    }

    /**
     * Every candidate failed (or the client left first): the request still gets its one record.
     *
     * @param failure why, or null when the client left
     */
    private void recordFailureOnce(Exchange ex, Throwable failure) {
        if (!ex.recorded) {
            recordFailure(ex, failure);
        }
    }

    private void recordFailure(Exchange ex, Throwable failure) {
        boolean clientGone = ex.abort.aborted() || failure == null;
        outcome.failed(ex, failure, new Usage(clientGone ? ex.request.prompt().countedOrEstimate() : 0, 0, 0, 0,
            clientGone));
    }

    private static Usage estimate(Exchange ex, JsonObject body) {
        StringBuilder text = new StringBuilder();
        GeneratedText.append(text, body.getValue("choices"), "message");
        return new Usage(ex.request.prompt().countedOrEstimate(), 0,
            TokenCounter.countIfUnder(text.toString(), ChatRequestParser.OFF_LOOP_BYTES), 0, true);
    }
}
