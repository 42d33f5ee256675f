package io.tokenhub.api;

import io.tokenhub.auth.Authenticator;
import io.tokenhub.billing.PriceCalculator;
import io.tokenhub.billing.Reservation;
import io.tokenhub.config.TokenHubConfig.Model;
import io.tokenhub.core.ApiError.ContextLengthExceeded;
import io.tokenhub.core.ApiError.ModelNotAllowed;
import io.tokenhub.core.ApiError.ModelNotFound;
import io.tokenhub.core.ApiException;
import io.tokenhub.core.TokenCounter;
import io.tokenhub.core.Usage;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.Completion;
import io.tokenhub.provider.ProviderAdapter;
import io.tokenhub.provider.UpstreamCall;
import io.tokenhub.routing.Attempt;
import io.tokenhub.routing.Catalog.Target;
import io.tokenhub.routing.CatalogHolder;
import io.tokenhub.routing.Dispatcher;
import io.tokenhub.routing.Route;
import io.tokenhub.routing.Served;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.BiFunction;

/**
 * Non-streaming model operations other than chat — {@code POST /v1/embeddings} and
 * {@code POST /v1/rerank} — through the same authentication, routing, fallback, breakers and usage
 * records as chat. Each is described by an {@link Operation}.
 */
final class OneShotHandler implements Handler<RoutingContext> {

    /** What differs between operations: the model type, the body checks, the upstream call, the price. */
    interface Operation {
        String modelType();

        /**
         * Validates the body; answers its inputs, whose tokens are estimated from the texts' sizes:
         * the tokenizer runs only if the provider reports no usage, or an input may be longer than a
         * model's context window (a body of megabytes would otherwise hold the event loop for as long
         * as it takes, before any limit applied).
         */
        Texts validate(JsonObject body);

        /** Whether each input must fit the model's context window (an embedding's does; a rerank's documents are cut by the provider). */
        default boolean inputsFitWindow() {
            return false;
        }

        Future<Completion> send(ProviderAdapter adapter, UpstreamCall call, Abort abort);

        long cost(Model model, Usage usage);

        /** The {@code usage} object of the response, with {@code cost}. */
        JsonObject usageJson(Usage usage, long cost);
    }

    private final Operation operation;
    private final Authenticator auth;
    private final CatalogHolder catalog;
    private final Dispatcher dispatcher;
    private final Outcome outcome;
    private final ChatRequestParser.PromptCounter counter;

    OneShotHandler(Operation operation, Authenticator auth, CatalogHolder catalog, Dispatcher dispatcher,
                   Outcome outcome, ChatRequestParser.PromptCounter counter) {
        this.operation = operation;
        this.auth = auth;
        this.catalog = catalog;
        this.dispatcher = dispatcher;
        this.outcome = outcome;
        this.counter = counter;
    }

    @Override
    public void handle(RoutingContext ctx) {
        Exchange ex = new Exchange(ctx);
        ctx.response().closeHandler(v -> ex.abort.abort());
        Keys.of(ctx, auth)
            .compose(key -> {
                ex.key = key;
                ex.request = parse(Bodies.jsonObject(ctx), ex);
                return ex.request.fit().check(ex.request.target().model());
            })
            .compose(fits -> outcome.admit(ex))
            .compose(admission -> outcome.reserveThen(ex, operation.cost(ex.request.target().model(),
                new Usage(ex.request.prompt().reserved(), 0, 0, 0, true)), reserved -> dispatch(ex, reserved)))
            .onFailure(failure -> outcome.error(ex, failure));
    }

    private ModelRequest parse(JsonObject body, Exchange ex) {
        String requested = ChatRequestParser.requiredString(body, "model");
        // Known first, so that a refusal of the body is counted under the catalog's model.
        Optional<Target> found = catalog.get().resolve(requested);
        found.ifPresent(target -> ex.model = target.model());
        Texts inputs = operation.validate(body);
        Target target = found.orElseThrow(() -> new ModelNotFound(requested).toException());
        if (!ex.key.allows(target.model().id())) {
            throw new ModelNotAllowed(requested).toException();
        }
        ChatRequestParser.checkType(target.model(), operation.modelType(), requested, "model");
        List<String> fallbacks = ChatRequestParser.stringList(body, "fallback_models");
        ChatRequestParser.checkFallbacks(fallbacks, catalog.get(), ex.key, operation.modelType());
        body.remove("fallback_models");
        // As for chat: an explicit null is the field's default, and some providers refuse the null itself.
        body.getMap().values().removeIf(Objects::isNull);
        return new ModelRequest(body, requested, target, false, false, 0, 1, inputs.tokens(), fallbacks,
            model -> fits(model, inputs));
    }

    /**
     * Whether the model can take the request: of the operation's type (a configured fallback that
     * is a chat model behind an embedding model is passed over), each input within its context
     * window where the operation needs it, as OpenAI refuses an embedding input over its model's.
     */
    private Future<Void> fits(Model model, Texts inputs) {
        try {
            ChatRequestParser.checkType(model, operation.modelType(), model.id(), "fallback_models");
        } catch (ApiException refused) {
            return Future.failedFuture(refused);
        }
        return operation.inputsFitWindow() ? inputs.fit(model, counter) : Future.succeededFuture();
    }

