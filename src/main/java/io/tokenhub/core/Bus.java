package io.tokenhub.core;

/** Every event-bus address TokenHub uses, in one place. */
public final class Bus {

    /** Local: batches of usage events from the API verticles to the accounting verticle. */
    public static final String USAGE = "tokenhub.usage";
    /** Local request: write the usage received so far, answer when it is written. */
    public static final String USAGE_SYNC = "tokenhub.usage.sync";
    /** Cluster-wide publish: a key id (or {@code account:ID}) whose cached auth must be dropped. */
    public static final String KEYS_INVALIDATE = "tokenhub.keys.invalidate";
    /** Cluster-wide publish: circuit state of one upstream deployment changed. */
    public static final String UPSTREAM_STATE = "tokenhub.upstream.state";
    /** Cluster-wide publish: a node that joined asks the others which circuits they hold open. */
    public static final String UPSTREAM_ASK = "tokenhub.upstream.ask";
    /** Cluster-wide send, this prefix and the asking node's id: the circuits a node holds open. */
    public static final String UPSTREAM_OPEN = "tokenhub.upstream.open.";
    /** Cluster-wide publish: a credit or plan an admin added, for every node's hot counters. */
    public static final String QUOTA_CHANGES = "tokenhub.quota.changes";
    /** Cluster-wide request, this prefix and a member's id: what that node has pending for an account. */
    public static final String QUOTA_PENDING = "tokenhub.quota.pending.";
    /** Cluster-wide publish: reload the catalog from the configuration file. */
    public static final String CONFIG_RELOAD = "tokenhub.config.reload";

    private Bus() {
    }
}
