package io.tokenhub.provider.anthropic;

import io.tokenhub.provider.ProviderAdapter;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Translates an OpenAI Chat Completions request body into an Anthropic Messages request body.
 *
 * <p>Pure and synchronous: no I/O, the input is never mutated. Anything the client sent that
 * Anthropic cannot honour either raises {@link Unsupported} (when silently dropping it would change
 * the answer, e.g. {@code n > 1}, {@code response_format}) or is dropped (when it only tunes
 * sampling, e.g. {@code seed}, {@code frequency_penalty}); a request that is
 * wrong in itself raises {@link IllegalArgumentException}. Messages start with the parameter's path.
 */
public final class AnthropicRequests {

    /** Anthropic rejects thinking budgets below this. */
    static final int MIN_THINKING_BUDGET = 1024;

    /** Anthropic refuses a request with more blocks marked for the prompt cache. */
    private static final int MAX_CACHE_BREAKPOINTS = 4;

    /** The media types Anthropic's image blocks take. */
    private static final Set<String> IMAGE_TYPES = Set.of("image/jpeg", "image/png", "image/gif",
        "image/webp");

    /** A valid request using something this provider does not offer (another provider may). */
    static final class Unsupported extends IllegalArgumentException {
        Unsupported(String message) {
            super(message);
        }
    }

    /** Anthropic accepts top_p only in this range while extended thinking is on. */
    private static final double MIN_TOP_P_WITH_THINKING = 0.95;
    private static final Pattern INVALID_ID_CHARACTERS = Pattern.compile("[^a-zA-Z0-9_-]");

    private AnthropicRequests() {
    }

    /**
     * The model a request goes to, and how it is asked for what the OpenAI format does not name.
     *
     * @param model              the Anthropic model id to call
     * @param thinking           how that model is asked to think
     * @param cacheAutomatically whether a request that marks nothing for Anthropic's prompt cache
     *                           is cached automatically (the provider's {@code prompt_caching})
     */
    public record Target(String model, ClaudeThinking thinking, boolean cacheAutomatically) {

        /** A model whose way of thinking is known from its id, cached only where the request says. */
        public static Target of(String model) {
            return new Target(model, ClaudeThinking.of("", model), false);
        }
    }

    /** The request for a model whose way of thinking is known from its id. */
    public static JsonObject toAnthropic(JsonObject openAiRequest, String upstreamModel, int maxTokens, boolean stream) {
        return toAnthropic(openAiRequest, Target.of(upstreamModel), maxTokens, stream);
    }

    /**
     * @param openAiRequest the client's Chat Completions body
     * @param target        the model to call, and how
     * @param maxTokens     the output cap already resolved by the caller; it wins over the
     *                      request's own max_tokens / max_completion_tokens
     * @param stream        whether to ask Anthropic for an SSE stream
     */
    public static JsonObject toAnthropic(JsonObject openAiRequest, Target target, int maxTokens, boolean stream) {
        rejectUnsupported(openAiRequest);
        JsonArray messages = openAiRequest.getJsonArray("messages", new JsonArray());

        JsonObject out = new JsonObject().put("model", target.model()).put("max_tokens", maxTokens);
        Object system = collectSystem(messages);
        if (system != null) {
            out.put("system", system);
        }
        JsonArray converted = convertMessages(messages);
        out.put("messages", converted);
        boolean prefill = !converted.isEmpty()
            && "assistant".equals(converted.getJsonObject(converted.size() - 1).getString("role"));
        if (prefill && target.thinking() != ClaudeThinking.BUDGET) {
            // Claude 4.6 and later refuse to continue an assistant message: another candidate may.
            throw new Unsupported("messages: a conversation that ends with an assistant message (a prefill) is not "
                + "supported by this provider's model");
        }

        boolean thinking = applyThinking(openAiRequest, out, target.thinking(), maxTokens, prefill);
        applySampling(openAiRequest, out, thinking, target.thinking());
        applyStop(openAiRequest, out);
        applyTools(openAiRequest, out);
        applyCaching(openAiRequest, out, target.cacheAutomatically());
        applyUser(openAiRequest, out);
        out.put("stream", stream);
        return out;
    }

