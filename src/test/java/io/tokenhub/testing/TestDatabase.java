package io.tokenhub.testing;

import java.net.URI;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * A fresh database on the real PostgreSQL server for one test class, dropped afterwards. The
 * server comes from {@code TOKENHUB_TEST_PG_URL} (default: the local server, user postgres).
 */
public final class TestDatabase implements AutoCloseable {

    private static final String SERVER = envOr("TOKENHUB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres");

    private final String name;
    private final URI server;

    private TestDatabase(String name) {
        this.name = name;
        this.server = URI.create(SERVER);
    }

    public static TestDatabase create() {
        TestDatabase db = new TestDatabase("tokenhub_test_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12));
        db.onServer("CREATE DATABASE " + db.name);
        return db;
    }

    /** The URL TokenHub's {@code storage.postgres} takes. */
    public String url() {
        return "postgresql://" + server.getUserInfo() + "@" + server.getHost() + ":" + server.getPort() + "/" + name;
    }

    /**
     * A transaction holding the account's row (FOR UPDATE), so that what writes usage for it waits
     * (as behind a slow PostgreSQL) until the connection is committed or closed.
     */
    public Connection lockAccount(String accountId) throws SQLException {
        Connection lock = connect();
        lock.setAutoCommit(false);
        try (var statement = lock.prepareStatement("SELECT 1 FROM accounts WHERE id = ? FOR UPDATE")) {
            statement.setString(1, accountId);
            statement.executeQuery();
        }
        return lock;
    }

    public Connection connect() throws SQLException {
        return DriverManager.getConnection(jdbc(name), user(), password());
    }

    /** Rows of a query, as column → value maps. */
    public List<Map<String, Object>> query(String sql, Object... params) {
        try (Connection c = connect(); var statement = c.prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) {
                statement.setObject(i + 1, params[i]);
            }
            List<Map<String, Object>> rows = new ArrayList<>();
            try (var rs = statement.executeQuery()) {
                var meta = rs.getMetaData();
                while (rs.next()) {
                    Map<String, Object> row = new LinkedHashMap<>();
                    for (int col = 1; col <= meta.getColumnCount(); col++) {
                        row.put(meta.getColumnName(col), rs.getObject(col));
                    }
                    rows.add(row);
                }
            }
            return rows;
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    public long count(String sql, Object... params) {
        return ((Number) query(sql, params).get(0).values().iterator().next()).longValue();
    }

    @Override
    public void close() {
        onServer("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
    }

    private void onServer(String sql) {
        try (Connection c = DriverManager.getConnection(jdbc(server.getPath().substring(1)), user(), password());
             var statement = c.createStatement()) {
            statement.execute(sql);
        } catch (SQLException e) {
            throw new IllegalStateException("cannot run '" + sql + "' on " + SERVER, e);
        }
    }

    private String jdbc(String database) {
        return "jdbc:postgresql://" + server.getHost() + ":" + server.getPort() + "/" + database;
    }

    private String user() {
        String info = server.getUserInfo();
        return info == null ? "postgres" : info.split(":")[0];
    }

    private String password() {
        String info = server.getUserInfo();
        return info != null && info.contains(":") ? info.substring(info.indexOf(':') + 1) : "";
    }

    static String envOr(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isBlank() ? fallback : value;
    }
}
