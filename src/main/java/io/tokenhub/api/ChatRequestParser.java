package io.tokenhub.api;

import io.tokenhub.auth.KeyContext;
import io.tokenhub.config.TokenHubConfig.Model;
import io.tokenhub.core.ApiError;
import io.tokenhub.core.ApiError.ContextLengthExceeded;
import io.tokenhub.core.ApiError.InvalidRequest;
import io.tokenhub.core.ApiError.ModelNotAllowed;
import io.tokenhub.core.ApiError.ModelNotFound;
import io.tokenhub.core.ApiError.UnsupportedParameter;
import io.tokenhub.core.ApiException;
import io.tokenhub.core.TokenCounter;
import io.tokenhub.routing.Catalog;
import io.tokenhub.routing.Catalog.Target;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Checks a chat request before anything is spent on it: shapes and types of the fields we act on
 * (each failure names its {@code param}), the model and the key's right to it, output and context
 * limits, and the model's capabilities. Fields we do not act on pass through untouched.
 */
final class ChatRequestParser {

    /** OpenAI's own bound on {@code n}; each choice may use the whole output limit, and is paid for. */
    static final int MAX_CHOICES = 128;

    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool", "function");
    private static final Set<String> FORMATS = Set.of("text", "json_object", "json_schema");

    private ChatRequestParser() {
    }

    /** Runs the tokenizer over a prompt; the gateway's runs it on a worker thread. */
    interface PromptCounter {
        Future<Integer> count(Callable<Integer> tokenize);

        /** Tokenizes {@code textBytes} of text here when short, else through {@link #count}: off the event loop. */
        default Future<Integer> count(long textBytes, Callable<Integer> tokenize) {
            if (textBytes > OFF_LOOP_BYTES) {
                return count(tokenize);
            }
            try {
                return Future.succeededFuture(tokenize.call());
            } catch (Exception e) {
                return Future.failedFuture(e);
            }
        }
    }

    /**
     * Prompts with more text than this are tokenized by the {@link PromptCounter}, not on the event
     * loop: 10 MB of text takes the tokenizer most of a second, long enough to hold every request
     * on that loop (and the request is not admitted yet: no limit applies).
     */
    static final long OFF_LOOP_BYTES = 64 * 1024;

    /**
     * The request checked; fails (or throws) with the first problem found. Completes at once unless a
     * long prompt must be tokenized to know whether it fits the context window.
     */
    static Future<ModelRequest> parse(JsonObject body, Catalog catalog, KeyContext key, PromptCounter counter) {
        return parse(body, catalog, key, counter, model -> { });
    }