    /** {@code reserved}: the request's reservation, made or on its way (see {@link Outcome#reserveThen}). */
    private Future<Void> dispatch(Exchange ex, Future<Reservation> reserved) {
        List<Attempt> attempts = Route.plan(catalog.get(), ex.request.target(), ex.request.fallbackModels(),
            ex.key::allows);
        Abort abort = Outcome.callAbort(ex, reserved);
        BiFunction<ProviderAdapter, UpstreamCall, Future<Completion>> send =
            (adapter, call) -> operation.send(adapter, call, abort);
        // A fallback's reservation replaces the request's own, so it waits for it.
        var call = new Dispatcher.Call(ex.requestId, ex.request.body(), null, Integer.MAX_VALUE,
            ex.upstreamClock, ex, model -> reserved.compose(r -> ex.request.fit().check(model)).compose(fits ->
                outcome.fallBack(ex, model, operation.cost(model,
                    new Usage(ex.request.prompt().reserved(), 0, 0, 0, true)))));
        Future<Served<Completion>> served = Outcome.afterReservation(reserved,
            dispatcher.call(attempts, call, abort, send));
        return outcome.waitingOn(ex, served.compose(answered -> usage(ex, answered)
                .map(usage -> {
                    answer(ex, answered, usage);
                    return null;
                })))
            .onFailure(failure -> {
                if (!reserved.failed() && !served.succeeded()) {
                    outcome.failed(ex, failure, Usage.NONE);
                }
            })
            .mapEmpty();
    }

    /**
     * The provider's usage, else the tokenizer's count of the inputs (off the event loop when they
     * are long), else (the tokenizer's workers gone: the node is stopping) the estimate: an answered
     * request is always recorded.
     */
    private Future<Usage> usage(Exchange ex, Served<Completion> served) {
        Usage given = served.result().usage();
        return given != null ? Future.succeededFuture(given)
            : ex.request.prompt().counted(counter).otherwise(failure -> ex.request.prompt().estimate())
                .map(prompt -> new Usage(prompt, 0, 0, 0, true));
    }

    private void answer(Exchange ex, Served<Completion> served, Usage usage) {
        long cost = operation.cost(served.attempt().model(), usage);
        JsonObject body = served.result().body().put("usage", operation.usageJson(usage, cost));
        // Read before the response ends: over HTTP/2 ending it closes the stream, which aborts.
        boolean clientGone = ex.abort.aborted();
        if (!clientGone) {
            ex.ctx.response().putHeader("Content-Type", Headers.JSON)
                .putHeader(Headers.PROVIDER, served.attempt().provider()).end(body.toBuffer());
            outcome.answered(ex);
        }
        outcome.record(ex, served.attempt(), served.fallback(), usage, cost, clientGone ? outcome.goneStatus() : 200,
            clientGone ? outcome.goneCode() : null, -1);
    }

    /**
     * The inputs of a one-shot request: texts, sized now and tokenized only if ever needed, and
     * token ids.
     */
    static final class Texts {
        private final List<String> texts = new ArrayList<>();
        private int tokenIds;
        /** The most token ids of one input. */
        private int longestIds;

        void add(String text) {
            texts.add(text);
        }

        void addIds(int ids) {
            tokenIds += ids;
            longestIds = Math.max(longestIds, ids);
        }

        PromptTokens tokens() {
            long estimate = tokenIds;
            for (String text : texts) {
                estimate += TokenCounter.estimate(text);
            }
            int ids = tokenIds;
            return PromptTokens.estimated((int) Math.min(Integer.MAX_VALUE, estimate), () -> {
                long counted = ids;
                for (String text : texts) {
                    counted += TokenCounter.count(text);
                }
                return (int) Math.min(Integer.MAX_VALUE, counted);
            });
        }

        /**
         * Completes when every input is within the model's context window, else fails with
         * {@code context_length_exceeded} naming {@code input}. A text of no more UTF-8 bytes than
         * the window fits (a token is at least a byte); a longer one is tokenized, off the event loop
         * when long.
         */
        Future<Void> fit(Model model, ChatRequestParser.PromptCounter counter) {
            int window = model.contextWindow();
            if (longestIds > window) {
                return Future.failedFuture(tooLong(model, longestIds));
            }
            List<String> doubtful = texts.stream().filter(text -> TokenCounter.utf8Length(text) > window).toList();
            if (doubtful.isEmpty()) {
                return Future.succeededFuture();
            }
            long bytes = doubtful.stream().mapToLong(TokenCounter::utf8Length).sum();
            return counter.count(bytes, () -> doubtful.stream().mapToInt(TokenCounter::countEmbeddingInput).max()
                    .orElse(0))
                .compose(tokens -> tokens > window ? Future.failedFuture(tooLong(model, tokens))
                    : Future.succeededFuture());
        }