    private static void rejectUnsupported(JsonObject req) {
        Object n = req.getValue("n");
        if (n instanceof Number num && num.intValue() > 1) {
            // Anthropic returns exactly one candidate; faking n would bill the client for copies.
            throw new Unsupported("n > 1 is not supported by this provider");
        }
        // The answer would come back as tool_calls, which a client of the deprecated functions does not read.
        for (String legacy : new String[] {"functions", "function_call"}) {
            if (req.getValue(legacy) != null) {
                throw new Unsupported(legacy + ": the deprecated functions are not supported by this provider; "
                    + "send tools and tool_choice instead");
            }
        }
        // Claude answers in text only: dropped, a client asking for speech would get none.
        String audio = ProviderAdapter.audioOutputAsked(req);
        if (audio != null) {
            throw new Unsupported(audio + ": audio output is not supported by this provider");
        }
        // Anthropic's web search is a server tool billed per search, at a price no catalog entry has:
        // dropped, the answer would come from the model's memory with no word why.
        if (Boolean.TRUE.equals(req.getValue("enable_search"))) {
            throw new Unsupported("enable_search: web search is not supported by this provider");
        }
        // Claude gives no log probabilities: dropped, a client that reads them would find null.
        if (Boolean.TRUE.equals(req.getValue("logprobs"))) {
            throw new Unsupported("logprobs: log probabilities are not supported by this provider");
        }
        // JSON mode and schemas have no counterpart in the Messages API: dropped, the answer would be prose.
        if (req.getValue("response_format") instanceof JsonObject format && !"text".equals(format.getString("type"))) {
            throw new Unsupported("response_format: type '" + format.getString("type")
                + "' is not supported by this provider");
        }
    }

    // ---- system ------------------------------------------------------------------------------

    /**
     * Anthropic has no system role inside messages, so every system/developer turn is hoisted: one
     * string, or text blocks when a part is marked for the prompt cache (the mark stays on its block).
     */
    private static Object collectSystem(JsonArray messages) {
        List<JsonObject> blocks = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        boolean marked = false;
        for (int i = 0; i < messages.size(); i++) {
            JsonObject msg = messages.getJsonObject(i);
            if (!isSystemRole(msg.getString("role"))) {
                continue;
            }
            String param = "messages[" + i + "]";
            int first = blocks.size();
            Object content = msg.getValue("content");
            if (content instanceof JsonArray parts) {
                for (int j = 0; j < parts.size(); j++) {
                    JsonObject part = parts.getJsonObject(j);
                    if (!"text".equals(part.getString("type"))) {
                        throw new IllegalArgumentException(param + ".content[" + j + "]: only text parts are allowed here");
                    }
                    int before = blocks.size();
                    addText(blocks, part.getString("text", ""));
                    marked |= markLast(blocks, before, part, param + ".content[" + j + "]");
                }
            } else if (content == null || content instanceof String) {
                addText(blocks, (String) content);
            } else {
                throw new IllegalArgumentException(param + ".content must be a string or an array of content parts");
            }
            marked |= markLast(blocks, first, msg, param);
            // As one string, a message's parts run on and messages are paragraphs.
            StringBuilder text = new StringBuilder();
            blocks.subList(first, blocks.size()).forEach(block -> text.append(block.getString("text")));
            if (!text.isEmpty()) {
                texts.add(text.toString());
            }
        }
        if (blocks.isEmpty()) {
            return null;
        }
        return marked ? new JsonArray(new ArrayList<>(blocks)) : String.join("\n\n", texts);
    }

    private static boolean isSystemRole(String role) {
        return "system".equals(role) || "developer".equals(role);
    }

    // ---- messages ----------------------------------------------------------------------------

