package io.tokenhub.provider;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

/**
 * Hides a provider's {@code api_key} in words the provider sent (an error message that quotes the
 * key it refused, whole or in part) before they reach a client or the log: every run of
 * {@value #PIECE} or more characters of the key becomes {@code ***}. A key shorter than that is
 * hidden where it appears whole (none under four characters: no real key is, and it would garble
 * the words).
 */
public final class KeyScrub {

    static final int PIECE = 8;
    private static final int SHORTEST = 4;

    private final int piece;
    private final Set<String> pieces = new HashSet<>();

    public KeyScrub(String key) {
        String secret = key == null ? "" : key;
        piece = Math.min(PIECE, secret.length());
        if (secret.length() >= SHORTEST) {
            for (int i = 0; i + piece <= secret.length(); i++) {
                pieces.add(secret.substring(i, i + piece));
            }
        }
    }

    /** The words with every piece of the key in them as {@code ***}. */
    public String scrub(String words) {
        if (pieces.isEmpty() || words == null || words.length() < piece) {
            return words;
        }
        boolean[] hidden = null;
        for (int i = 0; i + piece <= words.length(); i++) {
            if (pieces.contains(words.substring(i, i + piece))) {
                if (hidden == null) {
                    hidden = new boolean[words.length()];
                }
                Arrays.fill(hidden, i, i + piece, true);
            }
        }
        if (hidden == null) {
            return words;
        }
        StringBuilder out = new StringBuilder(words.length());
        for (int i = 0; i < words.length(); i++) {
            if (!hidden[i]) {
                out.append(words.charAt(i));
            } else if (i == 0 || !hidden[i - 1]) {
                out.append("***");
            }
        }
        return out.toString();
    }
}
