package io.tokenhub.billing;

import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * Charges the hot counters in Redis owe, kept in PostgreSQL ({@code hot_counter_repairs}) until Redis
 * takes them: a node that charged a settlement to the wallet in PostgreSQL because Redis did not
 * answer records it here, and deletes it once its late charge ran. A charge still here when it is
 * due, because its node stopped, crashed or gave up, has its account's counters rebuilt from
 * PostgreSQL by any node's sweep ({@link RedisQuota#sweep}). Until 2026-12-08 such a charge lived
 * only in its node's timers: a node stopped while Redis did not answer left Redis's wallet one
 * request's cost high for good (465 micro-USD in an audit), and the money could be spent twice.
 */
public interface CounterRepairs {

    /** How long a node has to take its own late charges before any node's sweep repairs the counters. */
    long DUE_AFTER_MS = 20 * 60_000;

    /** An account whose counters are to be rebuilt, with the keys whose month counters go with them. */
    record Due(String id, String accountId, List<String> keyIds) {
    }

    /** Records that Redis owes the account a charge made for the key, under an id of its own. */
    Future<Void> owe(String id, String accountId, String keyId);

    /** Redis took the charge. */
    Future<Void> taken(String id);

    /** This node is stopping without having charged these: they are due at once. */
    Future<Void> dueNow(Collection<String> ids);

    /** The charges due, oldest first, at most {@code limit}, each with its account's keys. */
    Future<List<Due>> due(int limit);

    /** Without PostgreSQL (tests of the counters alone): nothing is kept. */
    CounterRepairs NONE = new CounterRepairs() {
        @Override
        public Future<Void> owe(String id, String accountId, String keyId) {
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
        public Future<List<Due>> due(int limit) {
            return Future.succeededFuture(List.of());
        }
    };

    /** Kept in the gateway's PostgreSQL. */
    static CounterRepairs in(Pool pool) {
        return new CounterRepairs() {
            @Override
            public Future<Void> owe(String id, String accountId, String keyId) {
                return pool.preparedQuery("""
                        INSERT INTO hot_counter_repairs (id, account_id, key_id, due_at)
                        VALUES ($1, $2, $3, now() + make_interval(secs => $4)) ON CONFLICT (id) DO NOTHING""")
                    .execute(Tuple.of(id, accountId, keyId, DUE_AFTER_MS / 1_000.0)).mapEmpty();
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
            public Future<List<Due>> due(int limit) {
                return pool.preparedQuery("""
                        SELECT r.id, r.account_id,
                               array(SELECT k.id FROM api_keys k WHERE k.account_id = r.account_id
                                     UNION SELECT r.key_id) AS key_ids
                          FROM hot_counter_repairs r WHERE r.due_at <= now() ORDER BY r.due_at LIMIT $1""")
                    .execute(Tuple.of(limit))
                    .map(rows -> {
                        List<Due> out = new ArrayList<>();
                        for (Row r : rows) {
                            out.add(new Due(r.getString("id"), r.getString("account_id"),
                                List.of(r.getArrayOfStrings("key_ids"))));
                        }
                        return out;
                    });
            }
        };
    }
}
