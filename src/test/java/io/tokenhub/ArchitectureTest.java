package io.tokenhub;

import static com.tngtech.archunit.library.Architectures.layeredArchitecture;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import org.junit.jupiter.api.Test;

/** The one-way dependencies of ARCHITECTURE.md: edge → services → adapters and storage → core. */
class ArchitectureTest {

    private static final JavaClasses MAIN = new ClassFileImporter()
        .withImportOption(location -> !location.contains("/test-classes/"))
        .importPackages("io.tokenhub");

    @Test
    void dependenciesPointOneWay() {
        layeredArchitecture().consideringOnlyDependenciesInLayers()
            .layer("Start-up").definedBy("io.tokenhub")
            .layer("Edge").definedBy("io.tokenhub.api..", "io.tokenhub.admin..", "io.tokenhub.ops..")
            .layer("Services").definedBy("io.tokenhub.auth..", "io.tokenhub.limit..", "io.tokenhub.billing..",
                "io.tokenhub.routing..", "io.tokenhub.accounting..")
            .layer("Adapters").definedBy("io.tokenhub.provider..", "io.tokenhub.store..", "io.tokenhub.config..",
                "io.tokenhub.telemetry..")
            .layer("Core").definedBy("io.tokenhub.core..")
            .whereLayer("Start-up").mayNotBeAccessedByAnyLayer()
            .whereLayer("Edge").mayOnlyBeAccessedByLayers("Start-up")
            .whereLayer("Services").mayOnlyBeAccessedByLayers("Start-up", "Edge")
            .whereLayer("Adapters").mayOnlyBeAccessedByLayers("Start-up", "Edge", "Services")
            .check(MAIN);
    }
}
