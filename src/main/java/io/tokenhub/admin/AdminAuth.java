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
 * Admin credentials: the configured master key (compared in constant time), or an admin key
 * TokenHub generated at bootstrap (looked up by hash, cached briefly).
 */
public final class AdminAuth {

    private final byte[] masterKey;
    private final KeyStore keys;
    private final Cache<String, Boolean> verdicts = Caffeine.newBuilder()
        .maximumSize(1_000).expireAfterWrite(Duration.ofSeconds(30)).build();

    public AdminAuth(String masterKey, KeyStore keys) {
        this.masterKey = masterKey.isEmpty() ? null : masterKey.getBytes(StandardCharsets.UTF_8);
        this.keys = keys;
    }

    public Future<Void> check(String authorization) {
        String token = Authenticator.bearer(authorization);
        if (token == null) {
            return refuse("Missing admin key. Send it as 'Authorization: Bearer <admin key>'.");
        }
        if (masterKey != null && MessageDigest.isEqual(masterKey, token.getBytes(StandardCharsets.UTF_8))) {
            return Future.succeededFuture();
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
