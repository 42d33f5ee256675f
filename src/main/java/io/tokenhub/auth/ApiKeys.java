package io.tokenhub.auth;

import io.tokenhub.core.Ids;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/** The shape of TokenHub keys: {@code th-} + 40 base62 characters, stored only as SHA-256. */
public final class ApiKeys {

    public static final String PREFIX = "th-";
    public static final String ADMIN_PREFIX = "tha-";
    static final int RANDOM_LENGTH = 40;
    /** Characters shown in listings: enough to tell keys apart, far too few to guess one. */
    static final int SHOWN_LENGTH = 10;

    private ApiKeys() {
    }

    public static String newKey() {
        return Ids.random(PREFIX, RANDOM_LENGTH);
    }

    public static String newAdminKey() {
        return Ids.random(ADMIN_PREFIX, RANDOM_LENGTH);
    }

    /** A cheap check that rejects anything that could not be a key before any lookup is made. */
    public static boolean wellFormed(String key) {
        return key.startsWith(PREFIX) && key.length() >= PREFIX.length() + 32 && key.length() <= 128
            && Ids.isBase62(key, PREFIX.length());
    }

    /** The key's first characters, a true prefix of it (no ellipsis), so a listed key can be matched to one held. */
    public static String shownPrefix(String key) {
        return key.substring(0, Math.min(key.length(), SHOWN_LENGTH));
    }

    public static byte[] sha256(String key) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }
}
