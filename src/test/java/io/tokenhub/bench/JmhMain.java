package io.tokenhub.bench;

import java.util.Arrays;

/**
 * Runs the JMH micro-benchmarks ({@code mvn -Pbench test-compile exec:exec@jmh}): splits the one
 * {@code -Djmh.args} string into JMH options and drops it when blank. The benchmarks:
 * {@link KeyLookupBenchmark}, {@code io.tokenhub.api.ChatRequestParserBenchmark},
 * {@code io.tokenhub.provider.openai.OpenAiRelayBenchmark},
 * {@code io.tokenhub.limit.RateLimiterBenchmark} and {@code io.tokenhub.accounting.SpoolLinesBenchmark}.
 * Each sets its own bounded warm-up, measurement and one fork (about 15 s per benchmark method).
 */
public final class JmhMain {

    private JmhMain() {
    }

    public static void main(String[] args) throws Exception {
        String[] options = Arrays.stream(args).flatMap(a -> Arrays.stream(a.trim().split("\\s+")))
            .filter(a -> !a.isBlank()).toArray(String[]::new);
        org.openjdk.jmh.Main.main(options);
    }
}
