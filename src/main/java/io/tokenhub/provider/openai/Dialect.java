package io.tokenhub.provider.openai;

import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.util.Arrays;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * How an OpenAI-compatible provider is asked for what TokenHub's extensions request:
 * {@code enable_thinking} (on or off), {@code thinking_budget} and {@code enable_search}. Each
 * provider has its own switch for them, and some refuse a field they do not know (OpenAI answers
 * 400), so they are put in the provider's words. A field the client wrote in the provider's own
 * words ({@code thinking}, {@code chat_template_kwargs}, {@code web_search_options}) wins.
 */
public enum Dialect {
    /** Sent as they came: the extensions are Qwen's own fields, and servers that follow it take them too. */
    PASSTHROUGH,
    /** Alibaba DashScope (Qwen): {@code enable_thinking}, {@code thinking_budget}, {@code enable_search} as sent. */
    QWEN,
    /** DeepSeek: {@code thinking: {type: enabled | disabled}}, which OpenAI's {@code reasoning_effort: none} also sets. */
    DEEPSEEK,
    /** Volcengine Ark (Doubao): {@code thinking: {type: enabled | disabled}}. */
    DOUBAO,
    /** vLLM, SGLang: {@code chat_template_kwargs: {enable_thinking}}, which the model's chat template reads. */
    VLLM,
    /**
     * OpenAI: no switch for thinking (its reasoning models reason unasked and return no reasoning
     * text), search as {@code web_search_options}; the extensions themselves would be refused.
     */
    OPENAI;

    /**
     * TokenHub's extensions of the Chat Completions body, and a top-level {@code cache_control}
     * (Anthropic's automatic caching, which a client may send for a Claude model with an OpenAI
     * fallback): no dialect that translates takes it.
     */
    static final Set<String> EXTENSIONS = Set.of("enable_thinking", "thinking_budget", "enable_search", "cache_control");

    /** {@code dropped} and the extensions, for a provider that takes them in words of its own. */
    static Set<String> withExtensions(Set<String> dropped) {
        return Stream.concat(dropped.stream(), EXTENSIONS.stream()).collect(Collectors.toUnmodifiableSet());
    }

    /** The configured dialect, or the one of a provider known by its host, else {@link #PASSTHROUGH}. */
    public static Dialect of(String configured, String baseUrl) {
        if (configured != null && !configured.isEmpty()) {
            return valueOf(configured.toUpperCase(Locale.ROOT));
        }
        String host = host(baseUrl);
        if (host.endsWith("dashscope.aliyuncs.com") || host.endsWith("dashscope-intl.aliyuncs.com")) {
            return QWEN;
        }
        if (host.endsWith("deepseek.com")) {
            return DEEPSEEK;
        }
        if (host.endsWith("volces.com") || host.endsWith("volcengineapi.com")) {
            return DOUBAO;
        }
        if (host.equals("api.openai.com")) {
            return OPENAI;
        }
        return PASSTHROUGH;
    }

    /** The names a configuration may give. */
    public static Set<String> names() {
        return Arrays.stream(values()).map(d -> d.name().toLowerCase(Locale.ROOT)).collect(Collectors.toSet());
    }

    /** Whether the body uses any of the extensions (checked on every request to a provider that translates). */
    static boolean asked(JsonObject body) {
        for (String extension : EXTENSIONS) {
            if (body.containsKey(extension)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether OpenAI's {@code reasoning_effort: none} turns thinking off in a body for DeepSeek,
     * which thinks unless told not to and has no {@code none} level in its Chat Completions API (its
     * switch is {@code thinking}): the effort is then left out and the switch put in its place.
     */
    boolean offByEffort(JsonObject body) {
        return this == DEEPSEEK && "none".equals(body.getValue("reasoning_effort"));
    }

    /**
     * OpenAI's {@code reasoning_effort} level in this provider's words, or null where it takes the
     * level as sent. DashScope's levels are {@code none}, {@code minimum}, {@code low}, {@code medium},
     * {@code high} and {@code xhigh} (its 400 for {@code minimal} lists them): OpenAI's
     * {@code minimal} is its {@code minimum}. Ark's (Volcengine's Chat API reference) are
     * {@code minimal} (no reasoning), {@code low}, {@code medium} and {@code high}: OpenAI's
     * {@code none} is its {@code minimal}, and the levels above {@code high} (OpenAI's
     * {@code xhigh}, DeepSeek's {@code max}) its {@code high}. (DeepSeek's {@code none} is
     * {@link #offByEffort}.)
     */
    String effortWord(Object level) {
        return switch (this) {
            case QWEN -> "minimal".equals(level) ? "minimum" : null;
            case DOUBAO -> "none".equals(level) ? "minimal"
                : "xhigh".equals(level) || "max".equals(level) ? "high" : null;
            default -> null;
        };
    }

    /** Whether the extensions go upstream as they came. */
    boolean passesThrough() {
        return this == PASSTHROUGH || this == QWEN;
    }

    /**
     * Puts into {@code changed} what the client's extensions ask, in this provider's words; the
     * extensions themselves are then left out of the body (see {@link #EXTENSIONS}).
     */
    void translate(JsonObject body, JsonObject changed) {
        // The parser has seen to it that an effort of none and enable_thinking never disagree.
        Boolean on = body.getValue("enable_thinking") instanceof Boolean stated ? stated
            : offByEffort(body) ? Boolean.FALSE : null;
        if (on != null) {
            switch (this) {
                case DEEPSEEK, DOUBAO -> {
                    if (!body.containsKey("thinking")) {
                        changed.put("thinking", new JsonObject().put("type", on ? "enabled" : "disabled"));
                    }
                }
                case VLLM -> {
                    JsonObject kwargs = body.getValue("chat_template_kwargs") instanceof JsonObject given
                        ? given.copy() : new JsonObject();
                    if (!kwargs.containsKey("enable_thinking")) {
                        changed.put("chat_template_kwargs", kwargs.put("enable_thinking", on));
                    }
                }
                default -> {
                }
            }
        }
        if (this == OPENAI && Boolean.TRUE.equals(body.getValue("enable_search"))
            && !body.containsKey("web_search_options")) {
            changed.put("web_search_options", new JsonObject());
        }
    }

    private static String host(String baseUrl) {
        try {
            String host = URI.create(baseUrl).getHost();
            return host == null ? "" : host.toLowerCase(Locale.ROOT);
        } catch (IllegalArgumentException e) {
            return "";
        }
    }
}
