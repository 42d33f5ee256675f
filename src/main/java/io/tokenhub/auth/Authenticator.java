package io.tokenhub.auth;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.tokenhub.core.ApiError.InvalidApiKey;
import io.tokenhub.core.ApiError.Unavailable;
import io.tokenhub.core.OncePer;
import io.vertx.core.Future;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns an {@code Authorization} header into a {@link KeyContext}. Keys are cached by the string
 * presented (so a hot key is neither hashed nor looked up again); revocations and changes arrive
 * through {@link #invalidateKey} and {@link #invalidateAccount}, from the event bus on every node.
 * Unknown keys are cached briefly too, so guessing costs no database round trip per attempt.
 */
public final class Authenticator {

    private static final Logger LOG = LoggerFactory.getLogger(Authenticator.class);
    /** A key store down is said once in a while, not once per request that finds it down. */
    private static final OncePer LOOKUP_FAILURES = new OncePer(10_000);
    private static final Duration KNOWN_TTL = Duration.ofMinutes(5);
    private static final Duration UNKNOWN_TTL = Duration.ofSeconds(30);
    /** The longest a key not cached is looked up for before the request is answered 503. */
    static final long LOOKUP_TIMEOUT_MS = 5_000;

    private final KeyStore store;
    private final Clock clock;
    private final Cache<String, KeyContext> known;
    private final Cache<String, Boolean> unknown;
    /** Bumped by every invalidation, so a look-up that raced with one is not cached. */
    private final AtomicLong generation = new AtomicLong();

    public Authenticator(KeyStore store, Clock clock) {
        this.store = store;
        this.clock = clock;
        this.known = Caffeine.newBuilder().maximumSize(100_000).expireAfterWrite(KNOWN_TTL).build();
        this.unknown = Caffeine.newBuilder().maximumSize(100_000).expireAfterWrite(UNKNOWN_TTL).build();
    }

    public Future<KeyContext> authenticate(String authorization) {
        String key = bearer(authorization);
        if (key == null) {
            return Future.failedFuture(new InvalidApiKey(
                "Missing API key. Send it as 'Authorization: Bearer th-...'.").toException());
        }
        if (!ApiKeys.wellFormed(key)) {
            return Future.failedFuture(new InvalidApiKey("Incorrect API key provided: it is not a TokenHub key.")
                .toException());
        }
        KeyContext cached = known.getIfPresent(key);
        if (cached != null) {
            return check(cached);
        }
        if (unknown.getIfPresent(key) != null) {
            return Future.failedFuture(unknownKey());
        }
        long seen = generation.get();
        return store.findByKey(key)
            // A PostgreSQL that does not answer (dropping packets) would hold the request for as long as
            // the client waits: a review found no bound on this lookup.
            .timeout(LOOKUP_TIMEOUT_MS, TimeUnit.MILLISECONDS)
            .recover(failure -> {
                // PostgreSQL unreachable for a key not cached yet: the key may well be good, so the answer
                // is to retry shortly, not a server error.
                if (LOOKUP_FAILURES.due(System.currentTimeMillis())) {
                    LOG.warn("keys not cached could not be looked up: {}", failure.toString());
                }
                return Future.failedFuture(new Unavailable("The API key could not be checked just now (the key "
                    + "store is unavailable); retry shortly.").toException());
            })
            .compose(found -> remember(key, found, seen));
    }

    private Future<KeyContext> remember(String key, Optional<KeyContext> found, long seen) {
        if (found.isEmpty()) {
            unknown.put(key, Boolean.TRUE);
            return Future.failedFuture(unknownKey());
        }
        if (generation.get() == seen) {
            known.put(key, found.get());
            // An invalidation between the check and the put (another event loop's) found nothing to
            // remove yet: what was read before it is not kept.
            if (generation.get() != seen) {
                known.invalidate(key);
            }
        }
        return check(found.get());
    }

    private Future<KeyContext> check(KeyContext key) {
        if (key.usableAt(clock.instant())) {
            return Future.succeededFuture(key);
        }
        String why = !"active".equals(key.accountStatus()) ? "its account is " + key.accountStatus()
            : key.expiresAt() != null && !clock.instant().isBefore(key.expiresAt()) ? "it has expired"
            : "it is " + key.status();
        return Future.failedFuture(new InvalidApiKey("This API key cannot be used: " + why + ".").toException());
    }

    /** The token of a {@code Bearer} header, or null when there is none. */
    public static String bearer(String authorization) {
        if (authorization == null) {
            return null;
        }
        String value = authorization.trim();
        if (value.length() < 7 || !value.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return null;
        }
        String token = value.substring(7).trim();
        return token.isEmpty() ? null : token;
    }

    public void invalidateKey(String keyId) {
        generation.incrementAndGet();
        known.asMap().values().removeIf(k -> k.keyId().equals(keyId));
    }

    public void invalidateAccount(String accountId) {
        generation.incrementAndGet();
        known.asMap().values().removeIf(k -> k.accountId().equals(accountId));
    }

    /**
     * Forgets every key: after this node was apart from the rest of the cluster, it missed the
     * invalidations published meanwhile (a key revoked on the other side would go on working here
     * until its entry expired).
     */
    public void invalidateAll() {
        generation.incrementAndGet();
        known.invalidateAll();
        unknown.invalidateAll();
    }

    private static RuntimeException unknownKey() {
        return new InvalidApiKey("Incorrect API key provided.").toException();
    }
}