    private static JsonArray convertMessages(JsonArray messages) {
        JsonArray out = new JsonArray();
        for (int i = 0; i < messages.size(); i++) {
            JsonObject msg = messages.getJsonObject(i);
            String role = msg.getString("role");
            String param = "messages[" + i + "]";
            if (isSystemRole(role)) {
                continue;
            }
            List<JsonObject> blocks = switch (role == null ? "" : role) {
                case "user" -> contentBlocks(msg.getValue("content"), param + ".content");
                case "assistant" -> assistantBlocks(msg, param);
                case "tool" -> List.of(toolResult(msg, param));
                default -> throw new IllegalArgumentException(param + ".role '" + role + "' is not supported");
            };
            // A mark on the message itself (a string's content has no part to carry one) goes on its last block.
            markLast(blocks, 0, msg, param);
            append(out, role.equals("assistant") ? "assistant" : "user", blocks);
        }
        trimPrefill(out);
        return out;
    }

    /**
     * A conversation ending with an assistant message asks Claude to continue it (a prefill), and
     * Anthropic refuses a prefill that ends in whitespace: it is trimmed (what Claude writes next
     * starts where the text ends either way).
     */
    private static void trimPrefill(JsonArray out) {
        JsonObject last = out.isEmpty() ? null : out.getJsonObject(out.size() - 1);
        if (last == null || !"assistant".equals(last.getString("role"))) {
            return;
        }
        JsonArray blocks = last.getJsonArray("content");
        JsonObject block = blocks.getJsonObject(blocks.size() - 1);
        if (!"text".equals(block.getString("type"))) {
            return;
        }
        // Never empty once trimmed: text of only whitespace makes no block (addText).
        block.put("text", block.getString("text").stripTrailing());
    }

    /**
     * Anthropic requires user/assistant alternation, and wants all results of one parallel tool
     * round in a single user turn, so a block list with the same role as the previous turn is
     * folded into it instead of starting a new message.
     */
    private static void append(JsonArray out, String role, List<JsonObject> blocks) {
        if (blocks.isEmpty()) {
            return; // Anthropic rejects messages with empty content
        }
        JsonObject last = out.isEmpty() ? null : out.getJsonObject(out.size() - 1);
        if (last != null && role.equals(last.getString("role"))) {
            blocks.forEach(last.getJsonArray("content")::add);
        } else {
            out.add(new JsonObject().put("role", role).put("content", new JsonArray(new ArrayList<>(blocks))));
        }
    }

    private static List<JsonObject> contentBlocks(Object content, String param) {
        List<JsonObject> blocks = new ArrayList<>();
        if (content == null) {
            return blocks;
        }
        if (content instanceof String s) {
            addText(blocks, s);
            return blocks;
        }
        if (!(content instanceof JsonArray parts)) {
            throw new IllegalArgumentException(param + " must be a string or an array of content parts");
        }
        for (int i = 0; i < parts.size(); i++) {
            JsonObject part = parts.getJsonObject(i);
            String type = part.getString("type");
            String partParam = param + "[" + i + "]";
            int first = blocks.size();
            switch (type == null ? "" : type) {
                case "text" -> addText(blocks, part.getString("text", ""));
                // Assistant refusals replayed as history are just text to Anthropic.
                case "refusal" -> addText(blocks, part.getString("refusal", ""));
                case "image_url" -> blocks.add(imageBlock(part.getValue("image_url"), partParam + ".image_url"));
                default -> throw new Unsupported(partParam + ".type '" + type + "' is not supported by this provider");
            }
            markLast(blocks, first, part, partParam);
        }
        return blocks;
    }

    /**
     * Anthropic rejects text blocks of nothing or only whitespace, which OpenAI clients send freely
     * (and Claude itself answers "\n\n" before its tool calls, which a client sends back).
     */
    private static void addText(List<JsonObject> blocks, String text) {
        if (text != null && !text.isBlank()) {
            blocks.add(new JsonObject().put("type", "text").put("text", text));
        }
    }