    /** @param resolved told the catalog model once it is known, before the checks that may refuse it */
    static Future<ModelRequest> parse(JsonObject body, Catalog catalog, KeyContext key, PromptCounter counter,
                                      Consumer<Model> resolved) {
        String requested = requiredString(body, "model");
        // Known first, so that a refusal of the body below is counted under the catalog's model.
        Optional<Target> found = catalog.resolve(requested);
        found.ifPresent(target -> resolved.accept(target.model()));
        JsonArray messages = messages(body);
        boolean stream = optionalBoolean(body, "stream", false);
        boolean includeUsage = false;
        Object streamOptions = body.getValue("stream_options");
        if (streamOptions != null) {
            if (!(streamOptions instanceof JsonObject options)) {
                throw invalid("stream_options must be an object.", "stream_options");
            }
            if (!stream) {
                throw invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                    "stream_options");
            }
            includeUsage = optionalBoolean(options, "include_usage", false, "stream_options.include_usage");
        }
        Integer maxTokens = optionalInt(body, "max_tokens", 1);
        Integer maxCompletion = optionalInt(body, "max_completion_tokens", 1);
        if (maxTokens != null && maxCompletion != null) {
            // As OpenAI answers: with both, the upstream would read whichever it reads, and only one is checked.
            throw invalid("Setting 'max_tokens' and 'max_completion_tokens' at the same time is not supported.",
                "max_tokens");
        }
        checkNumber(body, "temperature", 0, 2);
        checkNumber(body, "top_p", 0, 1);
        checkNumber(body, "presence_penalty", -2, 2);
        checkNumber(body, "frequency_penalty", -2, 2);
        Integer n = optionalInt(body, "n", 1);
        if (n != null && n > MAX_CHOICES) {
            throw invalid("n must be at most " + MAX_CHOICES + ".", "n");
        }
        checkSeed(body.getValue("seed"));
        checkToolChoice(body.getValue("tool_choice"), body.getValue("tools"));
        checkFunctionCall(body.getValue("function_call"), body.getValue("functions"));
        optionalBoolean(body, "parallel_tool_calls", true);
        boolean logprobs = optionalBoolean(body, "logprobs", false);
        Integer topLogprobs = optionalInt(body, "top_logprobs", 0);
        if (topLogprobs != null && topLogprobs > 20) {
            throw invalid("top_logprobs must be an integer from 0 to 20.", "top_logprobs");
        }
        if (topLogprobs != null && topLogprobs > 0 && !logprobs) {
            // As OpenAI answers; elsewhere the client would get no log probabilities and no word why.
            throw invalid("top_logprobs is only allowed when logprobs is true.", "top_logprobs");
        }
        checkLogitBias(body.getValue("logit_bias"));
        checkStop(body.getValue("stop"));
        if (body.getValue("user") != null && !(body.getValue("user") instanceof String)) {
            throw invalid("user must be a string.", "user");
        }
        List<String> fallbacks = stringList(body, "fallback_models");
        boolean thinking = thinkingAsked(body);
        boolean search = optionalBoolean(body, "enable_search", false);

        Target target = found.orElseThrow(() -> new ModelNotFound(requested).toException());
        Model model = target.model();
        if (!key.allows(model.id())) {
            throw new ModelNotAllowed(requested).toException();
        }
        checkType(model, "chat", requested, "model");
        List<Need> needs = needs(body, messages, thinking, search);
        checkCapabilities(needs, model);
        checkFallbacks(fallbacks, catalog, key, "chat");

