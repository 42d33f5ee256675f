package io.tokenhub.admin;

import io.tokenhub.admin.AdminStore.NewKey;
import io.vertx.core.Future;
import java.util.Optional;

/**
 * First start on an empty database: creates an admin key, a first account and an API key for it,
 * so that the README's examples work at once. Does nothing once any account exists.
 */
public final class Bootstrap {

    /** The secrets to show the operator, once. */
    public record Keys(String adminKey, String accountId, String apiKey) {
        @Override
        public String toString() {
            return "Keys[accountId=" + accountId + "]";
        }
    }

    private Bootstrap() {
    }

    public static Future<Optional<Keys>> run(AdminStore store, long signupCreditMicroUsd) {
        return store.hasAccounts().compose(present -> {
            if (present) {
                return Future.succeededFuture(Optional.empty());
            }
            return store.createAdminKey().compose(adminKey ->
                store.createAccount("Default account", "admin@localhost", null, signupCreditMicroUsd)
                    .compose(account -> store.createKey(new NewKey(account.getString("id"), "bootstrap", null,
                            null, null, null, null))
                        .map(key -> Optional.of(new Keys(adminKey, account.getString("id"), key.getString("key"))))));
        });
    }
}
