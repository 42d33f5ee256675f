package io.tokenhub.auth;

import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.Tuple;
import java.time.OffsetDateTime;
import java.util.Optional;
import java.util.Set;

/** Key look-ups for authentication, from PostgreSQL. */
public final class KeyStore {

    private static final String FIND_BY_HASH = """
        SELECT k.id, k.account_id, k.status, a.status AS account_status, k.allowed_models,
               k.rpm, k.tpm, k.monthly_cap_micro_usd, k.expires_at
          FROM api_keys k JOIN accounts a ON a.id = k.account_id
         WHERE k.key_hash = $1""";

    private static final String ADMIN_KEY_EXISTS = "SELECT 1 FROM admin_keys WHERE key_hash = $1";

    private final Pool pool;

    public KeyStore(Pool pool) {
        this.pool = pool;
    }

    public Future<Optional<KeyContext>> findByKey(String key) {
        return pool.preparedQuery(FIND_BY_HASH)
            .execute(Tuple.of(Buffer.buffer(ApiKeys.sha256(key))))
            .map(rows -> first(rows).map(KeyStore::toContext));
    }

    public Future<Boolean> isAdminKey(String key) {
        return pool.preparedQuery(ADMIN_KEY_EXISTS)
            .execute(Tuple.of(Buffer.buffer(ApiKeys.sha256(key))))
            .map(rows -> rows.size() > 0);
    }

    private static Optional<Row> first(RowSet<Row> rows) {
        var it = rows.iterator();
        return it.hasNext() ? Optional.of(it.next()) : Optional.empty();
    }

    private static KeyContext toContext(Row row) {
        String[] models = row.getArrayOfStrings("allowed_models");
        OffsetDateTime expires = row.getOffsetDateTime("expires_at");
        return new KeyContext(
            row.getString("id"),
            row.getString("account_id"),
            row.getString("status"),
            row.getString("account_status"),
            models == null ? Set.of() : Set.of(models),
            orZero(row.getInteger("rpm")),
            orZero(row.getInteger("tpm")),
            row.getLong("monthly_cap_micro_usd") == null ? KeyContext.NO_CAP : row.getLong("monthly_cap_micro_usd"),
            expires == null ? null : expires.toInstant());
    }

    private static long orZero(Integer value) {
        return value == null ? 0 : value;
    }
}
