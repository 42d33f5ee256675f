package io.tokenhub.auth;

import java.time.Instant;
import java.util.Set;

/**
 * What the request path knows about the key that authenticated it.
 *
 * @param allowedModels catalog ids this key may use; empty means all
 * @param rpm           requests per minute for this key, 0 for no key limit
 * @param tpm           tokens per minute for this key, 0 for no key limit
 * @param monthlyCapMicroUsd spend cap per calendar month (UTC), {@link #NO_CAP} for none (a cap of 0
 *                      lets the key spend nothing)
 * @param expiresAt     null for never
 */
public record KeyContext(String keyId, String accountId, String status, String accountStatus,
                         Set<String> allowedModels, long rpm, long tpm, long monthlyCapMicroUsd, Instant expiresAt) {

    public static final long NO_CAP = -1;

    public boolean allows(String modelId) {
        return allowedModels.isEmpty() || allowedModels.contains(modelId);
    }

    public boolean usableAt(Instant now) {
        return "active".equals(status) && "active".equals(accountStatus)
            && (expiresAt == null || now.isBefore(expiresAt));
    }
}
