package io.tokenhub.provider.mock;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The {@code logprobs} of a mock answer's content, in OpenAI's shape, for a request with
 * {@code logprobs: true}: each token with its log probability and UTF-8 bytes, and its
 * {@code top_logprobs} most likely tokens (the chosen one first). An entry is a piece as the mock
 * streams it: a token, or the few tokens of a character that spans them (where OpenAI gives one
 * entry per token, with part of the character's bytes). The numbers are made up but
 * deterministic and consistent: the chosen token's probability lies between 0.6 and 0.99, the
 * alternatives share the rest, halving in turn, so the probabilities never sum above one.
 */
final class MockLogprobs {

    /** Common tokens offered as alternatives: 20 (OpenAI's most for {@code top_logprobs}) besides the chosen. */
    private static final List<String> ALTERNATIVES = List.of(" the", ",", " a", ".", " and", " to", " of", " in",
        " is", " that", " it", " for", " you", " with", " on", " as", " are", " this", " be", " at", " I");

    private final int top;

    private MockLogprobs(int top) {
        this.top = top;
    }

    /** For a request that asks for log probabilities, else null. */
    static MockLogprobs asked(JsonObject body) {
        if (!Boolean.TRUE.equals(body.getValue("logprobs"))) {
            return null;
        }
        return new MockLogprobs(body.getValue("top_logprobs") instanceof Number n ? n.intValue() : 0);
    }

    /** The {@code logprobs} object of a choice or a chunk: its content tokens, or null content for none. */
    JsonObject of(List<String> tokens) {
        JsonArray content = new JsonArray();
        tokens.forEach(token -> content.add(entry(token)));
        return new JsonObject().put("content", tokens.isEmpty() ? null : content).put("refusal", null);
    }

    private JsonObject entry(String token) {
        double chosen = 0.6 + 0.39 * ((token.hashCode() & 0x7fffffff) % 1000) / 1000.0;
        JsonObject entry = tokenLogprob(token, Math.log(chosen));
        JsonArray alternatives = new JsonArray();
        if (top > 0) {
            alternatives.add(tokenLogprob(token, Math.log(chosen)));
        }
        double rest = 1 - chosen;
        for (int i = 0; alternatives.size() < top && i < ALTERNATIVES.size(); i++) {
            String other = ALTERNATIVES.get(i);
            if (!other.equals(token)) {
                rest /= 2;
                alternatives.add(tokenLogprob(other, Math.log(rest)));
            }
        }
        return entry.put("top_logprobs", alternatives);
    }

    private static JsonObject tokenLogprob(String token, double logprob) {
        JsonArray bytes = new JsonArray();
        for (byte b : token.getBytes(StandardCharsets.UTF_8)) {
            bytes.add(b & 0xff);
        }
        return new JsonObject().put("token", token).put("logprob", logprob).put("bytes", bytes);
    }
}
