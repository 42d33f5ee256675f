package io.tokenhub.core;

import java.security.SecureRandom;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Random identifiers in base62: secrets and stored ids from one {@link SecureRandom}; request ids,
 * made for every request on every event loop, from {@link ThreadLocalRandom}, which takes no lock
 * (a request id names a request in logs and records, it guards nothing).
 *
 * <p>A request id starts with the time it was made, so ids sort by time: usage records, keyed by
 * request id, then go in at the end of their primary key, on pages PostgreSQL has at hand, instead
 * of anywhere in it (with random ids, each insert took about a sixth longer at a million records).
 * The time is in base 36 with lower-case letters, which sorts the same under the C collation and
 * under the language ones (en_US compares upper and lower case as one letter first).
 */
public final class Ids {

    private static final char[] BASE62 =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".toCharArray();
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String REQUEST_PREFIX = "req_";
    private static final char[] BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz".toCharArray();
    /** Milliseconds since 1970 in base 36, fixed width: enough until the year 5188. */
    private static final int REQUEST_TIME = 9;
    private static final int REQUEST_RANDOM = 16;

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
        return requestId(System.currentTimeMillis());
    }

    /** {@code req_}, the time in base 36, then random base62 characters. */
    static String requestId(long epochMillis) {
        int timeStart = REQUEST_PREFIX.length();
        int randomStart = timeStart + REQUEST_TIME;
        char[] id = new char[randomStart + REQUEST_RANDOM];
        REQUEST_PREFIX.getChars(0, timeStart, id, 0);
        long time = epochMillis;
        for (int i = randomStart - 1; i >= timeStart; i--) {
            id[i] = BASE36[(int) (time % BASE36.length)];
            time /= BASE36.length;
        }
        ThreadLocalRandom random = ThreadLocalRandom.current();
        for (int i = randomStart; i < id.length; i++) {
            id[i] = BASE62[random.nextInt(BASE62.length)];
        }
        return new String(id);
    }
}
