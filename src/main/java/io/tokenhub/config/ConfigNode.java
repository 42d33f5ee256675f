package io.tokenhub.config;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A view on one mapping of the parsed YAML that knows its path and reports every problem into a
 * shared list instead of throwing at the first, and warns of keys nobody asked for (a typo, or a
 * key of a later version: the file's keys are fixed, but more may be added).
 */
final class ConfigNode {

    private final String path;
    private final Map<String, Object> values;
    private final List<String> problems;
    private final List<String> warnings;
    private final Set<String> read = new HashSet<>();

    ConfigNode(String path, Map<String, Object> values, List<String> problems, List<String> warnings) {
        this.path = path;
        this.values = values == null ? Map.of() : values;
        this.problems = problems;
        this.warnings = warnings;
    }

    String path() {
        return path;
    }

    void problem(String field, String message) {
        problems.add(where(field) + ": " + message);
    }

    /** Something the gateway can start with, but that the operator should hear about. */
    void warn(String field, String message) {
        warnings.add(where(field) + ": " + message);
    }

    private String where(String field) {
        return path.isEmpty() ? field : path + "." + field;
    }

    boolean has(String field) {
        return values.get(field) != null;
    }

    String string(String field, String fallback) {
        Object value = take(field);
        if (value == null) {
            return fallback;
        }
        if (value instanceof Map || value instanceof List) {
            problem(field, "must be a scalar");
            return fallback;
        }
        return value.toString().trim();
    }

    String requiredString(String field) {
        String value = string(field, null);
        if (value == null || value.isEmpty()) {
            problem(field, "is required");
            return "";
        }
        return value;
    }

    long number(String field, long fallback, long min, long max) {
        Object value = take(field);
        if (value == null || value.toString().isBlank()) {
            return fallback;
        }
        try {
            long parsed = value instanceof Number n ? whole(n) : Long.parseLong(value.toString().trim());
            if (parsed < min || parsed > max) {
                problem(field, "must be between " + min + " and " + max + ", not " + parsed);
                return fallback;
            }
            return parsed;
        } catch (NumberFormatException e) {
            problem(field, "must be a whole number, not '" + value + "'");
            return fallback;
        }
    }

    /** A YAML number that is whole and fits a long; else as a string that is not one, reported alike. */
    private static long whole(Number n) {
        if (n instanceof Integer || n instanceof Long || n instanceof Short || n instanceof Byte) {
            return n.longValue();
        }
        try {
            return new java.math.BigDecimal(n.toString()).longValueExact();
        } catch (ArithmeticException | NumberFormatException e) {
            // 1.7, or more than a long holds: not silently cut to 1, or wrapped
            throw new NumberFormatException(n.toString());
        }
    }

    int integer(String field, int fallback, int min, int max) {
        return (int) number(field, fallback, min, max);
    }

    double decimal(String field, double fallback) {
        Object value = take(field);
        if (value == null || value.toString().isBlank()) {
            return fallback;
        }
        try {
            double parsed = value instanceof Number n ? n.doubleValue() : Double.parseDouble(value.toString().trim());
            if (parsed < 0 || Double.isNaN(parsed) || Double.isInfinite(parsed)) {
                problem(field, "must be a non-negative number, not " + value);
                return fallback;
            }
            return parsed;
        } catch (NumberFormatException e) {
            problem(field, "must be a number, not '" + value + "'");
            return fallback;
        }
    }

    boolean bool(String field, boolean fallback) {
        Object value = take(field);
        if (value == null) {
            return fallback;
        }
        if (value instanceof Boolean b) {
            return b;
        }
        String text = value.toString().trim();
        if (text.equalsIgnoreCase("true") || text.equalsIgnoreCase("false")) {
            return Boolean.parseBoolean(text);
        }
        problem(field, "must be true or false, not '" + value + "'");
        return fallback;
    }

    List<String> strings(String field) {
        Object value = take(field);
        if (value == null) {
            return List.of();
        }
        if (!(value instanceof List<?> list)) {
            problem(field, "must be a list");
            return List.of();
        }
        List<String> out = new ArrayList<>();
        for (Object item : list) {
            if (item == null || item instanceof Map || item instanceof List) {
                problem(field, "must hold plain strings");
            } else {
                out.add(item.toString().trim());
            }
        }
        return List.copyOf(out);
    }

    ConfigNode child(String field) {
        Object value = take(field);
        if (value != null && !(value instanceof Map)) {
            problem(field, "must be a mapping");
            value = null;
        }
        return new ConfigNode(where(field), asMap(value), problems, warnings);
    }

    List<ConfigNode> children(String field) {
        Object value = take(field);
        if (value == null) {
            return List.of();
        }
        if (!(value instanceof List<?> list)) {
            problem(field, "must be a list");
            return List.of();
        }
        List<ConfigNode> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            String itemPath = where(field) + "[" + i + "]";
            if (list.get(i) instanceof Map<?, ?> map) {
                out.add(new ConfigNode(itemPath, asMap(map), problems, warnings));
            } else {
                problems.add(itemPath + ": must be a mapping");
            }
        }
        return out;
    }

    /** Warns of every key of this mapping that no reader asked for. */
    void warnUnknown() {
        for (String key : values.keySet()) {
            if (!read.contains(key)) {
                warn(key, "unknown key, ignored");
            }
        }
    }

    private Object take(String field) {
        read.add(field);
        return values.get(field);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> asMap(Object value) {
        if (value == null) {
            return Map.of();
        }
        Map<String, Object> out = new LinkedHashMap<>();
        ((Map<Object, Object>) value).forEach((k, v) -> out.put(String.valueOf(k), v));
        return out;
    }
}
