package io.tokenhub.admin;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.tokenhub.auth.Authenticator;
import io.tokenhub.auth.KeyStore;
import io.tokenhub.core.ApiError.InvalidApiKey;
import io.vertx.core.Future;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;

/**
 * Admin credentials: the configured master key (compared in constant time), or, while no master key
 * is configured and bootstrap is on, the admin key TokenHub generated at its first start (looked up
 * by hash, cached briefly). Setting a master key retires the printed one; with neither, the admin
 * API is off.
 */
public final class AdminAuth {

    private final byte[] masterKey;
    /** Where the printed admin key is looked up; null when it is not a credential (see above). */
    private final KeyStore keys;
    private final Cache<String, Boolean> verdicts = Caffeine.newBuilder()
        .maximumSize(1_000).expireAfterWrite(Duration.ofSeconds(30)).build();

    public AdminAuth(String masterKey, boolean bootstrap, KeyStore keys) {
        this.masterKey = masterKey.isEmpty() ? null : masterKey.getBytes(StandardCharsets.UTF_8);
        this.keys = masterKey.isEmpty() && bootstrap ? keys : null;
    }

    public Future<Void> check(String authorization) {
        String token = Authenticator.bearer(authorization);
        if (token == null) {
            return refuse("Missing admin key. Send it as 'Authorization: Bearer <admin key>'.");
        }
        if (masterKey != null && MessageDigest.isEqual(masterKey, token.getBytes(StandardCharsets.UTF_8))) {
            return Future.succeededFuture();
        }
        if (keys == null) {
            // Said as it is, so that an operator does not hunt for a key that cannot work.
            return refuse(masterKey == null ? "The admin API is off on this gateway: admin.master_key is empty and "
                + "admin.bootstrap is false." : "Incorrect admin key provided.");
        }
        Boolean known = verdicts.getIfPresent(token);
        Future<Boolean> verdict = known != null ? Future.succeededFuture(known)
            : keys.isAdminKey(token).onSuccess(v -> verdicts.put(token, v));
        return verdict.compose(ok -> ok ? Future.succeededFuture() : refuse("Incorrect admin key provided."));
    }

    private static Future<Void> refuse(String message) {
        return Future.failedFuture(new InvalidApiKey(message).toException());
    }
}
