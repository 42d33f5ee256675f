package io.tokenhub.admin;

import io.tokenhub.auth.ApiKeys;
import io.tokenhub.billing.QuotaLoader;
import io.tokenhub.core.Ids;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.Tuple;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/** Accounts and keys in PostgreSQL, as the admin API reads and changes them. */
public final class AdminStore {

    private static final String KEY_COLUMNS = "id, account_id, prefix, name, status, allowed_models, rpm, tpm, "
        + "monthly_cap_micro_usd, expires_at, created_at";

    /**
     * A key as it is changed by PATCH; null fields stay as they are, and the body fields named in
     * {@code cleared} (sent as JSON null: {@code rpm}, {@code tpm}, {@code monthly_cap_usd},
     * {@code expires_at}, {@code allowed_models}) lose their limit.
     */
    public record KeyChanges(String name, String status, List<String> allowedModels, Integer rpm, Integer tpm,
                             Long monthlyCapMicroUsd, OffsetDateTime expiresAt, List<String> cleared) {
    }

    /** A key to create. */
    public record NewKey(String accountId, String name, List<String> allowedModels, Integer rpm, Integer tpm,
                         Long monthlyCapMicroUsd, OffsetDateTime expiresAt) {
    }

    private final Pool pool;

    public AdminStore(Pool pool) {
        this.pool = pool;
    }

    Pool pool() {
        return pool;
    }

    public Future<JsonObject> createAccount(String name, String email, String passwordHash, long signupCredit) {
        String id = Ids.random("acct_", 16);
        return pool.withTransaction(conn -> conn
            .preparedQuery("INSERT INTO accounts (id, name, email, password_hash, balance_micro_usd) "
                + "VALUES ($1, $2, $3, $4, $5)")
            .execute(Tuple.of(id, name, email, passwordHash, signupCredit))
            .compose(v -> signupCredit == 0 ? Future.succeededFuture() : conn
                .preparedQuery("INSERT INTO ledger (account_id, amount_micro_usd, balance_after_micro_usd, kind, reason) "
                    + "VALUES ($1, $2, $2, 'signup_credit', 'signup credit')")
                .execute(Tuple.of(id, signupCredit))))
            .compose(v -> accountRow(id)).map(Optional::orElseThrow);
    }

    public Future<Optional<JsonObject>> account(String id) {
        return accountRow(id).compose(found -> found.isEmpty() ? Future.succeededFuture(found)
            : plans(id).map(plans -> Optional.of(found.get().put("plans", plans))));
    }

    private Future<Optional<JsonObject>> accountRow(String id) {
        return pool.preparedQuery("SELECT id, name, email, status, balance_micro_usd, created_at FROM accounts WHERE id = $1")
            .execute(Tuple.of(id))
            .map(rows -> {
                var it = rows.iterator();
                if (!it.hasNext()) {
                    return Optional.empty();
                }
                return Optional.of(accountJson(it.next()));
            });
    }

    private static JsonObject accountJson(Row r) {
        return new JsonObject()
            .put("id", r.getString("id")).put("name", r.getString("name")).put("email", r.getString("email"))
            .put("status", r.getString("status")).put("balance_micro_usd", r.getLong("balance_micro_usd"))
            .put("plans", new JsonArray()).put("created_at", time(r.getOffsetDateTime("created_at")));
    }

    /**
     * A page of accounts, oldest first: {@code $1} the rows to read, {@code $2} the cursor when
     * {@code afterCursor}. An index range (migration 9), however many accounts there are.
     */
    static String accountsPage(boolean afterCursor) {
        return "SELECT id, name, email, status, balance_micro_usd, created_at FROM accounts"
            + (afterCursor ? " WHERE (created_at, id) > (SELECT created_at, id FROM accounts WHERE id = $2)" : "")
            + " ORDER BY created_at, id LIMIT $1";
    }

    /** Accounts oldest first, {@code {data, next_cursor}}; the cursor is the last account id of a page. */
    public Future<JsonObject> listAccounts(String cursor, int limit) {
        Tuple params = cursor == null ? Tuple.of(limit + 1) : Tuple.of(limit + 1, cursor);
        return pool.preparedQuery(accountsPage(cursor != null))
            .execute(params)
            .compose(rows -> {
                JsonObject page = page(rows, limit, AdminStore::accountJson);
                JsonArray data = page.getJsonArray("data");
                String[] ids = data.stream().map(a -> ((JsonObject) a).getString("id")).toArray(String[]::new);
                return plansOf(ids).map(plans -> {
                    data.forEach(a -> ((JsonObject) a).put("plans",
                        plans.getOrDefault(((JsonObject) a).getString("id"), new JsonArray())));
                    return page;
                });
            });
    }