        /** OpenAI's words for an embedding input over the model's window. */
        private static ApiException tooLong(Model model, int tokens) {
            return new ContextLengthExceeded("This model's maximum context length is " + model.contextWindow()
                + " tokens, however you requested " + tokens + " tokens (" + tokens + " in your prompt; 0 for the "
                + "completion). Please reduce your prompt; or completion length.", "input").toException();
        }
    }

    /** A non-empty array of integers. */
    private static boolean tokenIds(JsonArray array) {
        return !array.isEmpty() && array.stream().allMatch(id -> id instanceof Integer || id instanceof Long);
    }

    /** The most inputs one embeddings request may hold, as OpenAI has it. */
    static final int MAX_INPUTS = 2048;

    static Operation embeddings() {
        return new Operation() {
            public String modelType() {
                return "embedding";
            }

            public boolean inputsFitWindow() {
                return true;
            }

            public Texts validate(JsonObject body) {
                Object input = body.getValue("input");
                // As OpenAI: an empty string embeds nothing, and is refused wherever it is.
                if ("".equals(input) || input instanceof JsonArray array && array.contains("")) {
                    throw ChatRequestParser.invalid("input must not be or contain an empty string.", "input");
                }
                if (input instanceof JsonArray array && array.size() > MAX_INPUTS && !tokenIds(array)) {
                    throw ChatRequestParser.invalid("input holds " + array.size() + " inputs; at most " + MAX_INPUTS
                        + " may be embedded in one request.", "input");
                }
                Texts prompt = new Texts();
                if (input instanceof String text) {
                    prompt.add(text);
                } else if (input instanceof JsonArray array && !array.isEmpty()) {
                    // As OpenAI: strings, or one token array, or token arrays — never a mix.
                    if (array.stream().allMatch(item -> item instanceof String)) {
                        for (Object text : array) {
                            prompt.add((String) text);
                        }
                    } else if (tokenIds(array)) {
                        prompt.addIds(array.size());
                    } else if (array.stream().allMatch(item -> item instanceof JsonArray ids && tokenIds(ids))) {
                        for (Object ids : array) {
                            prompt.addIds(((JsonArray) ids).size());
                        }
                    } else {
                        throw ChatRequestParser.invalid("input must be a string, an array of strings, an array of "
                            + "token ids or an array of token id arrays.", "input");
                    }
                } else {
                    throw ChatRequestParser.invalid(input == null ? "Missing required parameter: 'input'."
                        : "input must be a non-empty string or array.", "input");
                }
                ChatRequestParser.optionalInt(body, "dimensions", 1);
                Object format = body.getValue("encoding_format");
                if (format != null && !"float".equals(format) && !"base64".equals(format)) {
                    throw ChatRequestParser.invalid("encoding_format must be 'float' or 'base64'.", "encoding_format");
                }
                return prompt;
            }

            public Future<Completion> send(ProviderAdapter adapter, UpstreamCall call, Abort abort) {
                return adapter.embeddings(call, abort);
            }

            public long cost(Model model, Usage usage) {
                return PriceCalculator.chatCost(model.pricing(), usage);
            }

            public JsonObject usageJson(Usage usage, long cost) {
                return estimatedIf(usage, new JsonObject().put("prompt_tokens", usage.promptTokens())
                    .put("total_tokens", usage.promptTokens()).put("cost", PriceCalculator.toUsd(cost)));
            }
        };
    }

    static Operation rerank() {
        return new Operation() {
            public String modelType() {
                return "rerank";
            }

            public Texts validate(JsonObject body) {
                String query = ChatRequestParser.requiredString(body, "query");
                Object documents = body.getValue("documents");
                if (!(documents instanceof JsonArray docs) || docs.isEmpty()) {
                    throw ChatRequestParser.invalid(documents == null ? "Missing required parameter: 'documents'."
                        : "documents must be a non-empty array.", "documents");
                }
                Texts prompt = new Texts();
                prompt.add(query);
                for (Object doc : docs) {
                    if (doc instanceof String text) {
                        prompt.add(text);
                    } else if (doc instanceof JsonObject d && d.getValue("text") instanceof String text) {
                        prompt.add(text);
                    } else {
                        throw ChatRequestParser.invalid("documents must hold strings or {text} objects.", "documents");
                    }
                }
                ChatRequestParser.optionalInt(body, "top_n", 1);
                ChatRequestParser.optionalBoolean(body, "return_documents", false);
                return prompt;
            }

            public Future<Completion> send(ProviderAdapter adapter, UpstreamCall call, Abort abort) {
                return adapter.rerank(call, abort);
            }

            public long cost(Model model, Usage usage) {
                return PriceCalculator.rerankCost(model.pricing(), usage);
            }

            public JsonObject usageJson(Usage usage, long cost) {
                return estimatedIf(usage, new JsonObject().put("total_tokens", usage.promptTokens())
                    .put("search_units", 1).put("cost", PriceCalculator.toUsd(cost)));
            }
        };
    }

    /** Marks a usage we counted ourselves, as a chat completion's is marked. */
    private static JsonObject estimatedIf(Usage usage, JsonObject json) {
        return usage.estimated() ? json.put("estimated", true) : json;
    }
}
