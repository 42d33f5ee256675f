package io.tokenhub.auth;

import io.tokenhub.core.Bus;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.MessageConsumer;

/**
 * Keeps this node's key cache honest: listens for the cluster-wide invalidations that the admin
 * API publishes (a key id, or {@code account:ID}) and drops the cached entries.
 */
public final class AuthVerticle extends VerticleBase {

    public static final String ACCOUNT_PREFIX = "account:";

    private final Authenticator authenticator;
    private MessageConsumer<String> consumer;

    public AuthVerticle(Authenticator authenticator) {
        this.authenticator = authenticator;
    }

    @Override
    public Future<?> start() {
        consumer = vertx.eventBus().consumer(Bus.KEYS_INVALIDATE, message -> {
            String target = message.body();
            if (target.startsWith(ACCOUNT_PREFIX)) {
                authenticator.invalidateAccount(target.substring(ACCOUNT_PREFIX.length()));
            } else {
                authenticator.invalidateKey(target);
            }
        });
        return consumer.completion();
    }
}