    /**
     * {@code {data, next_cursor}} from rows fetched with {@code limit + 1}: the extra row only says
     * that a next page exists, whose cursor is the id of the last row shown.
     */
    private static JsonObject page(RowSet<Row> rows, int limit, Function<Row, JsonObject> toJson) {
        JsonArray data = new JsonArray();
        String next = null;
        for (Row r : rows) {
            if (data.size() == limit) {
                next = data.getJsonObject(limit - 1).getString("id");
                break;
            }
            data.add(toJson.apply(r));
        }
        return new JsonObject().put("data", data).put("next_cursor", next);
    }

    /** The active plans of several accounts at once, by account id. */
    private Future<Map<String, JsonArray>> plansOf(String[] accountIds) {
        return pool.preparedQuery("SELECT * FROM token_plans WHERE account_id = ANY($1) AND valid_from <= now() "
                + "AND valid_until > now() ORDER BY valid_until, id")
            .execute(Tuple.of(accountIds))
            .map(rows -> {
                Map<String, JsonArray> byAccount = new HashMap<>();
                rows.forEach(r -> byAccount.computeIfAbsent(r.getString("account_id"), k -> new JsonArray())
                    .add(planJson(r)));
                return byAccount;
            });
    }

    /**
     * An account holder signing in: the account's id, status and password hash, by email (any case;
     * {@code email} is lower-cased by the caller, in the form its attempts are counted under).
     */
    public record Login(String accountId, String status, String passwordHash) {
    }

    public Future<Optional<Login>> login(String email) {
        return pool.preparedQuery("SELECT id, status, password_hash FROM accounts WHERE lower(email) = $1")
            .execute(Tuple.of(email))
            .map(rows -> {
                var it = rows.iterator();
                if (!it.hasNext()) {
                    return Optional.empty();
                }
                Row r = it.next();
                return Optional.of(new Login(r.getString("id"), r.getString("status"), r.getString("password_hash")));
            });
    }

    public Future<Void> createSession(byte[] tokenHash, String accountId, OffsetDateTime expiresAt) {
        return pool.preparedQuery("INSERT INTO console_sessions (token_hash, account_id, expires_at) VALUES ($1, $2, $3)")
            .execute(Tuple.of(Buffer.buffer(tokenHash), accountId, expiresAt))
            .compose(v -> pool.query("DELETE FROM console_sessions WHERE expires_at < now()").execute())
            .mapEmpty();
    }

    /** The account of a session that has not expired, if its account is still active. */
    public Future<Optional<String>> sessionAccount(byte[] tokenHash) {
        return pool.preparedQuery("SELECT s.account_id FROM console_sessions s JOIN accounts a ON a.id = s.account_id "
                + "WHERE s.token_hash = $1 AND s.expires_at > now() AND a.status = 'active'")
            .execute(Tuple.of(Buffer.buffer(tokenHash)))
            .map(rows -> rows.size() == 0 ? Optional.empty() : Optional.of(rows.iterator().next().getString(0)));
    }

    public Future<Void> deleteSession(byte[] tokenHash) {
        return pool.preparedQuery("DELETE FROM console_sessions WHERE token_hash = $1")
            .execute(Tuple.of(Buffer.buffer(tokenHash))).mapEmpty();
    }

    /**
     * A credit written.
     *
     * @param writtenAfterUs PostgreSQL's clock (µs) before the credit was committed: hot counters that read
     *                       the balance at or after this time may have it already ({@code Quota.credited})
     */
    public record Credit(long balanceMicroUsd, long writtenAfterUs) {
    }

