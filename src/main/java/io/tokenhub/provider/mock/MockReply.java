package io.tokenhub.provider.mock;

import io.tokenhub.core.TokenCounter;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * What the mock model says in one choice, decided from the request alone (so the same request gets
 * the same answer), cut into tokens for streaming:
 * <ul>
 * <li>{@code enable_thinking}: a reasoning text before the answer;</li>
 * <li>tools: a call of the function {@code tool_choice} names, of the first tool for
 *     {@code required}, and for {@code auto} (or none given) of the first tool whose name the last
 *     user message mentions; never once a {@code tool} message answers that user message, nor for
 *     {@code none}; with {@code allowed_tools}, so among the tools it allows, in its mode. The arguments hold the function's required parameters with placeholder values;
 *     the deprecated {@code functions} and {@code function_call} alike, answered as a
 *     {@code function_call};</li>
 * <li>otherwise text: a greeting echoing the last user message (or the tool's result), as
 *     {@code {"reply": ...}} for {@code json_object} and as a sample of the schema for
 *     {@code json_schema}, cut before the first {@code stop} sequence.</li>
 * </ul>
 * Output stops where the next token would pass {@code max_tokens} (reasoning included), with
 * {@code finish_reason: length}. Tokens are the gateway's tokenizer's, so that the usage reported
 * is what the gateway would count of the same text.
 *
 * @param toolCall    the function called, or null for a text answer
 * @param tokens      completion tokens, reasoning included
 */
record MockReply(List<String> reasoning, List<String> content, ToolCall toolCall, String finishReason, long tokens,
                 long reasoningTokens) {

    /**
     * @param arguments the JSON arguments in the pieces they stream in
     * @param legacy    a call of one of the deprecated {@code functions}: answered as {@code function_call}
     */
    record ToolCall(String name, List<String> arguments, boolean legacy) {
    }

    private static final int ECHO_LIMIT = 200;
    private static final String GREETING = "Hello from TokenHub's mock model. ";

    static MockReply to(JsonObject body, int maxTokens) {
        JsonArray messages = body.getValue("messages") instanceof JsonArray m ? m : new JsonArray();
        String said = clip(lastUserText(messages));
        String toolResult = toolResult(messages);
        JsonObject tool = toolResult == null ? chosenTool(body, said) : null;
        boolean legacy = false;
        if (tool == null && toolResult == null) {
            tool = chosenFunction(body, said);
            legacy = tool != null;
        }
        Budget budget = new Budget(maxTokens);
        boolean thinks = Boolean.TRUE.equals(body.getValue("enable_thinking"))
            || body.getValue("reasoning_effort") instanceof String effort && !effort.equals("none");
        List<String> reasoning = thinks ? budget.take(reasoning(said, tool, toolResult, body)) : List.of();
        long reasoningTokens = budget.used;
        if (tool != null) {
            String name = tool.getString("name");
            if (!budget.fits(TokenCounter.count(name))) {
                return new MockReply(reasoning, List.of(), null, "length", budget.used, reasoningTokens);
            }
            List<String> arguments = budget.take(SchemaSample.object(tool.getValue("parameters")).encode());
            return new MockReply(reasoning, List.of(), new ToolCall(name, arguments, legacy),
                budget.exhausted ? "length" : legacy ? "function_call" : "tool_calls", budget.used, reasoningTokens);
        }
        String text = GREETING + (toolResult == null ? "You said: " + said : "The tool returned: " + toolResult);
        List<String> content = budget.take(beforeStop(formatted(text, body), body.getValue("stop")));
        return new MockReply(reasoning, content, null, budget.exhausted ? "length" : "stop", budget.used,
            reasoningTokens);
    }

    String text() {
        return String.join("", content);
    }

    String reasoningText() {
        return String.join("", reasoning);
    }

    /** Takes tokens while they fit in {@code max_tokens}; once one does not, takes no more. */
    private static final class Budget {
        private final int max;
        private long used;
        private boolean exhausted;

        Budget(int max) {
            this.max = max;
        }

        boolean fits(int tokens) {
            exhausted = exhausted || used + tokens > max;
            if (!exhausted) {
                used += tokens;
            }
            return !exhausted;
        }

        /** As much of {@code text} as fits, in the pieces a model would stream it in. */
        List<String> take(String text) {
            List<String> taken = new ArrayList<>();
            for (TokenCounter.Piece piece : TokenCounter.pieces(text)) {
                if (!fits(piece.tokens())) {
                    break;
                }
                taken.add(piece.text());
            }
            return taken;
        }
    }

    private static String reasoning(String said, JsonObject tool, String toolResult, JsonObject body) {
        String plan;
        if (tool != null) {
            plan = "The function " + tool.getString("name") + " can help, so I will call it.";
        } else if (toolResult != null) {
            plan = "The tool has answered, so I will pass its result on.";
        } else if (jsonFormat(body) != null) {
            plan = "The answer must be JSON, so I will write an object.";
        } else {
            plan = "I will greet them and repeat what they said.";
        }
        return "The user wrote: \"" + said + "\". " + plan;
    }

    private static String formatted(String text, JsonObject body) {
        JsonObject format = jsonFormat(body);
        if (format == null) {
            return text;
        }
        if (format.getValue("type").equals("json_object")) {
            return new JsonObject().put("reply", text).encode();
        }
        Object schema = format.getValue("json_schema") instanceof JsonObject spec ? spec.getValue("schema") : null;
        return SchemaSample.object(schema).encode();
    }

    /** {@code response_format} when it asks for JSON, else null. */
    private static JsonObject jsonFormat(JsonObject body) {
        return body.getValue("response_format") instanceof JsonObject format
            && ("json_object".equals(format.getValue("type")) || "json_schema".equals(format.getValue("type")))
            ? format : null;
    }

    /** The text up to the earliest of the stop sequences (a string or an array of them). */
    private static String beforeStop(String text, Object stop) {
        Iterable<?> sequences = stop instanceof JsonArray list ? list : stop == null ? List.of() : List.of(stop);
        int end = text.length();
        for (Object sequence : sequences) {
            int at = sequence instanceof String s && !s.isEmpty() ? text.indexOf(s) : -1;
            if (at >= 0 && at < end) {
                end = at;
            }
        }
        return text.substring(0, end);
    }

    /** The {@code function} of the tool to call, or null to answer in text. */
    private static JsonObject chosenTool(JsonObject body, String said) {
        List<JsonObject> functions = new ArrayList<>();
        if (body.getValue("tools") instanceof JsonArray tools) {
            for (Object t : tools) {
                if (t instanceof JsonObject tool && "function".equals(tool.getValue("type"))
                    && tool.getValue("function") instanceof JsonObject f && f.getValue("name") instanceof String) {
                    functions.add(f);
                }
            }
        }
        if (functions.isEmpty()) {
            return null;
        }
        Object choice = body.getValue("tool_choice");
        if (choice instanceof JsonObject object && object.getValue("allowed_tools") instanceof JsonObject allowed) {
            // OpenAI's allowed_tools: a subset of the tools, in mode auto or required
            Set<Object> names = allowed.getValue("tools") instanceof JsonArray tools ? tools.stream()
                .map(t -> t instanceof JsonObject tool && tool.getValue("function") instanceof JsonObject f
                    ? f.getValue("name") : t instanceof JsonObject tool ? tool.getValue("name") : null)
                .collect(Collectors.toSet()) : Set.of();
            functions.removeIf(f -> !names.contains(f.getValue("name")));
            choice = allowed.getValue("mode", "auto");
            if (functions.isEmpty()) {
                return null;
            }
        }
        if ("required".equals(choice)) {
            return functions.get(0);
        }
        if (choice instanceof JsonObject named && named.getValue("function") instanceof JsonObject f) {
            return pick(functions, f, said);
        }
        return pick(functions, choice, said);
    }

    /**
     * The deprecated form: the one of {@code functions} that {@code function_call} names, or for
     * {@code auto} (or none given) the first whose name the last user message mentions; null to
     * answer in text.
     */
    private static JsonObject chosenFunction(JsonObject body, String said) {
        List<JsonObject> functions = new ArrayList<>();
        if (body.getValue("functions") instanceof JsonArray declared) {
            for (Object f : declared) {
                if (f instanceof JsonObject function && function.getValue("name") instanceof String) {
                    functions.add(function);
                }
            }
        }
        return functions.isEmpty() ? null : pick(functions, body.getValue("function_call"), said);
    }

    /** The function {@code choice} names, else for {@code auto} (or null) the first one mentioned. */
    private static JsonObject pick(List<JsonObject> functions, Object choice, String said) {
        if (choice instanceof JsonObject named && named.getValue("name") instanceof String name) {
            return functions.stream().filter(fn -> fn.getValue("name").equals(name)).findFirst().orElse(null);
        }
        if (choice != null && !"auto".equals(choice)) {
            return null;
        }
        String lower = said.toLowerCase(Locale.ROOT);
        return functions.stream().filter(f -> lower.contains(f.getString("name").toLowerCase(Locale.ROOT)))
            .findFirst().orElse(null);
    }

    /** The content of the last tool message after the last user message; null if there is none. */
    private static String toolResult(JsonArray messages) {
        for (int i = messages.size() - 1; i >= 0; i--) {
            if (messages.getValue(i) instanceof JsonObject m) {
                if ("user".equals(m.getValue("role"))) {
                    return null;
                }
                if ("tool".equals(m.getValue("role")) || "function".equals(m.getValue("role"))) {
                    return clip(text(m.getValue("content")));
                }
            }
        }
        return null;
    }

    private static String lastUserText(JsonArray messages) {
        for (int i = messages.size() - 1; i >= 0; i--) {
            if (messages.getValue(i) instanceof JsonObject m && "user".equals(m.getValue("role"))) {
                return text(m.getValue("content"));
            }
        }
        return "";
    }

    /** A message's text: its content string, or its text parts joined. */
    private static String text(Object content) {
        if (content instanceof String s) {
            return s;
        }
        StringBuilder out = new StringBuilder();
        if (content instanceof JsonArray parts) {
            for (Object p : parts) {
                if (p instanceof JsonObject part && part.getValue("text") instanceof String t) {
                    out.append(t);
                }
            }
        }
        return out.toString();
    }

    private static String clip(String text) {
        if (text.length() <= ECHO_LIMIT) {
            return text;
        }
        // Never half a surrogate pair, which no tokenizer or client could make sense of.
        int end = Character.isHighSurrogate(text.charAt(ECHO_LIMIT - 1)) ? ECHO_LIMIT - 1 : ECHO_LIMIT;
        return text.substring(0, end) + "…";
    }
}
