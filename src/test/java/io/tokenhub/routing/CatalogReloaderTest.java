package io.tokenhub.routing;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.config.ConfigLoader;
import io.tokenhub.config.TokenHubConfig;
import io.tokenhub.telemetry.Metrics;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A node that starts while a reload goes round: it reads its file again once it listens. */
class CatalogReloaderTest {

    private static final String CATALOG = """
        providers: [ { id: mock, type: mock } ]
        models:
          - id: %s
            pricing: { input: %s, output: 1.0 }
            deployments: [ { provider: mock, model: mock-chat } ]
        """;

    @TempDir
    Path dir;
    private final Vertx vertx = Vertx.vertx();
    private final ConfigLoader loader = new ConfigLoader(name -> null);

    @AfterEach
    void close() {
        vertx.close().await();
    }

    @Test
    void aFileChangedAfterTheNodeReadItIsAppliedOnceTheNodeListens() throws IOException {
        // Given a node that read the file with model a, and the file changed meanwhile (a reload
        // published before this node listened)
        TokenHubConfig started = loader.parse(CATALOG.formatted("a", "1.0"), "test");
        Path file = Files.writeString(dir.resolve("tokenhub.yaml"), CATALOG.formatted("b", "2.0"));
        CatalogHolder catalog = new CatalogHolder(Catalog.of(started));

        // When it starts listening
        new CatalogReloader(vertx, file, loader, started, catalog, new Upstreams(vertx, new Metrics())).listen().await();

        // Then it serves the file's catalog
        assertThat(catalog.get().model("b")).isPresent();
        assertThat(catalog.get().model("a")).isEmpty();
    }

    @Test
    void anUnchangedFileLeavesTheCatalogAsItWas() throws IOException {
        TokenHubConfig started = loader.parse(CATALOG.formatted("a", "1.0"), "test");
        Path file = Files.writeString(dir.resolve("tokenhub.yaml"), CATALOG.formatted("a", "1.0"));
        Catalog before = Catalog.of(started);
        CatalogHolder catalog = new CatalogHolder(before);

        new CatalogReloader(vertx, file, loader, started, catalog, new Upstreams(vertx, new Metrics())).listen().await();

        assertThat(catalog.get()).isSameAs(before);
    }
}
