package io.tokenhub.provider.anthropic;

import java.util.Arrays;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * How a Claude model is asked to think, which changed with its generations: a token budget up to
 * Claude 4.5; from 4.6 adaptive thinking, where the model decides how much to think at an effort
 * the caller names (the budget deprecated); from Opus 4.7 adaptive only, with the budget and the
 * sampling parameters refused with a 400. A deployment may name its mode ({@code thinking:} in the
 * config); otherwise it is known from the model's id, Anthropic's ({@code claude-sonnet-4-5},
 * {@code claude-3-7-sonnet-20250219}) or a cloud's ({@code anthropic.claude-opus-4-6-v1},
 * {@code claude-opus-4-1@20250805}). An id without a version is taken for the newest kind: every
 * older model's id has one.
 */
public enum ClaudeThinking {

    /** {@code thinking: {type: enabled, budget_tokens}}. */
    BUDGET,
    /** {@code thinking: {type: adaptive}} with {@code output_config.effort}; a budget still taken. */
    ADAPTIVE,
    /** Adaptive thinking only, and no temperature, top_p or top_k. */
    ADAPTIVE_ONLY;

    /** The major and minor version after {@code claude-}, in either order with the family's name. */
    private static final Pattern VERSION = Pattern.compile("claude-(?:[a-z]+-)?(\\d{1,2})(?:[-.](\\d{1,2})(?!\\d))?");

    /** The names the config takes. */
    public static Set<String> names() {
        return Arrays.stream(values()).map(ClaudeThinking::configName).collect(Collectors.toUnmodifiableSet());
    }

    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Whether the model id says its Claude version (else it is taken for the newest kind). */
    public static boolean versioned(String model) {
        return VERSION.matcher(model.toLowerCase(Locale.ROOT)).find();
    }

    /**
     * @param configured the deployment's {@code thinking}, empty when not set
     * @param model      the model id sent to Anthropic
     */
    public static ClaudeThinking of(String configured, String model) {
        if (configured != null && !configured.isEmpty()) {
            return valueOf(configured.toUpperCase(Locale.ROOT));
        }
        Matcher version = VERSION.matcher(model.toLowerCase(Locale.ROOT));
        if (!version.find()) {
            return ADAPTIVE_ONLY;
        }
        int major = Integer.parseInt(version.group(1));
        int minor = version.group(2) == null ? 0 : Integer.parseInt(version.group(2));
        if (major != 4) {
            return major < 4 ? BUDGET : ADAPTIVE_ONLY;
        }
        return minor < 6 ? BUDGET : minor == 6 ? ADAPTIVE : ADAPTIVE_ONLY;
    }
}
