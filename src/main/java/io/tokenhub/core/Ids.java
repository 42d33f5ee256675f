package io.tokenhub.core;

import java.security.SecureRandom;

/** Random identifiers and secrets in base62, from one {@link SecureRandom}. */
public final class Ids {

    private static final char[] BASE62 =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".toCharArray();
    private static final SecureRandom RANDOM = new SecureRandom();

    private Ids() {
    }

    /** {@code prefix} followed by {@code length} random base62 characters. */
    public static String random(String prefix, int length) {
        StringBuilder out = new StringBuilder(prefix.length() + length).append(prefix);
        byte[] bytes = new byte[length * 2];
        RANDOM.nextBytes(bytes);
        for (int i = 0; out.length() < prefix.length() + length; i++) {
            if (i == bytes.length) {
                RANDOM.nextBytes(bytes);
                i = 0;
            }
            int b = bytes[i] & 0xFF;
            // 248 = 4 * 62: values above it would skew the distribution.
            if (b < 248) {
                out.append(BASE62[b % 62]);
            }
        }
        return out.toString();
    }

    public static boolean isBase62(CharSequence s, int from) {
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z')) {
                return false;
            }
        }
        return true;
    }

    public static String requestId() {
        return random("req_", 24);
    }
}
