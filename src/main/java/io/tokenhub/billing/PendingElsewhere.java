package io.tokenhub.billing;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import java.util.HashMap;
import java.util.Map;

/**
 * The other nodes' charges settled in the hot counters that PostgreSQL does not hold yet ({@link
 * Pending} on each node): what counters rebuilt from PostgreSQL must count besides this node's own.
 * Without them, a rebuild while another node's usage records were on their way left Redis's wallet
 * that much high for good (a cluster audit: 4 290 micro-USD, 39 requests, with PostgreSQL slow for
 * three seconds), and the money could be spent twice.
 */
public interface PendingElsewhere {

    /** What is pending: of an account's wallet, of its plans by id, of a key's month. */
    record Counts(long walletMicroUsd, Map<String, Long> planTokens, long keyMicroUsd) {
        public static final Counts NONE = new Counts(0, Map.of(), 0);

        long plan(String planId) {
            return planTokens.getOrDefault(planId, 0L);
        }

        Counts plus(Counts other) {
            Map<String, Long> plans = new HashMap<>(planTokens);
            other.planTokens.forEach((id, tokens) -> plans.merge(id, tokens, Long::sum));
            return new Counts(walletMicroUsd + other.walletMicroUsd, plans, keyMicroUsd + other.keyMicroUsd);
        }

        JsonObject toJson() {
            return new JsonObject().put("wallet", walletMicroUsd).put("plans", new JsonObject(new HashMap<>(planTokens)))
                .put("key", keyMicroUsd);
        }

        static Counts fromJson(JsonObject json) {
            Map<String, Long> plans = new HashMap<>();
            JsonObject given = json.getJsonObject("plans", new JsonObject());
            given.fieldNames().forEach(id -> plans.put(id, given.getLong(id)));
            return new Counts(json.getLong("wallet", 0L), plans, json.getLong("key", 0L));
        }
    }

    /** The other nodes' pending counts of the account (and of the key, when given), summed; never fails. */
    Future<Counts> of(String accountId, String keyId);

    /** A node on its own: nobody else settles. */
    PendingElsewhere NONE = (accountId, keyId) -> Future.succeededFuture(Counts.NONE);
}
