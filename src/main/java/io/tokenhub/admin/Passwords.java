package io.tokenhub.admin;

import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;

/** PBKDF2-SHA256 password hashes. Deliberately slow: call off the event loop. */
final class Passwords {

    private static final int ITERATIONS = 210_000;
    private static final SecureRandom RANDOM = new SecureRandom();
    /** Threads hashing and checking passwords at once, for the admin API and the console together. */
    private static final int THREADS = 2;

    private Passwords() {
    }

    /**
     * Where to hash and check passwords: a worker pool of {@value #THREADS} threads, shared by the
     * admin API and the console. Each hash holds a core for its {@value #ITERATIONS} iterations, so a
     * burst of sign-ins or of new accounts takes two at most, and leaves Vert.x's shared worker pool
     * (the other blocking work) alone.
     */
    static WorkerExecutor executor(Vertx vertx) {
        return vertx.createSharedWorkerExecutor("tokenhub-passwords", THREADS);
    }

    static String hash(String password) throws GeneralSecurityException {
        byte[] salt = new byte[16];
        RANDOM.nextBytes(salt);
        byte[] hash = derive(password, salt, ITERATIONS);
        Base64.Encoder b64 = Base64.getEncoder();
        return "pbkdf2-sha256$" + ITERATIONS + "$" + b64.encodeToString(salt) + "$" + b64.encodeToString(hash);
    }

    /** Whether {@code password} is the one {@code stored} (a {@link #hash}) was made from; constant time. */
    static boolean verify(String password, String stored) throws GeneralSecurityException {
        String[] parts = stored == null ? new String[0] : stored.split("\\$");
        if (parts.length != 4 || !parts[0].equals("pbkdf2-sha256")) {
            return false;
        }
        try {
            Base64.Decoder b64 = Base64.getDecoder();
            byte[] expected = b64.decode(parts[3]);
            byte[] actual = derive(password, b64.decode(parts[2]), Integer.parseInt(parts[1]));
            return MessageDigest.isEqual(expected, actual);
        } catch (IllegalArgumentException damaged) {
            // A stored hash that is not one of ours (NumberFormatException is one too): no password matches it.
            return false;
        }
    }

    private static byte[] derive(String password, byte[] salt, int iterations) throws GeneralSecurityException {
        PBEKeySpec spec = new PBEKeySpec(password.toCharArray(), salt, iterations, 256);
        return SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec).getEncoded();
    }
}
