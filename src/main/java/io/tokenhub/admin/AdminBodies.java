package io.tokenhub.admin;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenhub.admin.AdminStore.NewKey;
import io.tokenhub.core.ApiError.InvalidRequest;
import io.tokenhub.routing.Catalog;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.json.jackson.DatabindCodec;
import io.vertx.ext.web.RoutingContext;
import java.io.IOException;
import java.math.BigDecimal;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/** Field readers for admin request bodies; each failure is a 400 naming the field. */
final class AdminBodies {

    /** The last day RFC 3339 (and PostgreSQL's timestamps, here) can write. */
    private static final LocalDate LAST_DAY = LocalDate.of(9999, 12, 31);

    static final int DEFAULT_LIMIT = 50;
    static final int MAX_LIMIT = 500;
    /** The largest amount one call may move or set: a billion USD, far from what a balance can hold. */
    static final long MAX_MICRO_USD = 1_000_000_000L * 1_000_000;

    private AdminBodies() {
    }

    /**
     * Reads a decimal as it was written ({@link BigDecimal}), not as the nearest double: an amount of
     * 17 significant digits such as {@code 1.0000000000000001} USD would otherwise become 1 USD
     * before {@link #money} could see that it is finer than a micro-USD (until 2026-12-08 it was
     * credited as 1 USD).
     */
    private static final ObjectMapper EXACT = DatabindCodec.mapper().copy()
        .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS, DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    static JsonObject object(RoutingContext ctx) {
        if (ctx.body() == null || ctx.body().length() <= 0) {
            throw invalid("The request body is empty; send a JSON object.", null);
        }
        Object value;
        try {
            value = EXACT.readValue(ctx.body().buffer().getBytes(), Object.class);
        } catch (IOException e) {
            throw invalid("We could not parse the JSON body of your request.", null);
        }
        if (value instanceof Map<?, ?> map) {
            @SuppressWarnings("unchecked")
            Map<String, Object> fields = (Map<String, Object>) map;
            return new JsonObject(fields);
        }
        throw invalid("The request body must be a JSON object.", null);
    }

    /** Names, reasons, passwords: anything longer is a mistake (or an attempt to fill the database). */
    static final int MAX_STRING = 1024;

    static String requiredString(JsonObject body, String field) {
        String value = optionalString(body, field);
        if (value == null || value.isBlank()) {
            throw invalid("Missing required parameter: '" + field + "'.", field);
        }
        return value;
    }

    static String optionalString(JsonObject body, String field) {
        Object value = body.getValue(field);
        if (value != null && !(value instanceof String)) {
            throw invalid(field + " must be a string.", field);
        }
        if (value != null && ((String) value).length() > MAX_STRING) {
            throw invalid(field + " must be at most " + MAX_STRING + " characters.", field);
        }
        return (String) value;
    }

    /** A limit such as rpm or tpm: a positive integer (JSON null, where allowed, removes the limit). */
    static Integer positiveInt(JsonObject body, String field) {
        Object value = body.getValue(field);
        if (value == null) {
            return null;
        }
        if (!(value instanceof Integer i) || i <= 0) {
            throw invalid(field + " must be a positive integer (send null for no limit).", field);
        }
        return i;
    }

    /**
     * An amount of money as integer micro-USD: given either as USD in {@code <name>_usd} (a decimal
     * of at most six places: a finer amount is refused rather than rounded into another one) or as
     * micro-USD in {@code <name>_micro_usd} (an integer), not both. Null when neither is sent.
     */
    static Long money(JsonObject body, String name, boolean negativeAllowed) {
        String usdField = name + "_usd";
        String microField = name + "_micro_usd";
        Object usd = body.getValue(usdField);
        Object micro = body.getValue(microField);
        // Both named, even one as null (which clears): the value sent beside a clearing null was dropped.
        if (usd != null && micro != null
            || (usd != null || micro != null) && body.containsKey(usdField) && body.containsKey(microField)) {
            throw invalid("Send " + usdField + " or " + microField + ", not both.", microField);
        }
        String sign = negativeAllowed ? "" : "non-negative ";
        if (micro != null) {
            if (!(micro instanceof Integer || micro instanceof Long)
                || !negativeAllowed && ((Number) micro).longValue() < 0) {
                throw invalid(microField + " must be a " + sign + "integer number of micro-USD.", microField);
            }
            return bounded(((Number) micro).longValue(), microField);
        }
        if (usd == null) {
            return null;
        }
        if (!(usd instanceof Number n) || !Double.isFinite(n.doubleValue())
            || !negativeAllowed && n.doubleValue() < 0) {
            throw invalid(usdField + " must be a " + sign + "number of USD.", usdField);
        }
        BigDecimal micros = new BigDecimal(n.toString()).movePointRight(6);
        if (micros.stripTrailingZeros().scale() > 0) {
            throw invalid(usdField + " has more than six decimal places: money is counted in whole micro-USD.",
                usdField);
        }
        try {
            return bounded(micros.longValueExact(), usdField);
        } catch (ArithmeticException e) {
            throw invalid(usdField + " must be at most 1000000000 USD.", usdField);
        }
    }