    private static JsonObject imageBlock(Object imageUrl, String param) {
        // The spec nests the URL in an object, but some clients send the bare string.
        String url = imageUrl instanceof JsonObject o ? o.getString("url") : imageUrl instanceof String s ? s : null;
        if (url == null || url.isEmpty()) {
            throw new IllegalArgumentException(param + ".url is required");
        }
        JsonObject source;
        if (url.startsWith("data:")) {
            source = dataUrlSource(url, param);
        } else if (url.startsWith("https://") || url.startsWith("http://")) {
            source = new JsonObject().put("type", "url").put("url", url);
        } else {
            throw new IllegalArgumentException(param + ".url must be an http(s) URL or a base64 data: URL");
        }
        return new JsonObject().put("type", "image").put("source", source);
    }

    /** Splits {@code data:<media type>;base64,<payload>}; Anthropic takes only base64 payloads. */
    private static JsonObject dataUrlSource(String url, String param) {
        int comma = url.indexOf(',');
        String header = comma < 0 ? "" : url.substring("data:".length(), comma);
        if (comma < 0 || !header.endsWith(";base64")) {
            throw new IllegalArgumentException(param + ".url: data URLs must be base64-encoded");
        }
        String mediaType = header.substring(0, header.length() - ";base64".length()).toLowerCase(Locale.ROOT);
        if (mediaType.isEmpty()) {
            throw new IllegalArgumentException(param + ".url: data URL has no media type");
        }
        // image/jpg (browsers and many tools write it) and image/pjpeg are JPEG, in Anthropic's word.
        if (mediaType.equals("image/jpg") || mediaType.equals("image/pjpeg")) {
            mediaType = "image/jpeg";
        }
        if (!IMAGE_TYPES.contains(mediaType)) {
            // OpenAI may take what Anthropic does not: another candidate may (it was refused as the client's fault).
            throw new Unsupported(param + ".url: '" + mediaType + "' is not an image type this provider takes; "
                + "send image/jpeg, image/png, image/gif or image/webp");
        }
        return new JsonObject()
            .put("type", "base64")
            .put("media_type", mediaType)
            .put("data", url.substring(comma + 1));
    }

    private static List<JsonObject> assistantBlocks(JsonObject msg, String param) {
        // reasoning_content from earlier turns is dropped: Anthropic only accepts thinking blocks
        // carrying the signature it issued, which the OpenAI format cannot round-trip.
        List<JsonObject> blocks = contentBlocks(msg.getValue("content"), param + ".content");
        JsonArray toolCalls = msg.getJsonArray("tool_calls");
        if (toolCalls != null) {
            for (int i = 0; i < toolCalls.size(); i++) {
                blocks.add(toolUse(toolCalls.getJsonObject(i), param + ".tool_calls[" + i + "]"));
            }
        }
        return blocks;
    }

    private static JsonObject toolUse(JsonObject call, String param) {
        if ("custom".equals(call.getValue("type"))) {
            // Anthropic has no free-form tools: a conversation with one's call goes to another candidate.
            throw new Unsupported(param + ".type 'custom' is not supported by this provider");
        }
        JsonObject fn = call.getJsonObject("function", new JsonObject());
        return new JsonObject()
            .put("type", "tool_use")
            .put("id", toolUseId(call.getString("id")))
            .put("name", fn.getString("name"))
            .put("input", parseArguments(fn.getValue("arguments"), param + ".function.arguments"));
    }

    /**
     * A tool call's id as Anthropic takes it (letters, digits, {@code _} and {@code -}), the same on
     * the call and on its result: another provider's (Kimi's {@code functions.get_weather:0}, say,
     * from before a fallback) would be refused. Anthropic's own pass unchanged.
     */
    static String toolUseId(String id) {
        return id == null ? null : INVALID_ID_CHARACTERS.matcher(id).replaceAll("_");
    }

