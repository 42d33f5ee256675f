package io.tokenhub.limit;

import com.hazelcast.config.Config;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import io.tokenhub.limit.RateLimiter.Admission;
import io.tokenhub.limit.RateLimiter.Check;
import io.tokenhub.limit.RateLimiter.Unit;
import io.vertx.core.Future;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The limiter's cost per request far from the limit: one {@link RateLimiter#admit} of the four
 * checks a chat request makes (key RPM and TPM, account×model RPM and TPM), then the TPM
 * correction, over 1 024 keys whose limits the run never nears. With the {@code hazelcast} counter
 * the shared windows live in a real Hazelcast member in this JVM, so a lease that runs out costs an
 * entry-processor call; the teardown prints how many shared-counter calls each admission made, the
 * figure that shows leases keep the cluster off the request path.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx512m", "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED", "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED"})
public class RateLimiterBenchmark {

    private static final int KEYS = 1_024;

    @Param({"local", "hazelcast"})
    public String counter;

    private HazelcastInstance hazelcast;
    private RateLimiter limiter;
    private List<List<Check>> requests;
    private final LongAdder sharedCalls = new LongAdder();
    private long admissions;
    private int next;

    @Setup(Level.Trial)
    public void setUp() {
        SharedCounter shared = counter.equals("hazelcast") ? new HazelcastCounter(hazelcast()) : new LocalCounter();
        limiter = new RateLimiter(new SharedCounter() {
            @Override
            public Future<Grant> take(String window, long want, long limit) {
                sharedCalls.increment();
                return shared.take(window, want, limit);
            }

            @Override
            public Future<Long> used(String window) {
                return shared.used(window);
            }

            @Override
            public Future<Void> release(String window, long units) {
                return shared.release(window, units);
            }
        });
        requests = new ArrayList<>(KEYS);
        for (int i = 0; i < KEYS; i++) {
            String key = "key_" + i;
            String accountModel = "acct_" + (i % 64) + ":gpt-4o-mini";
            requests.add(List.of(
                new Check("key_rpm", key, Unit.REQUESTS, 1_000_000_000L, 1),
                new Check("key_tpm", key, Unit.TOKENS, 1_000_000_000_000L, 300),
                new Check("model_rpm", accountModel, Unit.REQUESTS, 1_000_000_000L, 1),
                new Check("model_tpm", accountModel, Unit.TOKENS, 1_000_000_000_000L, 300)));
        }
    }

    private HazelcastInstance hazelcast() {
        Config config = new Config().setClusterName("bench-" + UUID.randomUUID());
        config.getNetworkConfig().getJoin().getMulticastConfig().setEnabled(false);
        config.getNetworkConfig().getJoin().getTcpIpConfig().setEnabled(false);
        config.getNetworkConfig().getInterfaces().setEnabled(true).addInterface("127.0.0.1");
        config.setProperty("hazelcast.phone.home.enabled", "false");
        hazelcast = Hazelcast.newHazelcastInstance(config);
        return hazelcast;
    }

    @Benchmark
    public Admission admitAndCorrect() {
        List<Check> checks = requests.get(next++ & (KEYS - 1));
        Future<Admission> admitted = limiter.admit(checks);
        Admission admission = admitted.isComplete() ? admitted.result() : await(admitted);
        limiter.correct(admission, 120);
        admissions++;
        return admission;
    }

    private static Admission await(Future<Admission> pending) {
        try {
            return pending.toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("the shared counter did not answer", e);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        System.out.printf("%n%s counter: %d shared-counter calls for %d admissions (%.5f per admission)%n", counter,
            sharedCalls.sum(), admissions, admissions == 0 ? 0.0 : (double) sharedCalls.sum() / admissions);
        if (hazelcast != null) {
            hazelcast.shutdown();
        }
    }
}
