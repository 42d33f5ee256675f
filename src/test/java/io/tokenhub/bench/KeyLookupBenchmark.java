package io.tokenhub.bench;

import com.github.benmanes.caffeine.cache.Cache;
import io.tokenhub.auth.ApiKeys;
import io.tokenhub.auth.Authenticator;
import io.tokenhub.auth.KeyContext;
import io.tokenhub.auth.KeyStore;
import io.vertx.core.Future;
import java.lang.reflect.Field;
import java.time.Clock;
import java.util.Set;
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
 * Authentication of a request whose key is already cached: {@link Authenticator#authenticate} with
 * the header as it arrives. The store behind it has no database ({@code new KeyStore(null)}): a
 * cache miss would fail the benchmark, so what is measured is the hot path only. The cache is
 * filled through its private field, as the look-up through the store would have done. Also the
 * SHA-256 of a key, which the cache by presented key saves on every request.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx512m"})
public class KeyLookupBenchmark {

    private Authenticator auth;
    private String header;
    private String key;

    @Setup
    @SuppressWarnings("unchecked")
    public void setUp() throws Exception {
        auth = new Authenticator(new KeyStore(null), Clock.systemUTC());
        key = ApiKeys.newKey();
        header = "Bearer " + key;
        Field known = Authenticator.class.getDeclaredField("known");
        known.setAccessible(true);
        ((Cache<String, KeyContext>) known.get(auth)).put(key,
            new KeyContext("key_1", "acct_1", "active", "active", Set.of(), 0, 0, KeyContext.NO_CAP, null));
        Future<KeyContext> first = auth.authenticate(header);
        if (!first.succeeded()) {
            throw new IllegalStateException("the warmed cache did not answer: " + first.cause());
        }
    }

    @Benchmark
    public KeyContext cachedKey() {
        return auth.authenticate(header).result();
    }

    @Benchmark
    public byte[] sha256OfKey() {
        return ApiKeys.sha256(key);
    }
}