    /** OpenAI carries tool arguments as a JSON string; Anthropic wants the parsed object. */
    private static JsonObject parseArguments(Object arguments, String param) {
        if (arguments == null || (arguments instanceof String s && s.isBlank())) {
            return new JsonObject(); // no-parameter functions often come back with ""
        }
        if (arguments instanceof JsonObject o) {
            return o;
        }
        try {
            return new JsonObject(arguments.toString());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(param + " is not a valid JSON object: " + e.getMessage(), e);
        }
    }

    private static JsonObject toolResult(JsonObject msg, String param) {
        String toolCallId = msg.getString("tool_call_id");
        if (toolCallId == null) {
            throw new IllegalArgumentException(param + ".tool_call_id is required for role 'tool'");
        }
        JsonObject block = new JsonObject().put("type", "tool_result").put("tool_use_id", toolUseId(toolCallId));
        Object content = msg.getValue("content");
        if (content instanceof JsonArray) {
            List<JsonObject> parts = contentBlocks(content, param + ".content");
            if (!parts.isEmpty()) {
                block.put("content", new JsonArray(new ArrayList<>(parts)));
            }
        } else if (content != null && !content.toString().isBlank()) {
            // content is optional on tool_result, and an empty text block would be rejected
            block.put("content", content.toString());
        }
        return block;
    }

    // ---- generation parameters ---------------------------------------------------------------

    /**
     * Returns whether thinking was enabled, because that constrains the sampling parameters.
     * {@code enable_thinking: true} asks for it, and what Anthropic cannot do with it is refused. A
     * {@code reasoning_effort} above {@code none} alone wishes for it where thinking is adaptive
     * (every Claude since 4.6 thinks; an older one may not, and is not asked), and is let go where
     * thinking cannot be had (a forced tool, a tool turn going on); it sets the effort either way.
     * The output cap stays the caller's: as at OpenAI, it counts the reasoning too (and the request
     * was reserved and rate limited on it), so a budget must fit under it, as Anthropic also requires.
     */
    private static boolean applyThinking(JsonObject req, JsonObject out, ClaudeThinking mode, int maxTokens,
                                         boolean prefill) {
        String effort = req.getValue("reasoning_effort") instanceof String level && !level.equals("none") ? level : null;
        if (effort != null && mode != ClaudeThinking.BUDGET) {
            // Effort also steers how much the model writes and how eagerly it calls tools, thinking or not.
            out.put("output_config", new JsonObject().put("effort", effort(effort, mode)));
        }
        boolean asked = Boolean.TRUE.equals(req.getValue("enable_thinking"));
        if (!asked && (effort == null || mode == ClaudeThinking.BUDGET)) {
            return false;
        }
        if (prefill || continuesAToolTurn(req.getJsonArray("messages", new JsonArray()))) {
            // Within a turn, each assistant message must start with the thinking block Anthropic
            // signed, which the OpenAI format cannot carry back; the rest of the turn is answered
            // without thinking (a turn in one mode, as Anthropic requires) instead of refused. A
            // prefill is such a turn: Anthropic takes one only without thinking.
            return false;
        }
        if (forcesATool(req.getValue("tool_choice"))) {
            if (!asked) {
                return false;
            }
            throw new Unsupported("tool_choice: forcing a tool ('required' or a named function) is not supported "
                + "with thinking by this provider; use 'auto'");
        }
        Object budget = asked ? req.getValue("thinking_budget") : null;
        if (mode == ClaudeThinking.ADAPTIVE_ONLY && budget != null) {
            throw new Unsupported("thinking_budget: this model decides how much it thinks (adaptive thinking) and "
                + "takes no budget; send reasoning_effort instead");
        }
        if (mode == ClaudeThinking.BUDGET || budget instanceof Number) {
            out.put("thinking", new JsonObject().put("type", "enabled")
                .put("budget_tokens", budget(budget, effort, maxTokens)));
        } else {
            // Newer models return no thinking text unless asked for its summary; the spec promises it.
            out.put("thinking", new JsonObject().put("type", "adaptive").put("display", "summarized"));
        }
        return true;
    }

