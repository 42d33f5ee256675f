package io.tokenhub.auth;

import java.time.Instant;
import java.util.Set;

/**
 * What the request path knows about the key that authenticated it.
 *
 * @param allowedModels catalog ids this key may use; empty means all
 * @param rpm           requests per minute for this key, 0 for no key limit
 * @param tpm           tokens per minute for this key, 0 for no key limit
 * @param monthlyCapMicroUsd spend cap per calendar month (UTC), 0 for none
 * @param expiresAt     null for never
 */
public record KeyContext(String keyId, String accountId, String status, String accountStatus,
                         Set<String> allowedModels, long rpm, long tpm, long monthlyCapMicroUsd, Instant expiresAt) {

    public boolean allows(String modelId) {
        return allowedModels.isEmpty() || allowedModels.contains(modelId);
    }

    public boolean usableAt(Instant now) {
        return "active".equals(status) && "active".equals(accountStatus)
            && (expiresAt == null || now.isBefore(expiresAt));
    }
}
