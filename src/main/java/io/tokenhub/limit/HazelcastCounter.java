package io.tokenhub.limit;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.EntryProcessor;
import com.hazelcast.map.IMap;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.io.Serial;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;

/**
 * Limit windows in a Hazelcast map ({@code tokenhub.limits}, backed up on a second member and
 * expiring on their own; sign-in windows in {@code tokenhub.signins}, bounded too): a take is one
 * entry-processor call on the member that owns the window, answered asynchronously — never a
 * blocking call on an event loop.
 */
public final class HazelcastCounter implements SharedCounter {

    public static final String MAP = "tokenhub.limits";
    public static final String SIGN_INS = "tokenhub.signins";

    private final IMap<String, Long> windows;

    public HazelcastCounter(HazelcastInstance hazelcast) {
        this(hazelcast, MAP);
    }

    public HazelcastCounter(HazelcastInstance hazelcast, String map) {
        this.windows = hazelcast.getMap(map);
    }

    @Override
    public Future<Grant> take(String window, long want, long limit) {
        return onCaller(() -> windows.submitToKey(window, new Take(want, limit)));
    }

    @Override
    public Future<Long> used(String window) {
        return onCaller(() -> windows.getAsync(window).thenApply(used -> used == null ? 0L : used));
    }

    @Override
    public Future<Void> release(String window, long units) {
        return onCaller(() -> windows.submitToKey(window, new Release(units)).thenApply(nothing -> (Void) null));
    }

    /**
     * The call's answer on the caller's context. A member that is no longer running refuses the call
     * by throwing rather than with a failed stage: that is a failed future too, which the rate limiter
     * answers on this node's count (it was a 500 on every limited request).
     */
    private static <T> Future<T> onCaller(Supplier<CompletionStage<T>> call) {
        Context context = Vertx.currentContext();
        CompletionStage<T> stage;
        try {
            stage = call.get();
        } catch (RuntimeException notRunning) {
            return Future.failedFuture(notRunning);
        }
        return context == null ? Future.fromCompletionStage(stage) : Future.fromCompletionStage(stage, context);
    }

    /** Runs on the member owning the window: what a node hands back, if the window is still there. */
    static final class Release implements EntryProcessor<String, Long, Object> {
        @Serial
        private static final long serialVersionUID = 1L;
        private final long units;

        Release(long units) {
            this.units = units;
        }

        @Override
        public Object process(Map.Entry<String, Long> entry) {
            if (entry.getValue() != null) {
                entry.setValue(Math.max(0, entry.getValue() - units));
            }
            return null;
        }
    }

    /** Runs on the member owning the window: grant what fits under the limit. */
    static final class Take implements EntryProcessor<String, Long, Grant> {
        @Serial
        private static final long serialVersionUID = 1L;
        private final long want;
        private final long limit;

        Take(long want, long limit) {
            this.want = want;
            this.limit = limit;
        }

        @Override
        public Grant process(Map.Entry<String, Long> entry) {
            long used = entry.getValue() == null ? 0 : entry.getValue();
            long granted = Math.max(0, Math.min(want, limit - used));
            if (granted > 0 || entry.getValue() == null) {
                entry.setValue(used + granted);
            }
            return new Grant(granted, used + granted);
        }
    }
}
