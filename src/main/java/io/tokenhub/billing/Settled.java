package io.tokenhub.billing;

/**
 * One request's settlement, as the hot counters took it: whose account and key, what it cost (what
 * the key's monthly cap counts) and how it was paid (plans, wallet).
 */
public record Settled(String accountId, String keyId, long costMicroUsd, Payment payment) {
}
