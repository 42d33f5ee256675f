package io.tokenhub.provider.mock;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.Map;

/**
 * A placeholder instance of a JSON schema: what the mock model puts in tool-call arguments and in
 * {@code json_schema} answers, so that a client can parse them as it would a real model's. Objects
 * get their required properties only; a value is the schema's {@code default}, {@code const},
 * first {@code enum} or first {@code examples} entry if it has one, else a fixed one per type.
 * Local {@code $ref}s ({@code #/$defs/...}) are followed; {@code anyOf}/{@code oneOf} take their
 * first non-null branch.
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
        "uuid", "00000000-0000-4000-8000-000000000000");

    private final JsonObject root;
    private int values;

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
            return sample(resolve(ref), depth + 1);
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
        for (String choice : new String[] {"anyOf", "oneOf", "allOf"}) {
            if (s.getValue(choice) instanceof JsonArray branches && !branches.isEmpty()) {
                return sample(firstNonNull(branches), depth + 1);
            }
        }
        return switch (type(s)) {
            case "object" -> object(s, depth);
            case "array" -> array(s, depth);
            case "string" -> FORMATS.getOrDefault(s.getString("format", ""), "mock");
            case "integer" -> (long) Math.ceil(minimum(s));
            case "number" -> minimum(s);
            case "boolean" -> false;
            default -> null;
        };
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

    /** One item (or {@code minItems} of them), unless {@code maxItems} allows none. */
    private JsonArray array(JsonObject schema, int depth) {
        int count = Math.max(1, schema.getValue("minItems") instanceof Number min ? min.intValue() : 0);
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

    private static double minimum(JsonObject schema) {
        return schema.getValue("minimum") instanceof Number min ? min.doubleValue() : 0;
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
