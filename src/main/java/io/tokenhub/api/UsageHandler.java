package io.tokenhub.api;

import io.tokenhub.accounting.UsageSync;
import io.tokenhub.admin.UsageQueries;
import io.tokenhub.admin.UsageQueries.Filter;
import io.tokenhub.admin.UsageQueries.GroupBy;
import io.tokenhub.admin.UsageQueries.Range;
import io.tokenhub.auth.Authenticator;
import io.tokenhub.auth.KeyContext;
import io.tokenhub.core.ApiError.InvalidRequest;
import io.tokenhub.routing.CatalogHolder;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.math.BigDecimal;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * What a key may see of its own account's spend: {@code GET /v1/usage} (totals by day and model),
 * and the legacy OpenAI {@code GET /v1/dashboard/billing/subscription} and {@code /usage} shapes
 * that third-party chat UIs read to show balance and spend. Always the caller's account, whatever
 * the query says.
 */
final class UsageHandler {

    private static final List<GroupBy> DAY_AND_MODEL = List.of(GroupBy.DAY, GroupBy.MODEL);

    private final Authenticator auth;
    private final CatalogHolder catalog;
    private final UsageQueries queries;
    private final UsageSync sync;

    UsageHandler(Authenticator auth, CatalogHolder catalog, UsageQueries queries, UsageSync sync) {
        this.auth = auth;
        this.catalog = catalog;
        this.queries = queries;
        this.sync = sync;
    }

    /**
     * {@code GET /v1/usage?from=&to=&model=&key_id=}: {@code {object: "list", data: [{day, model,
     * requests, prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens, reasoning_tokens,
     * cost_micro_usd, cost_usd}], from, to}},
     * dates inclusive in UTC, the current month by default.
     */
    void usage(RoutingContext ctx) {
        run(ctx, key -> {
            Filter filter = Filter.parse(name -> name.equals("account_id") || name.equals("status") ? null
                : ctx.queryParams().get(name), queries.clock())
                .withAccount(key.accountId()).withCatalogIds(catalog.get());
            return queries.usage(filter, DAY_AND_MODEL).map(rows -> {
                rows.forEach(row -> {
                    JsonObject r = (JsonObject) row;
                    r.put("cost_usd", usd(r.getLong("cost_micro_usd")));
                });
                return new JsonObject().put("object", "list").put("data", rows)
                    .put("from", filter.from().toInstant().toString())
                    .put("to", filter.to().toInstant().toString());
            });
        });
    }

    /**
     * {@code GET /v1/dashboard/billing/subscription}: the legacy shape, with {@code hard_limit_usd} =
     * wallet balance + this month's spend (so a UI that subtracts the month's usage shows the balance).
     */
    void subscription(RoutingContext ctx) {
        run(ctx, key -> queries.wallet(key.accountId(), Range.currentMonth(queries.clock())).map(wallet -> {
            BigDecimal limit = usd(wallet.balanceMicroUsd() + wallet.spentMicroUsd());
            return new JsonObject()
                .put("object", "billing_subscription")
                .put("has_payment_method", true)
                .put("canceled", false)
                .put("canceled_at", null)
                .put("delinquent", null)
                .put("access_until", key.expiresAt() == null ? 0L : key.expiresAt().getEpochSecond())
                .put("soft_limit_usd", limit)
                .put("hard_limit_usd", limit)
                .put("system_hard_limit_usd", limit)
                .put("plan", new JsonObject().put("title", "Pay-as-you-go").put("id", "payg"))
                .put("primary", true)
                .put("account_name", wallet.name())
                .put("po_number", null)
                .put("billing_email", null)
                .put("tax_ids", null)
                .put("billing_address", null)
                .put("business_address", null);
        }));
    }

    /**
     * {@code GET /v1/dashboard/billing/usage?start_date=YYYY-MM-DD&end_date=YYYY-MM-DD}: spend per day
     * and model in US cents (the legacy unit). As in OpenAI's legacy API, {@code end_date} is
     * exclusive; both default to the current month.
     */
    void billingUsage(RoutingContext ctx) {
        run(ctx, key -> {
            var start = date(ctx.queryParams().get("start_date"), "start_date");
            var end = date(ctx.queryParams().get("end_date"), "end_date");
            Range range = Range.filled(start == null ? null : start.atStartOfDay().atOffset(ZoneOffset.UTC),
                end == null ? null : end.atStartOfDay().atOffset(ZoneOffset.UTC), queries.clock());
            if (!range.until().isAfter(range.from())) {
                throw new InvalidRequest("start_date must be before end_date (end_date is exclusive).", "start_date")
                    .toException();
            }
            Filter filter = new Filter(key.accountId(), null, null, null, null, range.from(), range.until());
            return queries.usage(filter, DAY_AND_MODEL).map(rows -> legacyUsage(rows));
        });
    }

    private static JsonObject legacyUsage(JsonArray rows) {
        Map<String, JsonArray> days = new LinkedHashMap<>();
        long total = 0;
        for (Object o : rows) {
            JsonObject row = (JsonObject) o;
            long cost = row.getLong("cost_micro_usd");
            total += cost;
            days.computeIfAbsent(row.getString("day"), d -> new JsonArray())
                .add(new JsonObject().put("name", row.getString("model")).put("cost", cents(cost)));
        }
        JsonArray daily = new JsonArray();
        days.forEach((day, items) -> daily.add(new JsonObject()
            .put("timestamp", LocalDate.parse(day).atStartOfDay().toEpochSecond(ZoneOffset.UTC))
            .put("line_items", items)));
        return new JsonObject().put("object", "list").put("daily_costs", daily).put("total_usage", cents(total));
    }

    private static LocalDate date(String value, String param) {
        if (value == null || value.isBlank()) {
            return null;
        }
        try {
            LocalDate date = LocalDate.parse(value.trim());
            if (date.getYear() >= 1 && date.getYear() <= 9999) {
                return date;
            }
        } catch (DateTimeParseException e) {
            // refused below
        }
        throw new InvalidRequest(param + " must be a date such as 2026-01-31 (YYYY-MM-DD).", param).toException();
    }

    /** Authenticates, has this node's finished requests written, runs, and writes the JSON or the error. */
    private void run(RoutingContext ctx, Function<KeyContext, Future<JsonObject>> operation) {
        auth.authenticate(ctx.request().getHeader("Authorization"))
            .compose(key -> sync.sync().compose(v -> operation.apply(key)))
            .onSuccess(json -> ctx.response().putHeader("Content-Type", Headers.JSON).end(json.toBuffer()))
            .onFailure(failure -> ErrorWriter.write(ctx.response(), failure));
    }

    /** Exact USD for JSON (a decimal number, never binary floating point). */
    static BigDecimal usd(long microUsd) {
        return plain(BigDecimal.valueOf(microUsd, 6));
    }

    /** Exact US cents, the legacy billing unit. */
    static BigDecimal cents(long microUsd) {
        return plain(BigDecimal.valueOf(microUsd, 4));
    }

    /** Without trailing zeros, and never in exponent notation (100, not 1E+2). */
    private static BigDecimal plain(BigDecimal value) {
        BigDecimal stripped = value.stripTrailingZeros();
        return stripped.scale() < 0 ? stripped.setScale(0) : stripped;
    }
}