        boolean limitSet = maxCompletion != null || maxTokens != null;
        int limit = maxCompletion != null ? maxCompletion : maxTokens != null ? maxTokens : model.defaultMaxTokens();
        String limitParam = maxCompletion != null ? "max_completion_tokens" : "max_tokens";
        checkOutputLimit(limitParam, limit, model);
        // Tokenized only when the prompt's size in bytes leaves any doubt about the context window.
        TokenCounter.PromptSize size = TokenCounter.chatPromptSize(body);
        ChatFit fit = new ChatFit(model, needs, limitSet ? limitParam : null, limit, size, body, counter);
        int choices = n == null ? 1 : n;
        boolean includes = includeUsage;
        if (size.bound() + limit <= model.contextWindow()) {
            return Future.succeededFuture(accepted(body, requested, target, stream, includes, limit, choices,
                PromptTokens.estimated(size.estimate(), size.reservedOnly(), () -> TokenCounter.chatPrompt(body)),
                fallbacks, thinking, fit));
        }
        return fit.count().map(prompt -> {
            checkContext(prompt, limit, model);
            return accepted(body, requested, target, stream, includes, limit, choices,
                PromptTokens.counted(prompt, size.reservedOnly()), fallbacks, thinking, fit);
        });
    }

    /** The request as it goes on: without the fields TokenHub consumed or the model would refuse. */
    private static ModelRequest accepted(JsonObject body, String requested, Target target, boolean stream,
                                         boolean includeUsage, int limit, int choices, PromptTokens tokens,
                                         List<String> fallbacks, boolean thinking, ModelRequest.Fit fit) {
        body.remove("fallback_models");
        // An explicit null is the field's default (as at OpenAI); some providers refuse the null itself.
        body.getMap().values().removeIf(Objects::isNull);
        if (!target.model().supports("search")) {
            body.remove("enable_search");
        }
        // An explicit false goes on to a model that can think (some think unless told not to); a model
        // that cannot is not told.
        if (!thinking && !target.model().supports("thinking")) {
            body.remove("enable_thinking");
        }
        withoutEmptyTools(body);
        return new ModelRequest(body, requested, target, stream, includeUsage, limit, choices, tokens, fallbacks, fit);
    }

    /**
     * An empty {@code tools} (or {@code functions}) declares nothing: it goes, with the choices and
     * options that only mean something beside tools. OpenAI refuses the empty array and
     * {@code parallel_tool_calls} without tools, where other providers take both; clients and
     * frameworks send them, so the request means the same at every provider.
     */
    private static void withoutEmptyTools(JsonObject body) {
        if (withoutEmpty(body, "tools", "tool_choice")) {
            body.remove("parallel_tool_calls");
        }
        withoutEmpty(body, "functions", "function_call");
    }

    /** Removes {@code list} when it declares nothing, with a {@code choice} of none or auto; answers whether it did. */
    private static boolean withoutEmpty(JsonObject body, String list, String choice) {
        if (body.getValue(list) instanceof JsonArray array && !array.isEmpty()) {
            return false;
        }
        body.remove(list);
        if ("none".equals(body.getValue(choice)) || "auto".equals(body.getValue(choice))) {
            body.remove(choice);
        }
        return true;
    }

    /**
     * Whether a fallback's model can take a chat request: the checks {@link #parse} made of the
     * requested model's type, capabilities, output limit and context window. An output limit the
     * caller did not set is the requested model's default, lowered to what the fallback can give.
     *
     * @param limitParam the field that set the output limit, or null when the caller set none
     */
    private record ChatFit(Model requested, List<Need> needs, String limitParam, int limit,
                           TokenCounter.PromptSize size, JsonObject body, PromptCounter counter)
        implements ModelRequest.Fit {

        @Override
        public Future<Void> check(Model model) {
            if (model.id().equals(requested.id())) {
                return Future.succeededFuture();
            }
            int output = Math.min(limit, model.maxOutputTokens());
            try {
                checkType(model, "chat", model.id(), "fallback_models");
                checkCapabilities(needs, model);
                if (limitParam != null) {
                    checkOutputLimit(limitParam, limit, model);
                }
            } catch (ApiException refused) {
                return Future.failedFuture(refused);
            }
            if (size.bound() + output <= model.contextWindow()) {
                return Future.succeededFuture();
            }
            return count().map(prompt -> {
                checkContext(prompt, output, model);
                return null;
            });
        }

        /** The prompt's tokens, off the event loop when the prompt is long. */
        Future<Integer> count() {
            return counter.count(size.textBytes(), () -> TokenCounter.chatPrompt(body));
        }
    }

    /** The model serves {@code type} requests; else a 400 naming the field it came from. */
    static void checkType(Model model, String type, String named, String param) {
        if (!model.type().equals(type)) {
            throw invalid("The model '" + named + "' is " + article(model.type()) + " model, not "
                + article(type) + " model.", param);
        }
    }

    /** The request's {@code fallback_models}: each one known, allowed for the key, and of the request's type. */
    static void checkFallbacks(List<String> fallbacks, Catalog catalog, KeyContext key, String type) {
        for (String fallback : fallbacks) {
            Model model = catalog.resolve(fallback)
                .orElseThrow(() -> new ModelNotFound(fallback, "fallback_models").toException()).model();
            if (!key.allows(model.id())) {
                throw new ModelNotAllowed(fallback, "fallback_models").toException();
            }
            checkType(model, type, fallback, "fallback_models");
        }
    }

    private static void checkOutputLimit(String limitParam, int limit, Model model) {
        if (limit > model.maxOutputTokens()) {
            throw new ContextLengthExceeded(limitParam + " is too large: " + limit + ". This model supports at most "
                + model.maxOutputTokens() + " completion tokens.", limitParam).toException();
        }
    }

    private static void checkContext(int prompt, int output, Model model) {
        if ((long) prompt + output > model.contextWindow()) {
            // OpenAI's wording, which clients match to shorten a conversation.
            throw new ContextLengthExceeded("This model's maximum context length is " + model.contextWindow()
                + " tokens. However, you requested " + (prompt + output) + " tokens (" + prompt + " in the messages, "
                + output + " in the completion). Please reduce the length of the messages or completion.", "messages")
                .toException();
        }
    }

    private static JsonArray messages(JsonObject body) {
        Object value = body.getValue("messages");
        if (value == null) {
            throw invalid("Missing required parameter: 'messages'.", "messages");
        }
        if (!(value instanceof JsonArray messages)) {
            throw invalid("messages must be an array.", "messages");
        }
        if (messages.isEmpty()) {
            throw invalid("messages must contain at least one message.", "messages");
        }
        for (int i = 0; i < messages.size(); i++) {
            String at = "messages[" + i + "]";
            if (!(messages.getValue(i) instanceof JsonObject message)) {
                throw invalid(at + " must be an object.", at);
            }
            Object role = message.getValue("role");
            if (!(role instanceof String r) || !ROLES.contains(r)) {
                throw invalid(at + ".role must be one of " + String.join(", ", ROLES.stream().sorted().toList())
                    + ".", at + ".role");
            }
            checkContent(message.getValue("content"), r, at);
            if (r.equals("tool") && !(message.getValue("tool_call_id") instanceof String)) {
                throw invalid("Missing required parameter: '" + at + ".tool_call_id'.", at + ".tool_call_id");
            }
            checkToolCalls(message.getValue("tool_calls"), at);
            if (message.getValue("name") != null && !(message.getValue("name") instanceof String)) {
                throw invalid(at + ".name must be a string.", at + ".name");
            }
        }
        return messages;
    }

    private static void checkContent(Object content, String role, String at) {
        if (content == null) {
            // An assistant turn may carry only tool calls (or a refusal); a function's result may be
            // null, as the deprecated function messages' content is typed.
            if (role.equals("assistant") || role.equals("function")) {
                return;
            }
            throw invalid(at + ".content is required.", at + ".content");
        }
        if (content instanceof String) {
            return;
        }
        if (!(content instanceof JsonArray parts)) {
            throw invalid(at + ".content must be a string or an array of content parts.", at + ".content");
        }
        for (int j = 0; j < parts.size(); j++) {
            String partAt = at + ".content[" + j + "]";
            if (!(parts.getValue(j) instanceof JsonObject part) || !(part.getValue("type") instanceof String type)) {
                throw invalid(partAt + " must be an object with a type.", partAt);
            }
            if (type.equals("text") && !(part.getValue("text") instanceof String)) {
                throw invalid(partAt + ".text must be a string.", partAt + ".text");
            }
            if (type.equals("image_url") && !(part.getValue("image_url") instanceof JsonObject image
                && image.getValue("url") instanceof String)) {
                throw invalid(partAt + ".image_url.url must be a string.", partAt + ".image_url");
            }
        }
    }

    /**
     * An earlier turn's tool calls: each an object naming its function, arguments a string of JSON (or
     * an object); or a custom tool's call, naming the tool, its input a string.
     */
    private static void checkToolCalls(Object calls, String at) {
        if (calls == null) {
            return;
        }
        if (!(calls instanceof JsonArray array)) {
            throw invalid(at + ".tool_calls must be an array.", at + ".tool_calls");
        }
        for (int i = 0; i < array.size(); i++) {
            String callAt = at + ".tool_calls[" + i + "]";
            if (array.getValue(i) instanceof JsonObject call && "custom".equals(call.getValue("type"))) {
                if (!(call.getValue("custom") instanceof JsonObject custom && custom.getValue("name") instanceof String)) {
                    throw invalid(callAt + " must name its custom tool.", callAt + ".custom.name");
                }
                if (custom.getValue("input") != null && !(custom.getValue("input") instanceof String)) {
                    throw invalid(callAt + ".custom.input must be a string.", callAt + ".custom.input");
                }
                continue;
            }
            if (!(array.getValue(i) instanceof JsonObject call
                && call.getValue("function") instanceof JsonObject function
                && function.getValue("name") instanceof String)) {
                throw invalid(callAt + " must be an object with a function that has a name.", callAt + ".function");
            }
            Object arguments = function.getValue("arguments");
            if (arguments != null && !(arguments instanceof String || arguments instanceof JsonObject)) {
                throw invalid(callAt + ".function.arguments must be a string of JSON.", callAt + ".function.arguments");
            }
        }
    }

    /**
     * Whether {@code enable_thinking: true} asks the model to think (checked against its
     * capabilities). OpenAI's {@code reasoning_effort} is a field of the API, not an extension: it
     * goes to the provider as sent (each has its own levels: OpenAI's {@code minimal}…{@code xhigh},
     * DeepSeek's {@code max}), and is taken at Anthropic; it may come with {@code enable_thinking},
     * but not saying the opposite ({@code none} is no thinking).
     */
    private static boolean thinkingAsked(JsonObject body) {
        Object enable = body.getValue("enable_thinking");
        boolean enabled = optionalBoolean(body, "enable_thinking", false);
        Object effort = body.getValue("reasoning_effort");
        if (effort == null) {
            return enabled;
        }
        if (!(effort instanceof String level) || level.isEmpty()) {
            throw invalid("reasoning_effort must be a string, such as 'low', 'medium' or 'high'.", "reasoning_effort");
        }
        if (enable != null && enabled == level.equals("none")) {
            throw invalid("reasoning_effort '" + level + "' and enable_thinking: " + enabled + " contradict each other; "
                + "send one of them.", "reasoning_effort");
        }
        return enabled;
    }

    /** A capability the request uses, the field that uses it, and what a model without it is refused with. */
    private record Need(String capability, String param, String lacking) {
    }

    /** The capabilities the request uses, in the order they are checked; the fields' shapes checked on the way. */
    private static List<Need> needs(JsonObject body, JsonArray messages, boolean thinking, boolean search) {
        List<Need> needs = new ArrayList<>(2);
        Object tools = body.getValue("tools");
        if (tools != null) {
            if (!(tools instanceof JsonArray array)) {
                throw invalid("tools must be an array.", "tools");
            }
            checkTools(array);
            if (!array.isEmpty()) {
                needs.add(new Need("tools", "tools", "does not support tools"));
            }
        }
        // The deprecated form of tools, which OpenAI still takes.
        Object functions = body.getValue("functions");
        if (functions != null) {
            if (!(functions instanceof JsonArray array) || !array.stream().allMatch(f -> f instanceof JsonObject o
                && o.getValue("name") instanceof String name && !name.isEmpty())) {
                throw invalid("functions must be an array of objects that each have a name.", "functions");
            }
            if (!array.isEmpty()) {
                needs.add(new Need("tools", "functions", "does not support tools"));
            }
        }
        Object format = body.getValue("response_format");
        if (format != null) {
            if (!(format instanceof JsonObject f) || !(f.getValue("type") instanceof String type)) {
                throw invalid("response_format must be an object with a type.", "response_format");
            }
            if (!FORMATS.contains(type)) {
                throw invalid("Invalid value: '" + type + "'. Supported values are: 'text', 'json_object' and "
                    + "'json_schema'.", "response_format.type");
            }
            if (type.equals("json_schema") && !(f.getValue("json_schema") instanceof JsonObject schema
                && schema.getValue("name") instanceof String)) {
                throw invalid("response_format.json_schema must be an object with a name (and the schema).",
                    "response_format.json_schema");
            }
            if (!type.equals("text")) {
                needs.add(new Need("structured_output", "response_format", "does not support structured output"));
            }
        }
        if (thinking) {
            needs.add(new Need("thinking", "enable_thinking", "does not support thinking"));
        }
        if (search) {
            needs.add(new Need("search", "enable_search", "does not support search"));
        }
        image:
        for (int i = 0; i < messages.size(); i++) {
            if (messages.getJsonObject(i).getValue("content") instanceof JsonArray parts) {
                for (int j = 0; j < parts.size(); j++) {
                    if ("image_url".equals(parts.getJsonObject(j).getValue("type"))) {
                        String at = "messages[" + i + "].content[" + j + "]";
                        needs.add(new Need("vision", at, "does not accept images"));
                        break image;
                    }
                }
            }
        }
        return needs;
    }

    /** Refuses the first capability the request uses that the model lacks. */
    private static void checkCapabilities(List<Need> needs, Model model) {
        for (Need need : needs) {
            if (!model.supports(need.capability())) {
                throw unsupported("The model '" + model.id() + "' " + need.lacking() + ".", need.param());
            }
        }
    }

    /** Each tool an object with a type; a function tool names its function. */
    private static void checkTools(JsonArray tools) {
        for (int i = 0; i < tools.size(); i++) {
            String at = "tools[" + i + "]";
            if (!(tools.getValue(i) instanceof JsonObject tool) || !(tool.getValue("type") instanceof String type)) {
                throw invalid(at + " must be an object with a type.", at);
            }
            if (type.equals("function") && !(tool.getValue("function") instanceof JsonObject function
                && function.getValue("name") instanceof String name && !name.isEmpty())) {
                throw invalid(at + ".function.name is required for a function tool.", at + ".function.name");
            }
        }
    }

    /**
     * none, auto, required, or an object naming the tool ({@code {"type":"function","function":{"name":…}}},
     * or a custom tool's {@code {"type":"custom","custom":{"name":…}}}); required and a named tool only
     * with tools, the tool one of theirs, as OpenAI has it.
     */
    private static void checkToolChoice(Object choice, Object tools) {
        if (choice == null || "none".equals(choice) || "auto".equals(choice)) {
            return;
        }
        if ("required".equals(choice)) {
            if (!(tools instanceof JsonArray array) || array.isEmpty()) {
                throw invalid("tool_choice 'required' is only allowed when tools are specified.", "tool_choice");
            }
            return;
        }
        if (choice instanceof JsonObject object && object.getValue("type") instanceof String type) {
            if (type.equals("custom") && object.getValue("custom") instanceof JsonObject custom
                && custom.getValue("name") instanceof String name) {
                checkNamed(name, tools, "tool_choice", t -> t instanceof JsonObject tool
                    && "custom".equals(tool.getValue("type")) && tool.getValue("custom") instanceof JsonObject c
                    ? c.getValue("name") : null);
                return;
            }
            if (!type.equals("function")) {
                return;
            }
            if (object.getValue("function") instanceof JsonObject function
                && function.getValue("name") instanceof String name) {
                checkNamed(name, tools, "tool_choice", f -> f instanceof JsonObject tool
                    && tool.getValue("function") instanceof JsonObject fn ? fn.getValue("name") : null);
                return;
            }
        }
        throw invalid("tool_choice must be none, auto, required, or an object naming a function.", "tool_choice");
    }

    /** A function {@code field} names is one of {@code declared} (tools or functions), by the name each has. */
    private static void checkNamed(String name, Object declared, String field, Function<Object, Object> nameOf) {
        if (declared instanceof JsonArray array && array.stream().anyMatch(d -> name.equals(nameOf.apply(d)))) {
            return;
        }
        throw invalid(field + " names the function '" + name + "', which is not among the request's "
            + (field.equals("tool_choice") ? "tools" : "functions") + ".", field);
    }

    /** The deprecated form of tool_choice: none, auto, or an object naming one of the functions. */
    private static void checkFunctionCall(Object call, Object functions) {
        if (call == null || "none".equals(call) || "auto".equals(call)) {
            return;
        }
        if (call instanceof JsonObject object && object.getValue("name") instanceof String name) {
            checkNamed(name, functions, "function_call", f -> f instanceof JsonObject fn ? fn.getValue("name") : null);
            return;
        }
        throw invalid("function_call must be none, auto, or an object naming a function.", "function_call");
    }

    /** Any 64-bit integer. */
    private static void checkSeed(Object seed) {
        if (seed != null && !(seed instanceof Integer || seed instanceof Long)) {
            throw invalid("seed must be an integer.", "seed");
        }
    }

    /** Token ids to biases from -100 to 100. */
    private static void checkLogitBias(Object bias) {
        if (bias == null) {
            return;
        }
        if (bias instanceof JsonObject map && map.stream().allMatch(e -> e.getValue() instanceof Number n
            && n.doubleValue() >= -100 && n.doubleValue() <= 100)) {
            return;
        }
        throw invalid("logit_bias must be an object of token ids to numbers from -100 to 100.", "logit_bias");
    }

    private static void checkStop(Object stop) {
        if (stop == null || stop instanceof String) {
            return;
        }
        if (stop instanceof JsonArray array && array.size() <= 4 && array.stream().allMatch(s -> s instanceof String)) {
            return;
        }
        throw invalid("stop must be a string or an array of up to 4 strings.", "stop");
    }

    static String requiredString(JsonObject body, String field) {
        Object value = body.getValue(field);
        if (value == null) {
            throw invalid("Missing required parameter: '" + field + "'.", field);
        }
        if (!(value instanceof String s) || s.isBlank()) {
            throw invalid(field + " must be a non-empty string.", field);
        }
        return s;
    }

    static boolean optionalBoolean(JsonObject body, String field, boolean fallback) {
        return optionalBoolean(body, field, fallback, field);
    }

    private static boolean optionalBoolean(JsonObject body, String field, boolean fallback, String param) {
        Object value = body.getValue(field);
        if (value == null) {
            return fallback;
        }
        if (!(value instanceof Boolean b)) {
            throw invalid(param + " must be a boolean.", param);
        }
        return b;
    }

    static Integer optionalInt(JsonObject body, String field, int min) {
        Object value = body.getValue(field);
        if (value == null) {
            return null;
        }
        if (!(value instanceof Integer || value instanceof Long) || ((Number) value).longValue() < min
            || ((Number) value).longValue() > Integer.MAX_VALUE) {
            throw invalid(field + " must be an integer" + (min > Integer.MIN_VALUE ? " of at least " + min : "")
                + ".", field);
        }
        return ((Number) value).intValue();
    }

    private static void checkNumber(JsonObject body, String field, double min, double max) {
        Object value = body.getValue(field);
        if (value == null) {
            return;
        }
        if (!(value instanceof Number n) || n.doubleValue() < min || n.doubleValue() > max
            || Double.isNaN(n.doubleValue())) {
            throw invalid(field + " must be a number between " + min + " and " + max + ".", field);
        }
    }

    static List<String> stringList(JsonObject body, String field) {
        Object value = body.getValue(field);
        if (value == null) {
            return List.of();
        }
        if (!(value instanceof JsonArray array) || !array.stream().allMatch(s -> s instanceof String)) {
            throw invalid(field + " must be an array of strings.", field);
        }
        List<String> out = new ArrayList<>();
        array.forEach(s -> out.add((String) s));
        return out;
    }

    /** "a chat", "an embedding", "a rerank": the article a model type takes. */
    static String article(String type) {
        return ("aeiou".indexOf(type.charAt(0)) >= 0 ? "an " : "a ") + type;
    }

    static RuntimeException invalid(String message, String param) {
        return new InvalidRequest(message, param).toException();
    }

    private static RuntimeException unsupported(String message, String param) {
        return new UnsupportedParameter(message, param).toException();
    }

    static ApiError malformedJson() {
        return new InvalidRequest("We could not parse the JSON body of your request. The OpenAI API expects a "
            + "JSON payload.", null);
    }
}