    /** Adds (or with a negative amount, takes) money; one ledger row. Empty when there is no such account. */
    public Future<Optional<Credit>> credit(String accountId, long microUsd, String reason) {
        return pool.withTransaction(conn -> conn
            .preparedQuery("UPDATE accounts SET balance_micro_usd = balance_micro_usd + $2 WHERE id = $1 "
                + "RETURNING balance_micro_usd, " + QuotaLoader.CLOCK_US)
            .execute(Tuple.of(accountId, microUsd))
            .compose(rows -> {
                if (rows.size() == 0) {
                    return Future.succeededFuture(Optional.<Credit>empty());
                }
                Row row = rows.iterator().next();
                Credit credit = new Credit(row.getLong(0), row.getLong(1));
                return conn.preparedQuery("INSERT INTO ledger (account_id, amount_micro_usd, balance_after_micro_usd, "
                        + "kind, reason) VALUES ($1, $2, $3, $4, $5)")
                    .execute(Tuple.of(accountId, microUsd, credit.balanceMicroUsd(),
                        microUsd >= 0 ? "credit" : "adjustment", reason))
                    .map(Optional.of(credit));
            }));
    }

    public Future<JsonObject> grantPlan(String accountId, long tokens, OffsetDateTime from, OffsetDateTime until,
                                        List<String> models) {
        String id = Ids.random("plan_", 16);
        return pool.preparedQuery("INSERT INTO token_plans (id, account_id, tokens_total, tokens_remaining, valid_from, "
                + "valid_until, models) VALUES ($1, $2, $3, $3, $4, $5, $6) RETURNING *")
            .execute(Tuple.of(id, accountId, tokens, from, until, models == null ? null : models.toArray(String[]::new)))
            .map(rows -> planJson(rows.iterator().next()));
    }

    private Future<JsonArray> plans(String accountId) {
        return plansOf(new String[] {accountId}).map(byAccount -> byAccount.getOrDefault(accountId, new JsonArray()));
    }

    static JsonObject planJson(Row r) {
        String[] models = r.getArrayOfStrings("models");
        return new JsonObject()
            .put("id", r.getString("id"))
            .put("tokens_total", r.getLong("tokens_total"))
            .put("tokens_remaining", r.getLong("tokens_remaining"))
            .put("valid_from", time(r.getOffsetDateTime("valid_from")))
            .put("valid_until", time(r.getOffsetDateTime("valid_until")))
            .put("models", models == null ? new JsonArray() : new JsonArray(List.of(models)));
    }

    public Future<Boolean> hasAccounts() {
        return pool.query("SELECT EXISTS (SELECT 1 FROM accounts) AS present").execute()
            .map(rows -> rows.iterator().next().getBoolean("present"));
    }

