package io.tokenhub.billing;

import io.tokenhub.core.Bus;
import io.tokenhub.core.OncePer;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Instant;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Credits and plans an admin adds, once they are in PostgreSQL, told to the hot counters: this
 * node's first (the admin's answer waits for it, so that the next request sees the money), then
 * every other node's, published to the cluster. With Redis each change counts once whichever nodes
 * apply it (it carries an id), so a node that cannot reach Redis does not keep the money from being
 * spent; with in-process counters every node's own counters hear of it. A node whose attempt fails
 * tries again (1 s, doubling up to a minute, for about half an hour).
 */
public final class QuotaChanges {

    private static final Logger LOG = LoggerFactory.getLogger(QuotaChanges.class);
    private static final String ORIGIN = "origin";
    private static final long FIRST_RETRY_MS = 1_000;
    private static final long LAST_RETRY_MS = 60_000;
    private static final int ATTEMPTS = 40;

    private final Vertx vertx;
    private final Quota quota;
    /** This node, in the changes it publishes: it applied them already. */
    private final String node = UUID.randomUUID().toString();
    private final OncePer warnings = new OncePer(10_000);

    public QuotaChanges(Vertx vertx, Quota quota) {
        this.vertx = vertx;
        this.quota = quota;
    }

    /** Applies the changes other nodes publish from now on to this node's counters. */
    public void listen() {
        vertx.eventBus().<JsonObject>consumer(Bus.QUOTA_CHANGES, message -> {
            if (!node.equals(message.headers().get(ORIGIN))) {
                apply(message.body(), 1);
            }
        });
    }

    /**
     * Money added to (or taken from) an account, already in PostgreSQL; completes once this node's
     * counters took it or failed to (they try again later then).
     *
     * @param writtenAfterUs PostgreSQL's clock (µs) before the credit was committed: counters that read the
     *                       balance from PostgreSQL at or after it may have it, and leave it out
     */
    public Future<Void> credited(String accountId, long microUsd, long writtenAfterUs) {
        return tell(new JsonObject().put("id", UUID.randomUUID().toString()).put("account", accountId)
            .put("credit", microUsd).put("at", writtenAfterUs));
    }

    /** A plan granted to an account, already in PostgreSQL; completes as {@link #credited} does. */
    public Future<Void> planGranted(String accountId, Quota.Plan plan) {
        return tell(new JsonObject().put("account", accountId)
            .put("plan", new JsonObject().put("id", plan.id()).put("tokens", plan.tokensRemaining())
                .put("from", plan.validFrom().toEpochMilli()).put("until", plan.validUntil().toEpochMilli())
                .put("models", new JsonArray(plan.models()))));
    }

    private Future<Void> tell(JsonObject change) {
        vertx.eventBus().publish(Bus.QUOTA_CHANGES, change, new DeliveryOptions().addHeader(ORIGIN, node));
        return apply(change, 1).otherwiseEmpty();
    }

    private Future<Void> apply(JsonObject change, int attempt) {
        String account = change.getString("account");
        JsonObject plan = change.getJsonObject("plan");
        Future<Void> applied = plan == null
            ? quota.credited(account, change.getLong("credit"), change.getString("id"), change.getLong("at"))
            : quota.planGranted(account, new Quota.Plan(plan.getString("id"), plan.getLong("tokens"),
                Instant.ofEpochMilli(plan.getLong("from")), Instant.ofEpochMilli(plan.getLong("until")),
                plan.getJsonArray("models").stream().map(String.class::cast).toList()));
        return applied.onFailure(failure -> {
            String what = plan == null ? "credit" : "plan";
            if (warnings.due(System.currentTimeMillis())) {
                LOG.warn("the hot counters did not take an admin's {} for account {} ({}); trying again", what,
                    account, failure.toString());
            }
            if (attempt < ATTEMPTS) {
                long wait = Math.min(LAST_RETRY_MS, FIRST_RETRY_MS << Math.min(attempt - 1, 10));
                vertx.setTimer(wait, id -> apply(change, attempt + 1));
            } else {
                LOG.error("the hot counters never took an admin's {} for account {}: they will have it when next "
                    + "rebuilt from PostgreSQL", what, account);
            }
        });
    }
}
