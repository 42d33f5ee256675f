package io.tokenhub.limit;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.EntryProcessor;
import com.hazelcast.map.IMap;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.io.Serial;
import java.util.Map;

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
        Context context = Vertx.currentContext();
        var stage = windows.submitToKey(window, new Take(want, limit));
        return context == null ? Future.fromCompletionStage(stage) : Future.fromCompletionStage(stage, context);
    }

    @Override
    public Future<Long> used(String window) {
        Context context = Vertx.currentContext();
        var stage = windows.getAsync(window).thenApply(used -> used == null ? 0L : used);
        return context == null ? Future.fromCompletionStage(stage) : Future.fromCompletionStage(stage, context);
    }

    @Override
    public Future<Void> release(String window, long units) {
        Context context = Vertx.currentContext();
        var stage = windows.submitToKey(window, new Release(units)).thenApply(nothing -> (Void) null);
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