    private static long bounded(long microUsd, String field) {
        if (microUsd > MAX_MICRO_USD || microUsd < -MAX_MICRO_USD) {
            throw invalid(field + " must be at most 1000000000 USD.", field);
        }
        return microUsd;
    }

    /** Those of {@code fields} that the body sends as an explicit JSON null. */
    static List<String> nulled(JsonObject body, List<String> fields) {
        return fields.stream().filter(f -> body.containsKey(f) && body.getValue(f) == null).toList();
    }

    /** When something begins: RFC 3339, or a date (its first moment, UTC). */
    static OffsetDateTime time(JsonObject body, String field) {
        return moment(body, field, false);
    }

    /**
     * When something ends: RFC 3339, or a date, which it lasts through (until the next day begins,
     * UTC), as a date ends a usage query's range.
     */
    static OffsetDateTime until(JsonObject body, String field) {
        return moment(body, field, true);
    }

    private static OffsetDateTime moment(JsonObject body, String field, boolean dateLastsThrough) {
        Object value = body.getValue(field);
        if (value == null) {
            return null;
        }
        OffsetDateTime at = null;
        if (value instanceof String raw) {
            // RFC 3339 allows a lower-case t and z, and a space between date and time.
            String text = raw.trim().toUpperCase(Locale.ROOT);
            if (text.length() > 10 && text.charAt(10) == ' ') {
                text = text.substring(0, 10) + 'T' + text.substring(11);
            }
            try {
                at = OffsetDateTime.parse(text);
            } catch (DateTimeParseException e) {
                try {
                    LocalDate date = LocalDate.parse(text);
                    // The last day RFC 3339 can write lasts to its last microsecond: its next day is year 10000.
                    at = !dateLastsThrough ? date.atStartOfDay().atOffset(ZoneOffset.UTC)
                        : date.equals(LAST_DAY) ? date.atTime(23, 59, 59, 999_999_000).atOffset(ZoneOffset.UTC)
                        : date.plusDays(1).atStartOfDay().atOffset(ZoneOffset.UTC);
                } catch (DateTimeParseException ignored) {
                    // reported below
                }
            }
        }
        // The years RFC 3339 can write, which PostgreSQL's timestamps hold (a later one failed in the
        // insert), in UTC, as it is stored and shown (an offset could carry one past either end).
        if (at != null) {
            at = at.withOffsetSameInstant(ZoneOffset.UTC);
        }
        if (at == null || at.getYear() < 1 || at.getYear() > 9999) {
            throw invalid(field + " must be an RFC 3339 timestamp such as 2026-12-31T23:59:59Z.", field);
        }
        return at;
    }

    /** Succeeds when there is no cursor or it names a row that exists; else a 400 naming {@code cursor}. */
    static Future<Void> known(String cursor, Function<String, Future<Optional<JsonObject>>> row) {
        if (cursor == null) {
            return Future.succeededFuture();
        }
        return row.apply(cursor).compose(found -> found.isPresent() ? Future.<Void>succeededFuture()
            : Future.failedFuture(invalid("cursor is not a next_cursor this list gave.", "cursor")));
    }

    /** A key's settings ({@code name, allowed_models, rpm, tpm, monthly_cap_…, expires_at}) for {@code accountId}. */
    static NewKey newKey(JsonObject body, String accountId, Catalog catalog) {
        return new NewKey(accountId, Optional.ofNullable(optionalString(body, "name")).orElse("default"),
            models(body, "allowed_models", catalog), positiveInt(body, "rpm"), positiveInt(body, "tpm"),
            money(body, "monthly_cap", false), until(body, "expires_at"));
    }

    /** Catalog model ids; aliases are accepted and stored as the id they name. */
    static List<String> models(JsonObject body, String field, Catalog catalog) {
        Object value = body.getValue(field);
        if (value == null) {
            return null;
        }
        if (!(value instanceof JsonArray array)) {
            throw invalid(field + " must be an array of model ids.", field);
        }
        List<String> ids = new ArrayList<>();
        for (Object item : array) {
            if (!(item instanceof String name)) {
                throw invalid(field + " must be an array of model ids.", field);
            }
            ids.add(catalog.model(name).orElseThrow(() ->
                invalid("Unknown model '" + name + "' in " + field + ".", field)).id());
        }
        return ids;
    }

    static int limit(String value) {
        if (value == null) {
            return DEFAULT_LIMIT;
        }
        try {
            int limit = Integer.parseInt(value);
            if (limit >= 1 && limit <= MAX_LIMIT) {
                return limit;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw invalid("limit must be an integer from 1 to " + MAX_LIMIT + ".", "limit");
    }

    static RuntimeException invalid(String message, String param) {
        return new InvalidRequest(message, param).toException();
    }
}