    /** Creates the key; the returned JSON carries {@code key}, the only time it is ever shown. */
    public Future<JsonObject> createKey(NewKey k) {
        String id = Ids.random("key_", 16);
        String key = ApiKeys.newKey();
        return pool.preparedQuery("INSERT INTO api_keys (id, account_id, key_hash, prefix, name, allowed_models, rpm, "
                + "tpm, monthly_cap_micro_usd, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                + "RETURNING " + KEY_COLUMNS)
            .execute(Tuple.tuple(java.util.Arrays.asList(id, k.accountId(), Buffer.buffer(ApiKeys.sha256(key)),
                ApiKeys.shownPrefix(key), k.name(), k.allowedModels() == null ? null
                    : k.allowedModels().toArray(String[]::new), k.rpm(), k.tpm(), k.monthlyCapMicroUsd(),
                k.expiresAt())))
            .map(rows -> keyJson(rows.iterator().next()).put("key", key));
    }

    public Future<JsonObject> listKeys(String accountId, String cursor, int limit) {
        List<Object> params = new ArrayList<>();
        if (accountId != null) {
            params.add(accountId);
        }
        if (cursor != null) {
            params.add(cursor);
        }
        params.add(limit + 1);
        return pool.preparedQuery(keysPage(accountId != null, cursor != null)).execute(Tuple.tuple(params))
            .map(rows -> page(rows, limit, AdminStore::keyJson));
    }

    /**
     * A page of keys, oldest first: its parameters the account when {@code ofAccount}, the cursor
     * when {@code afterCursor}, then the rows to read. An index range (migration 9, or the account's).
     */
    static String keysPage(boolean ofAccount, boolean afterCursor) {
        int n = 0;
        StringBuilder sql = new StringBuilder("SELECT " + KEY_COLUMNS + " FROM api_keys WHERE true");
        if (ofAccount) {
            sql.append(" AND account_id = $").append(++n);
        }
        if (afterCursor) {
            // The cursor is the last key of the previous page; a key is never deleted, only revoked.
            sql.append(" AND (created_at, id) > (SELECT created_at, id FROM api_keys WHERE id = $").append(++n).append(")");
        }
        return sql.append(" ORDER BY created_at, id LIMIT $").append(++n).toString();
    }

    public Future<Optional<JsonObject>> updateKey(String id, KeyChanges c) {
        return pool.preparedQuery("UPDATE api_keys SET "
                + "name = COALESCE($2, name), "
                + "status = COALESCE($3::text, status), "
                + "allowed_models = CASE WHEN 'allowed_models' = ANY($9::text[]) THEN NULL "
                + "  WHEN $4::text[] IS NULL THEN allowed_models "
                + "  WHEN cardinality($4::text[]) = 0 THEN NULL ELSE $4::text[] END, "
                + "rpm = CASE WHEN 'rpm' = ANY($9::text[]) THEN NULL ELSE COALESCE($5, rpm) END, "
                + "tpm = CASE WHEN 'tpm' = ANY($9::text[]) THEN NULL ELSE COALESCE($6, tpm) END, "
                + "monthly_cap_micro_usd = CASE WHEN $9::text[] && ARRAY['monthly_cap_usd', 'monthly_cap_micro_usd'] "
                + "  THEN NULL "
                + "  ELSE COALESCE($7, monthly_cap_micro_usd) END, "
                + "expires_at = CASE WHEN 'expires_at' = ANY($9::text[]) THEN NULL ELSE COALESCE($8, expires_at) END, "
                // Revoked once: a second revocation keeps the first one's time.
                + "revoked_at = CASE WHEN $3::text = 'revoked' THEN COALESCE(revoked_at, now()) "
                + "  ELSE revoked_at END "
                // $3::text: a PATCH without status sends $3 as an untyped null, and "$3 IS NULL" alone
                // leaves PostgreSQL unable to type it (42P08) — every such PATCH was a 500.
                + "WHERE id = $1 AND (status <> 'revoked' OR $3::text IS NULL OR $3::text = 'revoked') RETURNING "
                + KEY_COLUMNS)
            .execute(Tuple.tuple(java.util.Arrays.asList(id, c.name(), c.status(),
                c.allowedModels() == null ? null : c.allowedModels().toArray(String[]::new),
                c.rpm(), c.tpm(), c.monthlyCapMicroUsd(), c.expiresAt(), c.cleared().toArray(String[]::new))))
            .map(rows -> rows.size() == 0 ? Optional.<JsonObject>empty() : Optional.of(keyJson(rows.iterator().next())));
    }

    public Future<Optional<JsonObject>> key(String id) {
        return pool.preparedQuery("SELECT " + KEY_COLUMNS + " FROM api_keys WHERE id = $1").execute(Tuple.of(id))
            .map(rows -> rows.size() == 0 ? Optional.<JsonObject>empty() : Optional.of(keyJson(rows.iterator().next())));
    }

    public Future<String> createAdminKey() {
        String key = ApiKeys.newAdminKey();
        return pool.preparedQuery("INSERT INTO admin_keys (id, key_hash) VALUES ($1, $2)")
            .execute(Tuple.of(Ids.random("adm_", 16), Buffer.buffer(ApiKeys.sha256(key))))
            .map(key);
    }

    private static JsonObject keyJson(Row r) {
        String[] models = r.getArrayOfStrings("allowed_models");
        Long cap = r.getLong("monthly_cap_micro_usd");
        return new JsonObject()
            .put("id", r.getString("id"))
            .put("prefix", r.getString("prefix"))
            .put("name", r.getString("name"))
            .put("account_id", r.getString("account_id"))
            .put("status", r.getString("status"))
            .put("allowed_models", models == null ? new JsonArray() : new JsonArray(List.of(models)))
            .put("rpm", r.getInteger("rpm"))
            .put("tpm", r.getInteger("tpm"))
            .put("monthly_cap_micro_usd", cap)
            .put("expires_at", time(r.getOffsetDateTime("expires_at")))
            .put("created_at", time(r.getOffsetDateTime("created_at")));
    }

    /**
     * RFC 3339 in UTC, seconds always written: {@code OffsetDateTime.toString()} drops zero seconds
     * ({@code 2027-01-01T00:00Z}), which strict RFC 3339 parsers refuse.
     */
    static String time(OffsetDateTime t) {
        return t == null ? null : t.toInstant().toString();
    }
}
