package io.tokenhub.billing;

import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;

/**
 * Charges the hot counters in Redis owe, kept in PostgreSQL ({@code hot_counter_repairs}) until Redis
 * takes them: a node that charged a settlement to the wallet in PostgreSQL because Redis did not
 * answer keeps here the script that charges Redis's wallet too, and its arguments, and deletes it
 * once the script ran. One still here when it is due, because its node stopped, crashed or gave
 * up, is run by any node's sweep ({@link RedisQuota#sweep}): the scripts charge once whoever runs
 * them. Until 2026-12-08 such a charge lived only in its node's timers: a node stopped while Redis
 * did not answer left Redis's wallet a request's cost high for good (465 micro-USD in an audit), and
 * the money could be spent twice.
 */
public interface CounterRepairs {

    /**
     * How long a node has to run its own charges before any node's sweep may: past any delivery of
     * the settlement it follows on the node's connection, which a charge run first would count twice.
     */
    long DUE_AFTER_MS = 20 * 60_000;
    /** How long a sweep that claimed a charge has to run it before another node's sweep may. */
    long CLAIM_MS = 2 * 60_000;

    /**
     * A charge Redis owes: the script to run on the account's and key's counters. The charges of one
     * {@code chain} (a share's) run in their node's order ({@code seq}), none before an earlier one.
     */
    record Owed(String id, String chain, String accountId, String keyId, String script, List<String> args, long seq) {
    }

    /** Keeps a charge Redis owes. */
    Future<Void> owe(Owed owed);

    /** Redis took the charge. */
    Future<Void> taken(String id);

    /** This node is stopping without having run these: they are due at once. */
    Future<Void> dueNow(Collection<String> ids);

    /**
     * Claims for this node, for {@link #CLAIM_MS}, at most {@code limit} chains whose first charge is
     * due, with their charges due, in their order.
     */
    Future<List<Owed>> claimDue(int limit);

    /** Without PostgreSQL (tests of the counters alone): nothing is kept. */
    CounterRepairs NONE = new CounterRepairs() {
        @Override
        public Future<Void> owe(Owed owed) {
            return Future.succeededFuture();
        }

        @Override
        public Future<Void> taken(String id) {
            return Future.succeededFuture();
        }

        @Override
        public Future<Void> dueNow(Collection<String> ids) {
            return Future.succeededFuture();
        }

        @Override
        public Future<List<Owed>> claimDue(int limit) {
            return Future.succeededFuture(List.of());
        }
    };

    /** Kept in the gateway's PostgreSQL. */
    static CounterRepairs in(Pool pool) {
        return new CounterRepairs() {
            @Override
            public Future<Void> owe(Owed o) {
                return pool.preparedQuery("""
                        INSERT INTO hot_counter_repairs (id, chain, account_id, key_id, script, args, seq, due_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))
                        ON CONFLICT (id) DO NOTHING""")
                    .execute(Tuple.of(o.id(), o.chain(), o.accountId(), o.keyId(), o.script(),
                        o.args().toArray(String[]::new), o.seq(), DUE_AFTER_MS / 1_000.0))
                    .mapEmpty();
            }

            @Override
            public Future<Void> taken(String id) {
                return pool.preparedQuery("DELETE FROM hot_counter_repairs WHERE id = $1").execute(Tuple.of(id))
                    .mapEmpty();
            }

            @Override
            public Future<Void> dueNow(Collection<String> ids) {
                if (ids.isEmpty()) {
                    return Future.succeededFuture();
                }
                return pool.preparedQuery("UPDATE hot_counter_repairs SET due_at = now() WHERE id = ANY($1)")
                    .execute(Tuple.of(ids.toArray(String[]::new))).mapEmpty();
            }

            @Override
            public Future<List<Owed>> claimDue(int limit) {
                // A chain is claimed by locking its first charge: a node that finds it locked (claimed
                // by another) or not due takes none of the chain's, so that none runs before it.
                return pool.preparedQuery("""
                        UPDATE hot_counter_repairs SET due_at = now() + make_interval(secs => $2)
                         WHERE due_at <= now() AND chain IN (
                               SELECT first.chain FROM hot_counter_repairs first
                                WHERE first.due_at <= now() AND NOT EXISTS (SELECT 1 FROM hot_counter_repairs e
                                                                             WHERE e.chain = first.chain AND e.seq < first.seq)
                                ORDER BY first.seq LIMIT $1 FOR UPDATE SKIP LOCKED)
                        RETURNING id, chain, account_id, key_id, script, args, seq""")
                    .execute(Tuple.of(limit, CLAIM_MS / 1_000.0))
                    .map(rows -> {
                        List<Owed> out = new ArrayList<>();
                        for (Row r : rows) {
                            out.add(new Owed(r.getString("id"), r.getString("chain"), r.getString("account_id"),
                                r.getString("key_id"), r.getString("script"), List.of(r.getArrayOfStrings("args")),
                                r.getLong("seq")));
                        }
                        out.sort(Comparator.comparingLong(Owed::seq));
                        return out;
                    });
            }
        };
    }
}