    /** A thinking budget: the one asked for, else a share of the output cap that grows with the effort. */
    private static int budget(Object requested, String effort, int maxTokens) {
        if (maxTokens <= MIN_THINKING_BUDGET) {
            throw new IllegalArgumentException("max_tokens: " + maxTokens + " (the model's default when none is "
                + "given) leaves no room to think: with thinking it must be over " + MIN_THINKING_BUDGET
                + ", the least this provider thinks");
        }
        int budget;
        if (requested instanceof Number n) {
            budget = n.intValue();
            if (budget >= maxTokens) {
                throw new IllegalArgumentException("thinking_budget: " + budget + " must be less than max_tokens ("
                    + maxTokens + "), which counts the reasoning too");
            }
        } else if (effort == null || effort.equals("medium")) {
            budget = maxTokens / 2;
        } else if (effort.equals("minimal") || effort.equals("low")) {
            budget = MIN_THINKING_BUDGET;
        } else {
            budget = maxTokens / 4 * 3;
        }
        return Math.max(MIN_THINKING_BUDGET, budget);
    }

    /**
     * OpenAI's effort (or DeepSeek's {@code max}) in Anthropic's words; {@code xhigh} and {@code max}
     * are for the models that think adaptively only (Sonnet 4.6 has no {@code max}).
     */
    private static String effort(String asked, ClaudeThinking mode) {
        boolean newest = mode == ClaudeThinking.ADAPTIVE_ONLY;
        return switch (asked) {
            case "minimal", "low" -> "low";
            case "medium", "high" -> asked;
            case "xhigh", "max" -> newest ? asked : "high";
            default -> throw new Unsupported("reasoning_effort: '" + asked + "' is not supported by this provider; "
                + "send minimal, low, medium, high, xhigh or max");
        };
    }

    /**
     * Whether tool results come after the last assistant message: the model's turn that called the
     * tools goes on, user messages after them too (they join the tool results in one Anthropic user
     * message, whose {@code tool_result} blocks continue the turn). Until 2026-12-07 only a
     * conversation ending with the tool message counted, and one a user message followed (a
     * screenshot sent back) asked Anthropic to think, which it refused.
     */
    private static boolean continuesAToolTurn(JsonArray messages) {
        for (int i = messages.size() - 1; i >= 0; i--) {
            String role = messages.getValue(i) instanceof JsonObject m ? m.getString("role") : null;
            if ("tool".equals(role) || "function".equals(role)) {
                return true;
            }
            if ("assistant".equals(role)) {
                return false;
            }
        }
        return false;
    }

    private static boolean forcesATool(Object choice) {
        return "required".equals(choice) || choice instanceof JsonObject o && "function".equals(o.getValue("type"));
    }

    private static void applySampling(JsonObject req, JsonObject out, boolean thinking, ClaudeThinking mode) {
        if (mode == ClaudeThinking.ADAPTIVE_ONLY) {
            // These models refuse any sampling parameter, and SDKs send a default temperature.
            return;
        }
        Double temperature = number(req, "temperature");
        Double topP = number(req, "top_p");
        // With thinking on, Anthropic rejects any temperature and a top_p below 0.95; many OpenAI
        // SDKs send a default temperature, so drop rather than fail the request.
        boolean sendTemperature = temperature != null && !thinking;
        if (sendTemperature) {
            // OpenAI allows up to 2.0, Anthropic only up to 1.0.
            out.put("temperature", Math.min(1.0, Math.max(0.0, temperature)));
        }
        // Claude 4.1 and later refuse both at once; the temperature, the one Anthropic advises, wins.
        if (topP != null && !sendTemperature && (!thinking || topP >= MIN_TOP_P_WITH_THINKING)) {
            out.put("top_p", topP);
        }
    }

    private static Double number(JsonObject req, String key) {
        Object v = req.getValue(key);
        return v instanceof Number n ? n.doubleValue() : null;
    }

