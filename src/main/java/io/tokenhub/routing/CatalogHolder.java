package io.tokenhub.routing;

import java.util.concurrent.atomic.AtomicReference;

/** The current {@link Catalog}, swapped atomically on reload. */
public final class CatalogHolder {

    private final AtomicReference<Catalog> current;

    public CatalogHolder(Catalog initial) {
        this.current = new AtomicReference<>(initial);
    }

    public Catalog get() {
        return current.get();
    }

    public void set(Catalog next) {
        current.set(next);
    }
}
