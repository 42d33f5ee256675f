package io.tokenhub;

import static io.tokenhub.testing.TestGateway.MOCK_CATALOG;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tokenhub.config.TokenHubConfig;
import io.tokenhub.store.EmbeddedPostgresServer;
import io.tokenhub.testing.TestDatabase;
import io.tokenhub.testing.TestGateway;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** A start that fails says why in one line an operator can act on: which setting, which port. */
class StartFailureIT {

    @Test
    void aPortTakenByAnotherProcessIsNamedWithItsSetting() throws Exception {
        // Given another process listening on the port the API is configured for
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
             TestDatabase database = TestDatabase.create()) {
            int port = taken.getLocalPort();
            TokenHubConfig config = TestGateway.config(database.url(), Files.createTempDirectory("tokenhub-start"),
                MOCK_CATALOG, "server: { host: 127.0.0.1, port: " + port + ", management_port: 0, instances: 1 }");

            // When the gateway starts, then it fails naming the address and the setting
            assertThatThrownBy(() -> TokenHub.start(config)).satisfies(failure ->
                assertThat(TokenHub.causes(failure)).contains("cannot listen on 127.0.0.1:" + port + " (server.port)"));
        }
    }

    @Test
    void anEmbeddedDatabasePortTakenByAnotherProcessIsNamedWithItsSetting() throws Exception {
        // Given another server on the embedded database's port (another gateway's embedded database)
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            int port = taken.getLocalPort();
            Path dataDir = Files.createTempDirectory("tokenhub-start");

            // When an embedded database is started on it, then it fails naming the setting, and starts
            // nothing (it used to take the other server for its own, and the gateway its data)
            assertThatThrownBy(() -> EmbeddedPostgresServer.start(dataDir.resolve("postgres"), port))
                .hasMessageContaining("storage.embedded_port " + port + " is in use");
            assertThat(Files.exists(dataDir.resolve("postgres"))).isFalse();
        }
    }
}