    private static void applyStop(JsonObject req, JsonObject out) {
        Object stop = req.getValue("stop");
        JsonArray candidates = stop instanceof JsonArray arr ? arr : new JsonArray().add(stop);
        JsonArray sequences = new JsonArray();
        for (Object candidate : candidates) {
            // OpenAI tolerates empty and all-whitespace stop strings; Anthropic rejects them.
            if (candidate instanceof String s && !s.isBlank()) {
                sequences.add(s);
            }
        }
        if (!sequences.isEmpty()) {
            out.put("stop_sequences", sequences);
        }
    }

    private static void applyTools(JsonObject req, JsonObject out) {
        JsonArray tools = req.getJsonArray("tools");
        if (tools == null || tools.isEmpty()) {
            return; // a tool_choice without tools has nothing to steer, so it is dropped as well
        }
        JsonArray converted = new JsonArray();
        for (int i = 0; i < tools.size(); i++) {
            converted.add(toolDefinition(tools.getJsonObject(i), "tools[" + i + "]"));
        }
        out.put("tools", converted);
        JsonObject choice = toolChoice(req.getValue("tool_choice"));
        if (Boolean.FALSE.equals(req.getValue("parallel_tool_calls"))) {
            choice = choice == null ? new JsonObject().put("type", "auto") : choice;
            // Anthropic's "none" choice does not take this flag; nothing can run in parallel anyway.
            if (!"none".equals(choice.getString("type"))) {
                choice.put("disable_parallel_tool_use", true);
            }
        }
        if (choice != null) {
            out.put("tool_choice", choice);
        }
    }

    private static JsonObject toolDefinition(JsonObject tool, String param) {
        if (!"function".equals(tool.getString("type", "function"))) {
            throw new Unsupported(param + ".type '" + tool.getString("type") + "' is not supported by this provider");
        }
        JsonObject fn = tool.getJsonObject("function");
        if (fn == null || fn.getString("name") == null) {
            throw new IllegalArgumentException(param + ".function.name is required");
        }
        JsonObject def = new JsonObject().put("name", fn.getString("name"));
        if (fn.getString("description") != null) {
            def.put("description", fn.getString("description"));
        }
        // input_schema is mandatory for Anthropic, with its type, while OpenAI takes parameters
        // without a type, or none at all (Anthropic refused the whole request for {} or a schema of
        // properties alone).
        JsonObject schema = fn.getValue("parameters") instanceof JsonObject given ? given.copy() : new JsonObject();
        if (!schema.containsKey("type")) {
            schema.put("type", "object");
        }
        if ("object".equals(schema.getValue("type")) && !schema.containsKey("properties")) {
            schema.put("properties", new JsonObject());
        }
        def.put("input_schema", schema);
        JsonObject mark = cacheControl(tool.getValue("cache_control"), param + ".cache_control");
        if (mark != null) {
            def.put("cache_control", mark);
        }
        return def;
    }

    private static JsonObject toolChoice(Object choice) {
        if (choice == null) {
            return null;
        }
        if (choice instanceof String s) {
            return switch (s) {
                case "auto" -> new JsonObject().put("type", "auto");
                case "none" -> new JsonObject().put("type", "none");
                case "required" -> new JsonObject().put("type", "any");
                default -> throw new IllegalArgumentException("tool_choice '" + s + "' is not supported");
            };
        }
        if (choice instanceof JsonObject o && "function".equals(o.getString("type"))) {
            String name = o.getJsonObject("function", new JsonObject()).getString("name");
            if (name == null) {
                throw new IllegalArgumentException("tool_choice.function.name is required");
            }
            return new JsonObject().put("type", "tool").put("name", name);
        }
        if (choice instanceof JsonObject o && o.getValue("type") instanceof String type) {
            // OpenAI's allowed_tools, and any choice of a kind to come: another candidate may take it.
            throw new Unsupported("tool_choice of type '" + type + "' is not supported by this provider");
        }
        throw new IllegalArgumentException("tool_choice must be 'auto', 'none', 'required' or a function choice");
    }

