package io.tokenhub.admin;

import static io.tokenhub.testing.OpenAiErrorAssert.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeUpstreamGateway;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.math.BigDecimal;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Usage and logs (PRODUCT.md §2, §5, §9) through a real gateway and a fake upstream with known
 * token counts: account A sends ten requests over two keys and two models (one streamed) and one
 * that the upstream refuses; account B sends two. Every aggregate is checked against the sums of
 * what was sent, every request appears in the logs exactly once, and each account sees only its
 * own spend through the public and the legacy billing endpoints.
 */
class UsageAndLogsIT {

    /** What one request was: its id (X-Request-Id) and the numbers its record must carry. */
    record Sent(String requestId, String accountId, String keyId, String model, int prompt, int cached, int completion,
                long cost, int status, boolean stream) {
    }

    // Prices of whole micro-USD per token, so each cost is an exact sum.
    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("upstream-x", """
        providers:
          - { id: openai, type: openai, base_url: "%s", api_key: provider-secret-key }
        models:
          - id: model-a
            aliases: [alias-a]
            pricing: { input: 100, cached_input: 50, output: 200 }
            deployments: [ { provider: openai, model: upstream-x } ]
          - id: model-b
            pricing: { input: 300, cached_input: 150, output: 400 }
            deployments: [ { provider: openai, model: upstream-x } ]
        """, "");

    static FakeOpenAiUpstream upstream;
    static TestGateway gateway;
    static String accountA;
    static String accountB;
    static JsonObject key1;
    static JsonObject key2;
    static JsonObject keyB;
    static final List<Sent> sent = new ArrayList<>();
    /** Each request's created_at from PostgreSQL, by request id: the source of its day. */
    static final Map<String, OffsetDateTime> createdAt = new LinkedHashMap<>();

    @BeforeAll
    static void start() {
        upstream = hub.upstream();
        gateway = hub.gateway();
        key1 = gateway.newKey(new JsonObject().put("name", "first"));
        accountA = key1.getString("account_id");
        key2 = gateway.adminOk("POST", "/admin/v1/keys", new JsonObject().put("account_id", accountA).put("name", "second"));
        keyB = gateway.newKey(new JsonObject().put("name", "other account"));
        accountB = keyB.getString("account_id");

        for (int i = 0; i < 10; i++) {
            JsonObject key = i % 2 == 0 ? key1 : key2;
            String model = i % 4 < 2 ? "model-a" : "model-b";
            send(accountA, key, model, 10 + i, i % 3, 1 + i, i == 7);
        }
        send(accountB, keyB, "model-b", 40, 0, 9, false);
        send(accountB, keyB, "model-a", 50, 4, 3, false);
        // Refused by the upstream as the caller's fault: a record with status 400, nothing charged.
        upstream.fault = FakeOpenAiUpstream.Fault.STATUS;
        upstream.status = 400;
        HttpResponse<String> refused = gateway.post("/v1/chat/completions", key1.getString("key"), chat("model-a", false));
        assertThat(refused.statusCode()).isEqualTo(400);
        sent.add(new Sent(requestId(refused), accountA, key1.getString("id"), "model-a", 0, 0, 0, 0, 400, false));
        upstream.reset();

        gateway.awaitUsageRecords(sent.size());
        gateway.database().query("SELECT request_id, created_at FROM usage_records").forEach(row ->
            createdAt.put((String) row.get("request_id"),
                ((java.sql.Timestamp) row.get("created_at")).toInstant().atOffset(ZoneOffset.UTC)));
        assertThat(createdAt.keySet()).containsExactlyInAnyOrderElementsOf(sent.stream().map(Sent::requestId).toList());
    }

