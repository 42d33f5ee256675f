package io.tokenhub.accounting;

import io.tokenhub.billing.Payment;
import io.tokenhub.core.Usage;
import io.vertx.core.buffer.Buffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A batch of 32 usage records as the journal (and the spool) writes them: field by field into
 * one buffer ({@code lines}), against a map per record encoded by Vert.x ({@code maps}, how the
 * spool wrote them before the journal wrote every record).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx512m"})
public class SpoolLinesBenchmark {

    private List<UsageEvent> batch;

    @Setup
    public void records() {
        batch = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            batch.add(new UsageEvent("req_0mxbdm46b8PfzSOTvFg2X" + i, Instant.now(), "acct_aJh0btyvMqyDtLbL",
                "key_GSrAEcE6UZZziRTn", "bench-chat", "bench-chat", "fake", "bench-model",
                new Usage(11, 0, 5, 0, false), 5, "p-9f3a", 1, -1, 200, null, false, false,
                new Payment(Map.of(), 5)));
        }
    }

    @Benchmark
    public Buffer lines() {
        return Spool.jsonLines(batch);
    }

    @Benchmark
    public Buffer maps() {
        Buffer content = Buffer.buffer();
        for (UsageEvent e : batch) {
            content.appendString(e.toJson().encode()).appendByte((byte) '\n');
        }
        return content;
    }
}
