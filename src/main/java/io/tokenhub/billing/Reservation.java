package io.tokenhub.billing;

import java.util.Map;

/**
 * What one request holds while it runs: plan tokens and wallet money set aside for its estimate,
 * released or turned into a charge when it settles.
 *
 * @param planTokens plan id → tokens held, earliest-expiring plan first
 */
public record Reservation(String requestId, String accountId, String keyId, String modelId, long tokens,
                          long microUsd, Map<String, Long> planTokens, long walletMicroUsd) {
}