    // ---- prompt caching ------------------------------------------------------------------------

    /**
     * Puts a {@code cache_control} the client set on an OpenAI part, message or tool (the
     * convention of gateways in front of Anthropic; OpenAI itself caches unasked) on the last block
     * made from it since {@code first}. Returns whether there was one.
     */
    private static boolean markLast(List<JsonObject> blocks, int first, JsonObject source, String param) {
        JsonObject mark = cacheControl(source.getValue("cache_control"), param + ".cache_control");
        if (mark == null || blocks.size() <= first) {
            return false;
        }
        blocks.get(blocks.size() - 1).put("cache_control", mark);
        return true;
    }

    /**
     * A prompt-cache breakpoint as Anthropic takes it, or null when none is set. Only the
     * five-minute cache: an hour's writes cost Anthropic's users more than the one cache-write price
     * a model has here, so they are refused rather than charged at the wrong price.
     */
    private static JsonObject cacheControl(Object value, String param) {
        if (value == null) {
            return null;
        }
        if (!(value instanceof JsonObject mark) || !"ephemeral".equals(mark.getValue("type"))) {
            throw new IllegalArgumentException(param + " must be {\"type\": \"ephemeral\"}");
        }
        Object ttl = mark.getValue("ttl");
        if (ttl != null && !"5m".equals(ttl)) {
            throw new Unsupported(param + ".ttl '" + ttl + "' is not supported by this provider; "
                + "leave it out for the five-minute cache");
        }
        // Only what Anthropic takes: it refuses fields it does not know.
        JsonObject taken = new JsonObject().put("type", "ephemeral");
        return ttl == null ? taken : taken.put("ttl", ttl);
    }

    /**
     * Anthropic's automatic caching (a {@code cache_control} at the top, which marks the last block
     * and moves along as the conversation grows): as the client asked, or, on a provider that caches
     * automatically, for a request that marks nothing itself. Anthropic takes at most
     * {@value #MAX_CACHE_BREAKPOINTS} marks, the automatic one among them; more is refused here, before
     * a call, in words that name the field.
     */
    private static void applyCaching(JsonObject req, JsonObject out, boolean cacheAutomatically) {
        int marks = marks(out);
        JsonObject asked = cacheControl(req.getValue("cache_control"), "cache_control");
        if (asked != null) {
            out.put("cache_control", asked);
            marks++;
        } else if (cacheAutomatically && marks == 0) {
            out.put("cache_control", new JsonObject().put("type", "ephemeral"));
        }
        if (marks > MAX_CACHE_BREAKPOINTS) {
            throw new Unsupported("cache_control: " + marks + " blocks are marked for the prompt cache (a mark at the "
                + "top of the request counts too); this provider takes at most " + MAX_CACHE_BREAKPOINTS);
        }
    }

    /** How many blocks are marked for the cache: the system prompt's, the messages' (tool results' too) and tools. */
    private static int marks(JsonObject out) {
        int marks = out.getValue("system") instanceof JsonArray system ? marks(system) : 0;
        for (Object message : out.getJsonArray("messages")) {
            marks += marks(((JsonObject) message).getJsonArray("content"));
        }
        return marks + (out.getValue("tools") instanceof JsonArray tools ? marks(tools) : 0);
    }

    private static int marks(JsonArray blocks) {
        int marks = 0;
        for (Object value : blocks) {
            JsonObject block = (JsonObject) value;
            if (block.containsKey("cache_control")) {
                marks++;
            }
            if (block.getValue("content") instanceof JsonArray inner) {
                marks += marks(inner);
            }
        }
        return marks;
    }

    private static void applyUser(JsonObject req, JsonObject out) {
        String user = req.getValue("user") instanceof String s ? s : null;
        if (user != null && !user.isEmpty()) {
            out.put("metadata", new JsonObject().put("user_id", user));
        }
    }
}
