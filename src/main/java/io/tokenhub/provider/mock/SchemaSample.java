package io.tokenhub.provider.mock;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.math.BigDecimal;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A placeholder instance of a JSON schema: what the mock model puts in tool-call arguments and in
 * {@code json_schema} answers, so that a client can parse them as it would a real model's. Objects
 * get their required properties only; a value is the schema's {@code default}, {@code const},
 * first {@code enum} or first {@code examples} entry if it has one, else a fixed one per type.
 * Local {@code $ref}s ({@code #/$defs/...}) are followed; {@code anyOf}/{@code oneOf} take their
 * first non-null branch, {@code allOf} every part (objects merged). A recursive schema ends where it
 * may: an array of the definition being sampled gets its {@code minItems} (none by default), an
 * optional one ({@code anyOf} with null) is null. Numbers keep to {@code minimum}, {@code maximum},
 * their exclusive forms and {@code multipleOf}, strings to {@code minLength}, {@code maxLength} and
 * the common {@code format}s; a {@code pattern} is not followed.
 */
final class SchemaSample {

    /** Deep enough for any real schema, and an end to a recursive one whose recursion is required. */
    private static final int MAX_DEPTH = 16;
    /**
     * Values in one sample at most: the schema is the client's, and {@code minItems} of a few
     * billion, or arrays of arrays, must not keep the event loop busy or fill the heap. Past it,
     * arrays come out shorter than their {@code minItems}.
     */
    static final int MAX_VALUES = 10_000;
    private static final Map<String, String> FORMATS = Map.of(
        "date-time", "2025-01-01T00:00:00Z",
        "date", "2025-01-01",
        "time", "00:00:00Z",
        "email", "mock@example.com",
        "uri", "https://example.com/",
        "uuid", "00000000-0000-4000-8000-000000000000",
        "ipv4", "192.0.2.1",
        "ipv6", "2001:db8::1",
        "duration", "P1D",
        "hostname", "example.com");

    /** The longest string made for a {@code minLength}: past it, the sample is shorter than asked. */
    private static final int MAX_STRING = 10_000;

    private final JsonObject root;
    private int values;
    /** The {@code $ref}s being sampled, from the root down to here. */
    private final ArrayDeque<String> expanding = new ArrayDeque<>();

    private SchemaSample(JsonObject root) {
        this.root = root;
    }

    /** A sample of {@code schema} as an object: tool arguments and OpenAI structured outputs are always one. */
    static JsonObject object(Object schema) {
        if (!(schema instanceof JsonObject s)) {
            return new JsonObject();
        }
        return new SchemaSample(s).sample(s, 0) instanceof JsonObject sample ? sample : new JsonObject();
    }

    private Object sample(Object schema, int depth) {
        if (!(schema instanceof JsonObject s) || depth > MAX_DEPTH || ++values > MAX_VALUES) {
            return null;
        }
        if (s.getValue("$ref") instanceof String ref) {
            expanding.push(ref);
            try {
                return sample(resolve(ref), depth + 1);
            } finally {
                expanding.pop();
            }
        }
        for (String given : new String[] {"default", "const"}) {
            if (s.containsKey(given)) {
                return s.getValue(given);
            }
        }
        for (String listed : new String[] {"enum", "examples"}) {
            if (s.getValue(listed) instanceof JsonArray values && !values.isEmpty()) {
                return values.getValue(0);
            }
        }
        if (s.getValue("allOf") instanceof JsonArray parts && parts.size() > 1) {
            // Every part holds at once: objects (zod's and(), an extended model) are merged, each
            // part's properties sampled; anything else is sampled from its first part.
            List<Object> samples = new ArrayList<>();
            parts.forEach(part -> samples.add(sample(part, depth + 1)));
            if (samples.stream().allMatch(JsonObject.class::isInstance)) {
                JsonObject merged = new JsonObject();
                samples.forEach(part -> merged.mergeIn((JsonObject) part));
                return merged;
            }
            return samples.get(0);
        }
        for (String choice : new String[] {"anyOf", "oneOf", "allOf"}) {
            if (s.getValue(choice) instanceof JsonArray branches && !branches.isEmpty()) {
                Object branch = firstNonNull(branches);
                if (recurs(branch) && branches.stream().anyMatch(SchemaSample::isNull)) {
                    return null;
                }
                return sample(branch, depth + 1);
            }
        }
        return switch (type(s)) {
            case "object" -> object(s, depth);
            case "array" -> array(s, depth);
            case "string" -> string(s);
            case "integer" -> (long) multiple(s, integer(s));
            case "number" -> multiple(s, number(s));
            case "boolean" -> false;
            default -> null;
        };
    }

    /** Whether sampling {@code schema} would start again a definition being sampled. */
    private boolean recurs(Object schema) {
        return schema instanceof JsonObject s && s.getValue("$ref") instanceof String ref && expanding.contains(ref);
    }

    private static boolean isNull(Object branch) {
        return branch instanceof JsonObject b && "null".equals(b.getValue("type"));
    }

    /** The format's sample, or {@code mock}, made as long as {@code minLength} asks and cut to {@code maxLength}. */
    private static String string(JsonObject schema) {
        String text = FORMATS.getOrDefault(schema.getString("format", ""), "mock");
        int min = Math.min(MAX_STRING, count(schema, "minLength", 0));
        if (text.length() < min) {
            text = text + "o".repeat(min - text.length());
        }
        int max = count(schema, "maxLength", Integer.MAX_VALUE);
        return text.length() > max ? text.substring(0, max) : text;
    }

    /** 0, or the bound nearest to it that the schema sets. */
    private static long integer(JsonObject schema) {
        long value = 0;
        Double low = bound(schema, "minimum");
        Double lowExcluded = excluded(schema, "exclusiveMinimum", "minimum");
        Double high = bound(schema, "maximum");
        Double highExcluded = excluded(schema, "exclusiveMaximum", "maximum");
        if (low != null) {
            value = Math.max(value, (long) Math.ceil(low));
        }
        if (lowExcluded != null) {
            value = Math.max(value, (long) Math.floor(lowExcluded) + 1);
        }
        if (high != null) {
            value = Math.min(value, (long) Math.floor(high));
        }
        if (highExcluded != null) {
            value = Math.min(value, (long) Math.ceil(highExcluded) - 1);
        }
        return value;
    }

    /** 0, or a value within the bounds the schema sets: the lowest one allowed, else one inside an open end. */
    private static double number(JsonObject schema) {
        double low = bound(schema, "minimum") != null ? bound(schema, "minimum") : Double.NEGATIVE_INFINITY;
        double high = bound(schema, "maximum") != null ? bound(schema, "maximum") : Double.POSITIVE_INFINITY;
        Double lowExcluded = excluded(schema, "exclusiveMinimum", "minimum");
        Double highExcluded = excluded(schema, "exclusiveMaximum", "maximum");
        double above = lowExcluded != null && lowExcluded >= low ? lowExcluded : Double.NaN;
        double below = highExcluded != null && highExcluded <= high ? highExcluded : Double.NaN;
        if (!Double.isNaN(above)) {
            low = above;
        }
        if (!Double.isNaN(below)) {
            high = below;
        }
        if (0 > low && 0 < high || 0 == low && Double.isNaN(above) || 0 == high && Double.isNaN(below)) {
            return 0;
        }
        if (Double.isInfinite(low)) {
            return Double.isNaN(below) ? high : high - 1;
        }
        if (Double.isInfinite(high)) {
            return Double.isNaN(above) ? low : low + 1;
        }
        return Double.isNaN(above) ? low : Double.isNaN(below) ? high : (low + high) / 2;
    }

    /**
     * The value moved to a multiple of the schema's {@code multipleOf}: the next one up, else (past
     * an upper bound) the next one down. Computed in decimal, so that 3 × 0.1 is 0.3.
     */
    private static double multiple(JsonObject schema, double value) {
        if (!(schema.getValue("multipleOf") instanceof Number step) || step.doubleValue() <= 0) {
            return value;
        }
        BigDecimal m = new BigDecimal(step.toString());
        double ratio = value / m.doubleValue();
        double up = m.multiply(BigDecimal.valueOf((long) Math.ceil(ratio))).doubleValue();
        double down = m.multiply(BigDecimal.valueOf((long) Math.floor(ratio))).doubleValue();
        Double high = bound(schema, "maximum");
        Double highExcluded = excluded(schema, "exclusiveMaximum", "maximum");
        boolean upFits = (high == null || up <= high) && (highExcluded == null || up < highExcluded);
        return upFits ? up : down;
    }

    private static Double bound(JsonObject schema, String keyword) {
        return schema.getValue(keyword) instanceof Number n ? n.doubleValue() : null;
    }

    /** An exclusive bound: a number, or (draft 4) {@code true} making the inclusive one exclusive. */
    private static Double excluded(JsonObject schema, String keyword, String inclusive) {
        return Boolean.TRUE.equals(schema.getValue(keyword)) ? bound(schema, inclusive) : bound(schema, keyword);
    }

    private static int count(JsonObject schema, String keyword, int absent) {
        return schema.getValue(keyword) instanceof Number n ? (int) Math.max(0, Math.min(Integer.MAX_VALUE,
            n.longValue())) : absent;
    }

    private JsonObject object(JsonObject schema, int depth) {
        JsonObject out = new JsonObject();
        JsonObject properties = schema.getValue("properties") instanceof JsonObject p ? p : new JsonObject();
        if (schema.getValue("required") instanceof JsonArray required) {
            for (Object name : required) {
                if (name instanceof String n) {
                    out.put(n, sample(properties.getValue(n), depth + 1));
                }
            }
        }
        return out;
    }

    /**
     * One item (or {@code minItems} of them), unless {@code maxItems} allows none; only
     * {@code minItems} when an item would start again a definition being sampled.
     */
    private JsonArray array(JsonObject schema, int depth) {
        int least = count(schema, "minItems", 0);
        int count = recurs(schema.getValue("items")) ? least : Math.max(1, least);
        if (schema.getValue("maxItems") instanceof Number max) {
            count = Math.min(count, max.intValue());
        }
        JsonArray out = new JsonArray();
        // Each item made anew, so that the bound counts every value the answer will hold.
        for (int i = 0; i < count && values < MAX_VALUES; i++) {
            out.add(sample(schema.getValue("items"), depth + 1));
        }
        return out;
    }

    /** The declared type (the first non-null one of a list), else what the keywords imply. */
    private static String type(JsonObject schema) {
        Object type = schema.getValue("type");
        if (type instanceof String t) {
            return t;
        }
        if (type instanceof JsonArray types) {
            for (Object t : types) {
                if (t instanceof String name && !name.equals("null")) {
                    return name;
                }
            }
        }
        if (schema.containsKey("properties") || schema.containsKey("required")) {
            return "object";
        }
        return schema.containsKey("items") ? "array" : "null";
    }

    private static Object firstNonNull(JsonArray branches) {
        for (Object branch : branches) {
            if (!(branch instanceof JsonObject b && "null".equals(b.getValue("type")))) {
                return branch;
            }
        }
        return branches.getValue(0);
    }

    /** A JSON pointer into the root schema ({@code #/$defs/Item}); null for a remote reference. */
    private Object resolve(String ref) {
        if (!ref.startsWith("#")) {
            return null;
        }
        Object at = root;
        for (String token : ref.substring(1).split("/")) {
            if (token.isEmpty()) {
                continue;
            }
            String key = token.replace("~1", "/").replace("~0", "~");
            if (!(at instanceof JsonObject node)) {
                return null;
            }
            at = node.getValue(key);
        }
        return at;
    }
}
