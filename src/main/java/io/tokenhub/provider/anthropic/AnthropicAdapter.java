package io.tokenhub.provider.anthropic;

import io.tokenhub.core.Usage;
import io.tokenhub.provider.Abort;
import io.tokenhub.provider.ChunkStream;
import io.tokenhub.provider.Completion;
import io.tokenhub.provider.HttpUpstream;
import io.tokenhub.provider.ProviderAdapter;
import io.tokenhub.provider.UpstreamCall;
import io.tokenhub.provider.UpstreamException;
import io.tokenhub.provider.UpstreamException.Kind;
import io.tokenhub.provider.anthropic.AnthropicResponses.ErrorInfo;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Anthropic Messages API. The OpenAI request is translated by {@link AnthropicRequests}, the
 * answer back by {@link AnthropicResponses} or, streamed, by {@link AnthropicStreamTranslator};
 * everything HTTP (timeouts, abort, status classification) is {@link HttpUpstream}'s.
 */
public final class AnthropicAdapter implements ProviderAdapter {

    private static final Logger LOG = LoggerFactory.getLogger(AnthropicAdapter.class);

    /** The version the translators were written against; a provider may pin another one. */
    static final String DEFAULT_API_VERSION = "2023-06-01";

    /** The parameter path the translator puts at the start of its messages, e.g. {@code messages[2].content}. */
    private static final Pattern PARAM = Pattern.compile("^([A-Za-z_]+(?:\\[\\d+])*(?:\\.[A-Za-z_]+(?:\\[\\d+])*)*)(?=[\\s:])");

    private final HttpUpstream upstream;
    private final HttpUpstream.Endpoint messages;

    public AnthropicAdapter(HttpUpstream upstream) {
        this.upstream = upstream;
        MultiMap headers = MultiMap.caseInsensitiveMultiMap();
        String apiKey = upstream.provider().apiKey();
        if (apiKey != null && !apiKey.isEmpty()) {
            headers.add("x-api-key", apiKey);
        }
        String version = upstream.provider().apiVersion();
        headers.add("anthropic-version", version == null || version.isBlank() ? DEFAULT_API_VERSION : version);
        this.messages = upstream.endpoint("/messages", headers);
    }

    @Override
    public int retries() {
        return upstream.provider().retries();
    }

    @Override
    public String providerId() {
        return upstream.provider().id();
    }

    @Override
    public Future<Completion> complete(UpstreamCall call, Abort abort) {
        return requestBody(call, false).compose(body -> upstream.post(messages, body, abort, call.clock())
            .compose(response -> HttpUpstream.body(response, upstream, call.clock(), abort))
            .map(buffer -> completion(call, buffer))
            .recover(this::openAiError));
    }

    @Override
    public Future<ChunkStream> stream(UpstreamCall call, Abort abort) {
        return requestBody(call, true).compose(body -> upstream.post(messages, body, abort, call.clock())
            .<ChunkStream>map(response -> new AnthropicChunkStream(response, upstream, call, abort))
            .recover(this::openAiError));
    }

    /** The translated body, or the reason it cannot be sent; never throws to the caller. */
    private Future<Buffer> requestBody(UpstreamCall call, boolean stream) {
        try {
            return Future.succeededFuture(upstreamBody(call, stream).toBuffer());
        } catch (RuntimeException e) {
            return Future.failedFuture(e);
        }
    }

    /** Translates the request; what Anthropic cannot honour fails here, before any network call. */
    JsonObject upstreamBody(UpstreamCall call, boolean stream) {
        try {
            AnthropicRequests.Target target = new AnthropicRequests.Target(call.upstreamModel(),
                ClaudeThinking.of(call.deployment().thinking(), call.upstreamModel()),
                upstream.provider().cacheAutomatically());
            return AnthropicRequests.toAnthropic(call.body(), target, call.maxTokens(), stream);
        } catch (RuntimeException e) {
            // ClassCastException: a field of the wrong JSON type (an object where an array belongs);
            // NullPointerException: a part missing where the translation needs one. The client's
            // request is wrong either way, no other provider would accept it, and it is no failure of
            // this provider's (its breaker must not count it).
            if (e instanceof IllegalArgumentException || e instanceof ClassCastException
                || e instanceof NullPointerException) {
                LOG.debug("request {} cannot be translated for {}: {}", call.requestId(), providerId(), e.toString());
            } else {
                // Not a shape the translation expects to meet: worth a look, once seen.
                LOG.warn("request {} could not be translated for {}", call.requestId(), providerId(), e);
            }
            boolean described = e instanceof IllegalArgumentException && e.getMessage() != null;
            String message = described ? e.getMessage() : "the request body does not have the expected shape";
            String param = described ? param(message, call.body()) : null;
            if (e instanceof AnthropicRequests.Unsupported) {
                throw UpstreamException.unsupported(providerId(), message, param);
            }
            JsonObject error = new JsonObject().put("message", message).put("type", "invalid_request_error")
                .put("code", "invalid_request_error");
            if (param != null) {
                error.put("param", param);
            }
            throw new UpstreamException(providerId(), Kind.REJECTED, 400, message, 0, error);
        }
    }

    /**
     * The translator starts its messages with the offending parameter's path; it is only taken as
     * one when its first segment is a field the client actually sent, so prose is never mistaken.
     */
    private static String param(String message, JsonObject request) {
        Matcher path = PARAM.matcher(message);
        if (!path.find()) {
            return null;
        }
        String root = path.group(1).split("[.\\[]", 2)[0];
        return request.containsKey(root) ? path.group(1) : null;
    }

    private Completion completion(UpstreamCall call, Buffer buffer) {
        JsonObject message;
        try {
            message = buffer.toJsonObject();
        } catch (DecodeException | ClassCastException e) {
            throw UpstreamException.of(providerId(), Kind.CONNECTION, "the provider answered with malformed JSON");
        }
        if (!(message.getValue("content") instanceof JsonArray)) {
            throw UpstreamException.of(providerId(), Kind.CONNECTION, "the provider's answer has no content");
        }
        String model = message.getValue("model") instanceof String m && !m.isEmpty() ? m : call.upstreamModel();
        JsonObject body = AnthropicResponses.toOpenAi(message, providerId() + "/" + model,
            "chatcmpl-" + call.requestId(), System.currentTimeMillis() / 1000);
        return Completion.of(body, Usage.fromOpenAi(body.getJsonObject("usage")));
    }

    /**
     * HttpUpstream keeps the upstream's own {@code error} object, which for Anthropic is
     * {@code {type: overloaded_error, message}}; callers expect the OpenAI shape, so only the
     * object is rewritten, the classification (kind, status, retry-after) stays as it was.
     */
    private <T> Future<T> openAiError(Throwable failure) {
        if (failure instanceof UpstreamException e && e.status() > 0 && e.error() != null) {
            return Future.failedFuture(new UpstreamException(e.provider(), e.kind(), e.status(), e.getMessage(),
                e.retryAfterMs(), openAiError(e.status(), new JsonObject().put("error", e.error()))));
        }
        return Future.failedFuture(failure);
    }

    /** An Anthropic error body ({@code {"error": {type, message}}}) as an OpenAI error object. */
    static JsonObject openAiError(int status, JsonObject anthropicBody) {
        ErrorInfo info = AnthropicResponses.mapError(status, anthropicBody);
        return new JsonObject().put("message", info.message()).put("type", info.type()).put("code", info.code());
    }
}
