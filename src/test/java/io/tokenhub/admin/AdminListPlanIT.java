package io.tokenhub.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.store.Database;
import io.tokenhub.testing.TestDatabase;
import io.vertx.pgclient.PgConnectOptions;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The admin lists of accounts and keys read a page as an index range, not the whole table sorted:
 * 20 000 accounts with a key each, then {@code EXPLAIN} of the exact statements {@link AdminStore}
 * sends, first page and a page after a cursor.
 */
class AdminListPlanIT {

    private static final int ROWS = 20_000;

    static TestDatabase db;

    @BeforeAll
    static void generate() throws SQLException {
        db = TestDatabase.create();
        Database.external(PgConnectOptions.fromUri(db.url()), 1);
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            s.execute("INSERT INTO accounts (id, name, email, created_at) SELECT 'acct_p' || i, 'n', 'p' || i || '@x.com', "
                + "timestamptz '2026-01-01T00:00:00Z' + i * interval '1 second' FROM generate_series(1, " + ROWS + ") i");
            s.execute("INSERT INTO api_keys (id, account_id, key_hash, prefix, name, created_at) SELECT 'key_p' || i, "
                + "'acct_p' || i, decode(md5(i::text), 'hex'), 'th-x', 'n', "
                + "timestamptz '2026-01-01T00:00:00Z' + i * interval '1 second' FROM generate_series(1, " + ROWS + ") i");
            s.execute("ANALYZE accounts");
            s.execute("ANALYZE api_keys");
        }
    }

    @AfterAll
    static void drop() {
        db.close();
    }

    @Test
    void aPageOfAccountsOrKeysIsAnIndexRangeNotASortOfTheWholeTable() throws SQLException {
        Map<String, String> statements = Map.of(
            "accounts, first page", AdminStore.accountsPage(false).replace("$1", "51"),
            "accounts, after a cursor", AdminStore.accountsPage(true).replace("$1", "51").replace("$2", "'acct_p10000'"),
            "keys, first page", AdminStore.keysPage(false, false).replace("$1", "51"),
            "keys, after a cursor", AdminStore.keysPage(false, true).replace("$1", "'key_p10000'").replace("$2", "51"),
            "an account's keys", AdminStore.keysPage(true, true).replace("$1", "'acct_p10000'")
                .replace("$2", "'key_p10000'").replace("$3", "51"));
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            for (var statement : statements.entrySet()) {
                List<String> plan = new ArrayList<>();
                try (ResultSet rows = s.executeQuery("EXPLAIN " + statement.getValue())) {
                    while (rows.next()) {
                        plan.add(rows.getString(1));
                    }
                }
                assertThat(plan).as("%s:%n%s", statement.getKey(), String.join("\n", plan))
                    .noneMatch(line -> line.contains("Seq Scan"))
                    .noneMatch(line -> line.trim().startsWith("->  Sort") || line.trim().startsWith("Sort"));
            }
        }
    }
}
