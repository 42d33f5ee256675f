package io.tokenhub.core;

import java.security.SecureRandom;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Random identifiers in base62: secrets and stored ids from one {@link SecureRandom}; request ids,
 * made for every request on every event loop, from {@link ThreadLocalRandom}, which takes no lock
 * (a request id names a request in logs and records, it guards nothing).
 */
public final class Ids {

    private static final char[] BASE62 =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".toCharArray();
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String REQUEST_PREFIX = "req_";
    private static final int REQUEST_RANDOM = 24;

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
        char[] id = new char[REQUEST_PREFIX.length() + REQUEST_RANDOM];
        REQUEST_PREFIX.getChars(0, REQUEST_PREFIX.length(), id, 0);
        ThreadLocalRandom random = ThreadLocalRandom.current();
        for (int i = REQUEST_PREFIX.length(); i < id.length; i++) {
            id[i] = BASE62[random.nextInt(BASE62.length)];
        }
        return new String(id);
    }
}
