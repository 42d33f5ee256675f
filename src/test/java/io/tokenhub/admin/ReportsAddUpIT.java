package io.tokenhub.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.math.BigDecimal;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The reports as a finance person reads them: records put in PostgreSQL at known times and costs,
 * then {@code /admin/v1/usage}, {@code /admin/v1/logs}, {@code /v1/usage} and the legacy billing
 * usage compared with them.
 */
class ReportsAddUpIT {

    static TestGateway gateway;
    static String accountId;
    static String keyId;
    static String key;
    static String otherKeyId;

    @BeforeAll
    static void start() {
        gateway = TestGateway.start("""
            providers: [ { id: mock, type: mock } ]
            models:
              - { id: model-x, pricing: { input: 1, output: 1 }, deployments: [ { provider: mock, model: x } ] }
              - { id: model-y, pricing: { input: 1, output: 1 }, deployments: [ { provider: mock, model: y } ] }
            """, "");
        JsonObject created = gateway.newKey(new JsonObject());
        key = created.getString("key");
        keyId = created.getString("id");
        accountId = created.getString("account_id");
        otherKeyId = gateway.adminOk("POST", "/admin/v1/keys", new JsonObject().put("account_id", accountId)
            .put("name", "second")).getString("id");
        // Around the start of April 2026, UTC
        insert("r-0331-last", "2026-03-31T23:59:59.999999Z", keyId, "model-x", "model-x", 1);
        insert("r-0401-first", "2026-04-01T00:00:00Z", keyId, "model-x", "model-x", 10);
        insert("r-0401-last", "2026-04-01T23:59:59.999999Z", otherKeyId, "model-y", "model-y", 100);
        insert("r-0402-first", "2026-04-02T00:00:00Z", keyId, "model-y", "model-y", 1000);
        // A request for model-x answered by its fallback, model-y
        insert("r-0402-fallback", "2026-04-02T12:00:00Z", keyId, "model-x", "model-y", 10_000);
        // Seven records at one same instant (ties), on the 3rd
        for (int i = 0; i < 7; i++) {
            insert("r-tie-" + i, "2026-04-03T08:00:00.123456Z", i % 2 == 0 ? keyId : otherKeyId, "model-x", "model-x",
                100_000);
        }
    }

    @AfterAll
    static void stop() {
        if (gateway != null) {
            gateway.close();
        }
    }

    static void insert(String id, String at, String key, String requested, String served, long cost) {
        gateway.database().query("INSERT INTO usage_records (request_id, created_at, account_id, key_id, requested_model,"
            + " served_model, provider, status, cost_micro_usd, prompt_tokens, completion_tokens)"
            + " VALUES (?, ?::timestamptz, ?, ?, ?, ?, 'mock', 200, ?, 1, 1) RETURNING request_id",
            id, at, accountId, key, requested, served, cost);
    }

    static JsonArray adminUsage(String query) {
        return gateway.adminOk("GET", "/admin/v1/usage?account_id=" + accountId + "&" + query, null).getJsonArray("data");
    }

    static long sum(JsonArray rows) {
        return rows.stream().mapToLong(r -> ((JsonObject) r).getLong("cost_micro_usd")).sum();
    }

    static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    @Test
    void aDayIsItsUtcDayInclusiveOfBothEnds() {
        JsonArray april1 = adminUsage("group_by=day&from=2026-04-01&to=2026-04-01");
        assertThat(april1).hasSize(1);
        assertThat(april1.getJsonObject(0).getString("day")).isEqualTo("2026-04-01");
        assertThat(april1.getJsonObject(0).getLong("requests")).isEqualTo(2);
        assertThat(april1.getJsonObject(0).getLong("cost_micro_usd")).isEqualTo(110);

        // RFC 3339 bounds are inclusive too, in any offset
        assertThat(sum(adminUsage("from=" + enc("2026-03-31T23:59:59.999999Z") + "&to=" + enc("2026-04-01T00:00:00Z"))))
            .isEqualTo(11);
        assertThat(sum(adminUsage("from=" + enc("2026-04-01T02:00:00+02:00") + "&to=" + enc("2026-04-02T01:59:59.999999+02:00"))))
            .isEqualTo(110);
        // to alone: from the start of its month
        assertThat(sum(adminUsage("to=2026-04-01"))).isEqualTo(110);
        // The whole of April, by day, by model and by key: the same total
        long april = 10 + 100 + 1000 + 10_000 + 7 * 100_000;
        for (String groupBy : List.of("day", "model", "key", "day,model,key")) {
            assertThat(sum(adminUsage("group_by=" + groupBy + "&from=2026-04-01&to=2026-04-30")))
                .as("group_by=%s", groupBy).isEqualTo(april);
        }
    }

    @Test
    void theCallersOwnUsageAndTheLegacyShapeAgreeWithTheAdminReport() {
        JsonObject own = new JsonObject(gateway.get("/v1/usage?from=2026-04-01&to=2026-04-01", key).body());
        assertThat(sum(own.getJsonArray("data"))).isEqualTo(110);
        assertThat(own.getJsonArray("data").stream().map(r -> ((JsonObject) r).getString("day")).distinct().toList())
            .containsExactly("2026-04-01");
        JsonObject legacy = new JsonObject(gateway.get(
            "/v1/dashboard/billing/usage?start_date=2026-04-01&end_date=2026-04-02", key).body());
        // 110 micro-USD = 0.011 cents
        assertThat(new BigDecimal(legacy.getValue("total_usage").toString())).isEqualByComparingTo("0.011");
    }

    @Test
    void logsPagedTwoAtATimeThroughTiesVisitEveryRecordOnceNewestFirst() {
        List<String> seen = new ArrayList<>();
        String cursor = null;
        do {
            JsonObject page = gateway.adminOk("GET", "/admin/v1/logs?account_id=" + accountId
                + "&from=2026-03-01&to=2026-04-30&limit=2" + (cursor == null ? "" : "&cursor=" + enc(cursor)), null);
            page.getJsonArray("data").forEach(r -> seen.add(((JsonObject) r).getString("request_id")));
            cursor = page.getString("next_cursor");
        } while (cursor != null && seen.size() < 100);

        assertThat(seen).containsExactly("r-tie-6", "r-tie-5", "r-tie-4", "r-tie-3", "r-tie-2", "r-tie-1", "r-tie-0",
            "r-0402-fallback", "r-0402-first", "r-0401-last", "r-0401-first", "r-0331-last");
    }

    /**
     * Per-model reports add up to the whole: a request for model-x answered by model-y is model-y's
     * in group_by=model, so it must not be model-x's too when the report is filtered to model-x.
     */
    @Test
    void perModelReportsAddUpToTheTotal() {
        String april = "&from=2026-04-01&to=2026-04-30";
        long total = sum(adminUsage("group_by=model" + april));
        JsonArray x = adminUsage("group_by=model&model=model-x" + april);
        JsonArray y = adminUsage("group_by=model&model=model-y" + april);

        assertThat(x.stream().map(r -> ((JsonObject) r).getString("model")).toList())
            .as("rows of a report filtered to model-x: %s", x.encode()).containsOnly("model-x");
        assertThat(sum(x) + sum(y)).as("model-x's %s + model-y's %s against the total %s", sum(x), sum(y), total)
            .isEqualTo(total);
    }
}
