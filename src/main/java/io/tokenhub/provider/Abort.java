package io.tokenhub.provider;

import java.util.ArrayList;
import java.util.List;

/**
 * The client's "stop": once {@link #abort()} is called, every registered action runs (and any
 * registered later runs at once). Used on one event loop only.
 */
public final class Abort {

    private List<Runnable> actions = new ArrayList<>(2);
    private boolean aborted;

    public void onAbort(Runnable action) {
        if (aborted) {
            action.run();
        } else {
            actions.add(action);
        }
    }

    public void abort() {
        if (aborted) {
            return;
        }
        aborted = true;
        List<Runnable> toRun = actions;
        actions = List.of();
        toRun.forEach(Runnable::run);
    }

    public boolean aborted() {
        return aborted;
    }
}
