package io.tokenhub.bench;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The benchmarks' settings as they are given: {@code key=value} words in the arguments (Maven
 * passes one space-separated string), or {@code -D<prefix>key=value} when a main class is run by
 * hand. Arguments win over system properties. A word starting with {@code -} continues the value
 * before it, so that one setting can carry several JVM options.
 */
final class BenchArgs {

    private BenchArgs() {
    }

    static Map<String, String> parse(String prefix, String[] args) {
        Map<String, String> values = new LinkedHashMap<>();
        System.getProperties().forEach((k, v) -> {
            if (k.toString().startsWith(prefix)) {
                values.put(k.toString().substring(prefix.length()), v.toString());
            }
        });
        String last = null;
        for (String arg : args) {
            for (String part : arg.trim().split("\\s+")) {
                if (part.isBlank()) {
                    continue;
                }
                if (part.startsWith("-") && last != null) {
                    // A further JVM option of the previous value: gatewayJvm=-XX:+UseG1GC -Xlog:gc
                    values.merge(last, part, (before, more) -> before + " " + more);
                    continue;
                }
                int eq = part.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("expected key=value, got '" + part + "'");
                }
                last = part.substring(0, eq);
                values.put(last, part.substring(eq + 1));
            }
        }
        return values;
    }
}