    private static void send(String account, JsonObject key, String model, int prompt, int cached, int completion,
                             boolean stream) {
        upstream.usage = FakeOpenAiUpstream.usage(prompt, completion, cached, 0);
        HttpResponse<String> response = gateway.post("/v1/chat/completions", key.getString("key"), chat(model, stream));
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        long price = model.equals("model-a") ? 100 : 300;
        long cost = (prompt - cached) * price + cached * price / 2 + completion * (model.equals("model-a") ? 200 : 400);
        if (!stream) {
            BigDecimal charged = new BigDecimal(new JsonObject(response.body()).getJsonObject("usage")
                .getValue("cost").toString());
            assertThat(charged.movePointRight(6).longValueExact()).as("usage.cost of %s", model).isEqualTo(cost);
        }
        sent.add(new Sent(requestId(response), account, key.getString("id"), model, prompt, cached, completion, cost,
            200, stream));
    }

    private static String chat(String model, boolean stream) {
        return new JsonObject().put("model", model).put("stream", stream)
            .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "hi")))
            .encode();
    }

    private static String requestId(HttpResponse<String> response) {
        return response.headers().firstValue("X-Request-Id").orElseThrow();
    }

    // ------------------------------------------------------------------------------------------ admin usage

    @Test
    void adminUsageByModelSumsEveryRecordOfTheAccountExactly() {
        // Given the requests sent in start(); when account A's usage is grouped by model
        JsonObject page = adminOk("/admin/v1/usage?group_by=model&account_id=" + accountA + range());

        // Then there is one row per model with the exact sums of what was sent, and a single page
        assertThat(page.getValue("next_cursor")).isNull();
        assertThat(normalized(page.getJsonArray("data"))).isEqualTo(
            expectedRows(s -> s.accountId().equals(accountA), s -> Map.of("model", s.model())));
    }

    @Test
    void adminUsageByKeyAndByDaySumExactly() {
        assertThat(normalized(adminOk("/admin/v1/usage?group_by=key&account_id=" + accountA + range())
            .getJsonArray("data"))).isEqualTo(expectedRows(s -> s.accountId().equals(accountA), s -> Map.of("key_id", s.keyId())));
        // Without an account: both accounts, by day (UTC) of each record.
        assertThat(normalized(adminOk("/admin/v1/usage?group_by=day" + range()).getJsonArray("data")))
            .isEqualTo(expectedRows(s -> true, s -> Map.of("day", day(s))));
        // Several keys at once, ordered by each in turn.
        assertThat(normalized(adminOk("/admin/v1/usage?group_by=model,key" + range()).getJsonArray("data")))
            .isEqualTo(expectedRows(s -> true, s -> orderedKeys("model", s.model(), "key_id", s.keyId())));
    }

    @Test
    void adminUsageDefaultsToTheCurrentMonthAndGroupsByDay() {
        // The records were written moments ago, so they are in this calendar month (UTC).
        JsonObject page = adminOk("/admin/v1/usage");

        assertThat(normalized(page.getJsonArray("data"))).isEqualTo(expectedRows(s -> true, s -> Map.of("day", day(s))));
        LocalDate first = LocalDate.now(ZoneOffset.UTC).withDayOfMonth(1);
        assertThat(page.getString("from")).isEqualTo(first + "T00:00:00Z");
        assertThat(OffsetDateTime.parse(page.getString("to")).plusNanos(1000))
            .isEqualTo(first.plusMonths(1).atStartOfDay().atOffset(ZoneOffset.UTC));
    }

    // ------------------------------------------------------------------------------------------ logs

    @Test
    void logsPagedThreeAtATimeVisitEveryRequestOnceNewestFirst() {
        // When the logs are read three at a time, following next_cursor, for everyone and for account A
        List<JsonObject> all = pages("/admin/v1/logs?limit=3" + range());
        List<JsonObject> ofA = pages("/admin/v1/logs?limit=3&account_id=" + accountA + range());

        // Then every request id sent (X-Request-Id) is there exactly once, newest first
        assertThat(ids(all)).doesNotHaveDuplicates()
            .containsExactlyInAnyOrderElementsOf(sent.stream().map(Sent::requestId).toList());
        assertThat(ids(ofA)).doesNotHaveDuplicates().containsExactlyInAnyOrderElementsOf(
            sent.stream().filter(s -> s.accountId().equals(accountA)).map(Sent::requestId).toList());
        for (List<JsonObject> records : List.of(all, ofA)) {
            for (int i = 1; i < records.size(); i++) {
                JsonObject newer = records.get(i - 1);
                JsonObject older = records.get(i);
                assertThat(OffsetDateTime.parse(newer.getString("created_at")))
                    .as("%s is listed before %s", newer, older)
                    .isAfterOrEqualTo(OffsetDateTime.parse(older.getString("created_at")));
            }
        }
    }

    @Test
    void logRecordCarriesTheRequestIdAndEveryUsageField() {
        Map<String, JsonObject> records = byId(pages("/admin/v1/logs?limit=500" + range()));

        for (Sent s : sent) {
            JsonObject r = records.get(s.requestId());
            assertThat(r.fieldNames()).containsExactlyInAnyOrder("request_id", "created_at", "account_id", "key_id",
                "requested_model", "served_model", "provider", "deployment", "prompt_tokens", "cached_tokens",
                "cache_write_tokens", "completion_tokens", "reasoning_tokens", "cost_micro_usd", "price_version",
                "latency_ms", "ttft_ms", "status", "error_code", "stream", "fallback", "estimated", "plan_tokens",
                "wallet_micro_usd");
            assertThat(r.getString("account_id")).isEqualTo(s.accountId());
            // No plans here: the wallet paid the whole cost
            assertThat(r.getLong("plan_tokens")).isZero();
            assertThat(r.getLong("wallet_micro_usd")).isEqualTo(s.cost());
            assertThat(r.getString("key_id")).isEqualTo(s.keyId());
            assertThat(r.getString("requested_model")).isEqualTo(s.model());
            assertThat(r.getInteger("prompt_tokens")).isEqualTo(s.prompt());
            assertThat(r.getInteger("cached_tokens")).isEqualTo(s.cached());
            assertThat(r.getInteger("cache_write_tokens")).isZero();
            assertThat(r.getInteger("completion_tokens")).isEqualTo(s.completion());
            assertThat(r.getInteger("reasoning_tokens")).isZero();
            assertThat(r.getLong("cost_micro_usd")).isEqualTo(s.cost());
            assertThat(r.getInteger("status")).isEqualTo(s.status());
            assertThat(r.getBoolean("stream")).isEqualTo(s.stream());
            assertThat(r.getBoolean("fallback")).isFalse();
            assertThat(r.getBoolean("estimated")).isFalse();
            assertThat(r.getInteger("latency_ms")).isNotNegative();
            assertThat(OffsetDateTime.parse(r.getString("created_at"))).isEqualTo(createdAt.get(s.requestId()));
            if (s.status() == 200) {
                assertThat(r.getString("served_model")).isEqualTo(s.model());
                assertThat(r.getString("provider")).isEqualTo("openai");
                assertThat(r.getString("deployment")).isEqualTo("upstream-x");
                assertThat(r.getString("price_version")).isNotBlank();
                assertThat(r.getValue("error_code")).isNull();
            } else {
                assertThat(r.getString("error_code")).isNotBlank();
                // refused by the upstream: named as a served record names it, at no price
                assertThat(r.getString("served_model")).isEqualTo(s.model());
                assertThat(r.getString("provider")).isEqualTo("openai");
                assertThat(r.getString("deployment")).isEqualTo("upstream-x");
                assertThat(r.getValue("price_version")).isNull();
            }
            if (s.stream()) {
                assertThat(r.getInteger("ttft_ms")).isNotNull().isNotNegative();
            }
        }
    }

    @Test
    void logsFilterByKeyModelStatusAndTime() {
        String key2Id = key2.getString("id");
        assertThat(ids(pages("/admin/v1/logs?key_id=" + key2Id + range())))
            .containsExactlyInAnyOrderElementsOf(idsOf(s -> s.keyId().equals(key2Id)));
        assertThat(ids(pages("/admin/v1/logs?model=model-b" + range())))
            .containsExactlyInAnyOrderElementsOf(idsOf(s -> s.model().equals("model-b")));
        // A model alias filters by the catalog id it names.
        assertThat(ids(pages("/admin/v1/logs?model=alias-a&account_id=" + accountB + range())))
            .containsExactlyInAnyOrderElementsOf(idsOf(s -> s.model().equals("model-a") && s.accountId().equals(accountB)));
        assertThat(ids(pages("/admin/v1/logs?status=400" + range())))
            .containsExactlyInAnyOrderElementsOf(idsOf(s -> s.status() == 400));
        assertThat(ids(pages("/admin/v1/logs?status=error" + range())))
            .containsExactlyInAnyOrderElementsOf(idsOf(s -> s.status() == 400));
        assertThat(ids(pages("/admin/v1/logs?status=success&account_id=" + accountA + range())))
            .containsExactlyInAnyOrderElementsOf(idsOf(s -> s.status() == 200 && s.accountId().equals(accountA)));

        LocalDate firstDay = days().first();
        LocalDate lastDay = days().last();
        assertThat(pages("/admin/v1/logs?from=" + lastDay.plusDays(1) + "&to=" + lastDay.plusDays(2))).isEmpty();
        assertThat(pages("/admin/v1/logs?to=" + firstDay.minusDays(1) + "&from=" + firstDay.minusDays(2))).isEmpty();
        // A date `to` runs through the end of that day: from and to the same day is that whole day.
        assertThat(ids(pages("/admin/v1/logs?from=" + firstDay + "&to=" + lastDay))).hasSize(sent.size());

        // RFC 3339 bounds are inclusive to the microsecond: [second, second-to-last] leaves out the ends.
        List<Sent> byTime = sent.stream().sorted((x, y) -> {
            int c = createdAt.get(x.requestId()).compareTo(createdAt.get(y.requestId()));
            return c != 0 ? c : x.requestId().compareTo(y.requestId());
        }).toList();
        OffsetDateTime second = createdAt.get(byTime.get(1).requestId());
        OffsetDateTime beforeLast = createdAt.get(byTime.get(byTime.size() - 2).requestId());
        Set<String> inside = sent.stream().map(Sent::requestId).filter(id -> !createdAt.get(id).isBefore(second)
            && !createdAt.get(id).isAfter(beforeLast)).collect(Collectors.toSet());
        assertThat(ids(pages("/admin/v1/logs?from=" + encode(second.toString()) + "&to=" + encode(beforeLast.toString()))))
            .containsExactlyInAnyOrderElementsOf(inside);
        // An offset other than Z, its '+' left unencoded (a query string decodes it to a space).
        OffsetDateTime secondInTokyo = second.withOffsetSameInstant(ZoneOffset.ofHours(9));
        assertThat(ids(pages("/admin/v1/logs?from=" + secondInTokyo + "&to=" + encode(beforeLast.toString()))))
            .containsExactlyInAnyOrderElementsOf(inside);
    }

    // ------------------------------------------------------------------------------------------ public API

    @Test
    void publicUsageShowsTheCallersWholeAccountAndNothingElse() {
        for (String base : List.of("/v1", "/api/v1")) {
            // When key 2 asks for usage (even naming account B) and key B asks for its own
            // Then key 2 sees account A, both its keys, and key B only account B
            JsonObject ofA = ok(gateway.get(base + "/usage?account_id=" + accountB + range(), key2.getString("key")));
            JsonObject ofB = ok(gateway.get(base + "/usage?" + range().substring(1), keyB.getString("key")));

            assertThat(ofA.getString("object")).isEqualTo("list");
            assertThat(withoutUsd(ofA.getJsonArray("data"))).isEqualTo(expectedRows(s -> s.accountId().equals(accountA),
                s -> orderedKeys("day", day(s), "model", s.model())));
            assertThat(withoutUsd(ofB.getJsonArray("data"))).isEqualTo(expectedRows(s -> s.accountId().equals(accountB),
                s -> orderedKeys("day", day(s), "model", s.model())));
            for (Object row : ofA.getJsonArray("data")) {
                JsonObject r = (JsonObject) row;
                assertThat(BigDecimal.valueOf(r.getDouble("cost_usd")))
                    .isEqualByComparingTo(BigDecimal.valueOf(r.getLong("cost_micro_usd"), 6));
            }
            assertThat(ofA.getString("from")).isEqualTo(days().first().minusDays(1) + "T00:00:00Z");
            assertThat(ofA.getString("to")).isEqualTo(days().last().plusDays(1) + "T23:59:59.999999Z");
        }
        assertOpenAiError(gateway.get("/v1/usage", null), 401, "invalid_request_error", "invalid_api_key", null);
    }

    @Test
    void legacySubscriptionHardLimitIsBalancePlusThisMonthsSpend() {
        // Given account A's charges this month and its balance after them
        long spentA = sent.stream().filter(s -> s.accountId().equals(accountA)).mapToLong(Sent::cost).sum();
        long balanceA = gateway.adminOk("GET", "/admin/v1/accounts/" + accountA, null).getLong("balance_micro_usd");

        // When a chat UI asks for the subscription with one of A's keys
        JsonObject subscription = ok(gateway.get("/v1/dashboard/billing/subscription", key1.getString("key")));

        // $100 of signup credit, minus what was charged, plus this month's spend: $100 again.
        assertThat(balanceA).isEqualTo(100_000_000L - spentA);
        assertThat(subscription.getString("object")).isEqualTo("billing_subscription");
        assertThat(subscription.getBoolean("has_payment_method")).isTrue();
        assertThat(subscription.getDouble("hard_limit_usd")).isEqualTo(100.0);
        assertThat(subscription.getDouble("soft_limit_usd")).isEqualTo(100.0);
        assertThat(subscription.getDouble("system_hard_limit_usd")).isEqualTo(100.0);
        assertThat(subscription.getLong("access_until")).isZero();
        assertThat(subscription.fieldNames()).contains("plan", "account_name");
        assertThat(ok(gateway.get("/api/v1/dashboard/billing/subscription", keyB.getString("key")))
            .getDouble("hard_limit_usd")).isEqualTo(100.0);
    }

    @Test
    void legacyUsageIsTheAccountsSpendInCentsPerDayAndModel() {
        String range = "?start_date=" + days().first() + "&end_date=" + days().last().plusDays(1);
        // When a chat UI asks for the spend over the days of the records (end_date exclusive)
        JsonObject usage = ok(gateway.get("/v1/dashboard/billing/usage" + range, key1.getString("key")));

        // Then total_usage and each line item are account A's costs in US cents, exactly

        long spentA = sent.stream().filter(s -> s.accountId().equals(accountA)).mapToLong(Sent::cost).sum();
        assertThat(usage.getString("object")).isEqualTo("list");
        assertThat(BigDecimal.valueOf(usage.getDouble("total_usage")))
            .isEqualByComparingTo(BigDecimal.valueOf(spentA, 4));
        Map<String, Map<String, Long>> expected = new TreeMap<>();
        sent.stream().filter(s -> s.accountId().equals(accountA)).forEach(s -> expected
            .computeIfAbsent(day(s), d -> new TreeMap<>()).merge(s.model(), s.cost(), Long::sum));
        Map<String, Map<String, BigDecimal>> actual = new TreeMap<>();
        for (Object d : usage.getJsonArray("daily_costs")) {
            JsonObject daily = (JsonObject) d;
            String day = LocalDate.ofEpochDay(daily.getLong("timestamp") / 86_400).toString();
            for (Object item : daily.getJsonArray("line_items")) {
                JsonObject line = (JsonObject) item;
                actual.computeIfAbsent(day, x -> new TreeMap<>()).put(line.getString("name"),
                    BigDecimal.valueOf(line.getDouble("cost")));
            }
        }
        assertThat(actual.keySet()).isEqualTo(expected.keySet());
        expected.forEach((day, models) -> models.forEach((model, micro) ->
            assertThat(actual.get(day).get(model)).isEqualByComparingTo(BigDecimal.valueOf(micro, 4))));

        // end_date is exclusive, as in OpenAI's legacy API: a range ending where it starts is refused.
        assertOpenAiError(gateway.get("/v1/dashboard/billing/usage?start_date=" + days().first() + "&end_date="
            + days().first(), key1.getString("key")), 400, "invalid_request_error", "invalid_request_error", "start_date");
        // Account B sees only its own.
        long spentB = sent.stream().filter(s -> s.accountId().equals(accountB)).mapToLong(Sent::cost).sum();
        assertThat(BigDecimal.valueOf(ok(gateway.get("/api/v1/dashboard/billing/usage" + range, keyB.getString("key")))
            .getDouble("total_usage"))).isEqualByComparingTo(BigDecimal.valueOf(spentB, 4));
    }

    // ------------------------------------------------------------------------------------------ bad input

    @ParameterizedTest
    @CsvSource({
        "/admin/v1/usage?group_by=week, group_by",
        "/admin/v1/usage?from=yesterday, from",
        "/admin/v1/usage?to=2026-13-01, to",
        "/admin/v1/usage?from=2026-02-02&to=2026-02-01, from",
        "/admin/v1/logs?limit=0, limit",
        "/admin/v1/logs?limit=501, limit",
        "/admin/v1/logs?limit=ten, limit",
        "/admin/v1/logs?cursor=bm90LWEtY3Vyc29y, cursor",
        "/admin/v1/logs?cursor=%21%21%21, cursor",
        "/admin/v1/logs?status=teapot, status",
        "/admin/v1/logs?status=42, status",
        "/admin/v1/logs?to=2026-02-30T00:00:00Z, to",
        "/admin/v1/usage?to=%2B999999999-12-31, to",
        "/admin/v1/logs?from=%2B999999999-12-01, from",
        "/admin/v1/logs?from=0000-01-01T00:00:00Z, from",
    })
    void badAdminQueryIsA400NamingTheParameter(String path, String param) {
        assertOpenAiError(gateway.admin("GET", path, null), 400, "invalid_request_error", "invalid_request_error",
            param);
    }

    @ParameterizedTest
    @CsvSource({
        "/v1/usage?from=01/02/2026, from",
        "/api/v1/usage?to=tomorrow, to",
        "/v1/dashboard/billing/usage?start_date=2026-1-1, start_date",
        "/v1/dashboard/billing/usage?end_date=2026-01-01T00:00:00Z, end_date",
        "/v1/dashboard/billing/usage?end_date=%2B999999999-12-31, end_date",
        "/v1/usage?to=%2B999999999-12-31, to",
    })
    void badPublicQueryIsA400NamingTheParameter(String path, String param) {
        assertOpenAiError(gateway.get(path, key1.getString("key")), 400, "invalid_request_error",
            "invalid_request_error", param);
    }

    @Test
    void aNulCharacterInAFilterIsA400NotAServerError() {
        // PostgreSQL cannot take a NUL in a text value: the client's mistake, answered as such
        assertOpenAiError(gateway.admin("GET", "/admin/v1/usage?key_id=a%00b", null), 400, "invalid_request_error",
            "invalid_request_error", null);
    }

    @Test
    void usageAndLogsNeedTheAdminCredential() {
        for (String path : List.of("/admin/v1/usage", "/admin/v1/logs")) {
            HttpResponse<String> response = gateway.get(path, key1.getString("key"));
            assertThat(response.statusCode()).as(path).isEqualTo(401);
        }
    }

    // ------------------------------------------------------------------------------------------ helpers

    /** A range of whole days around every record: the day before the first through the day after the last. */
    private static String range() {
        return "&from=" + days().first().minusDays(1) + "&to=" + days().last().plusDays(1);
    }

    private static java.util.TreeSet<LocalDate> days() {
        return createdAt.values().stream().map(OffsetDateTime::toLocalDate)
            .collect(Collectors.toCollection(java.util.TreeSet::new));
    }

    private static String day(Sent s) {
        return createdAt.get(s.requestId()).toLocalDate().toString();
    }

    private static Map<String, Object> orderedKeys(String k1, Object v1, String k2, Object v2) {
        Map<String, Object> keys = new LinkedHashMap<>();
        keys.put(k1, v1);
        keys.put(k2, v2);
        return keys;
    }

    /**
     * The usage rows the sent requests make, grouped by the given keys and ordered by them: as
     * {@link #normalized} gives them back.
     */
    private static List<Map<String, Object>> expectedRows(Predicate<Sent> which,
                                                          Function<Sent, Map<String, Object>> groupKey) {
        Map<List<Object>, Map<String, Object>> groups = new TreeMap<>((a, b) -> {
            for (int i = 0; i < a.size(); i++) {
                int c = a.get(i).toString().compareTo(b.get(i).toString());
                if (c != 0) {
                    return c;
                }
            }
            return 0;
        });
        for (Sent s : sent.stream().filter(which).toList()) {
            Map<String, Object> key = groupKey.apply(s);
            Map<String, Object> row = groups.computeIfAbsent(new ArrayList<>(key.values()), k -> {
                Map<String, Object> r = new LinkedHashMap<>(key);
                r.put("requests", 0L);
                r.put("prompt_tokens", 0L);
                r.put("cached_tokens", 0L);
                // This traffic writes nothing to a provider's cache (AnthropicGatewayIT sums writes).
                r.put("cache_write_tokens", 0L);
                r.put("completion_tokens", 0L);
                r.put("reasoning_tokens", 0L);
                r.put("cost_micro_usd", 0L);
                return r;
            });
            row.merge("requests", 1L, (x, y) -> (Long) x + (Long) y);
            row.merge("prompt_tokens", (long) s.prompt(), (x, y) -> (Long) x + (Long) y);
            row.merge("cached_tokens", (long) s.cached(), (x, y) -> (Long) x + (Long) y);
            row.merge("completion_tokens", (long) s.completion(), (x, y) -> (Long) x + (Long) y);
            row.merge("cost_micro_usd", s.cost(), (x, y) -> (Long) x + (Long) y);
        }
        return new ArrayList<>(groups.values());
    }

    /** JSON numbers decode as Integer when small: compare as the longs they are. */
    private static List<Map<String, Object>> normalized(JsonArray rows) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object o : rows) {
            Map<String, Object> row = new LinkedHashMap<>();
            ((JsonObject) o).forEach(e -> row.put(e.getKey(),
                e.getValue() instanceof Integer i ? Long.valueOf(i) : e.getValue()));
            out.add(row);
        }
        return out;
    }

    private static List<Map<String, Object>> withoutUsd(JsonArray rows) {
        JsonArray copy = rows.copy();
        copy.forEach(r -> ((JsonObject) r).remove("cost_usd"));
        return normalized(copy);
    }

    private static Set<String> idsOf(Predicate<Sent> which) {
        return sent.stream().filter(which).map(Sent::requestId).collect(Collectors.toSet());
    }

    private static List<String> ids(List<JsonObject> records) {
        return records.stream().map(r -> r.getString("request_id")).toList();
    }

    private static Map<String, JsonObject> byId(List<JsonObject> records) {
        Map<String, JsonObject> out = new LinkedHashMap<>();
        records.forEach(r -> out.put(r.getString("request_id"), r));
        return out;
    }

    /** Every page of a logs query, following next_cursor to the end. */
    private static List<JsonObject> pages(String path) {
        List<JsonObject> records = new ArrayList<>();
        Set<String> cursors = new HashSet<>();
        String cursor = null;
        do {
            String url = cursor == null ? path : path + (path.contains("?") ? "&" : "?") + "cursor=" + encode(cursor);
            JsonObject page = adminOk(url);
            page.getJsonArray("data").forEach(r -> records.add((JsonObject) r));
            cursor = page.getString("next_cursor");
            assertThat(cursor == null || cursors.add(cursor)).as("cursor %s seen once", cursor).isTrue();
            assertThat(records.size()).as("records of %s", path).isLessThanOrEqualTo(sent.size());
        } while (cursor != null);
        return records;
    }

    private static JsonObject adminOk(String path) {
        return gateway.adminOk("GET", path, null);
    }

    private static JsonObject ok(HttpResponse<String> response) {
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return new JsonObject(response.body());
    }

    private static String encode(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }
}
