package io.tokenhub.store;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.TokenHub;
import io.tokenhub.testing.TestDatabase;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;

/**
 * A PostgreSQL URL that names a schema ({@code ?search_path=}): the migrations make the tables in it,
 * where the gateway's own client then reads and writes them.
 */
class SearchPathIT {

    @Test
    void theTablesAreMadeInTheSchemaTheUrlNamesAndUsedThere() throws Exception {
        TestDatabase database = TestDatabase.create();
        TokenHub hub = null;
        try {
            hub = TokenHub.start(TestGateway.config(database.url() + "?search_path=tokenhub",
                Files.createTempDirectory("search-path"), TestGateway.MOCK_CATALOG, ""));

            HttpResponse<String> created = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + hub.apiPort() + "/admin/v1/accounts"))
                .header("Authorization", "Bearer " + TestGateway.MASTER_KEY).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(new JsonObject().put("name", "a").put("email", "a@example.com")
                    .encode())).build(), HttpResponse.BodyHandlers.ofString());

            assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
            assertThat(database.count("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'tokenhub' "
                + "AND table_name = 'accounts'")).isEqualTo(1);
            assertThat(database.count("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' "
                + "AND table_name = 'accounts'")).isZero();
            assertThat(database.count("SELECT count(*) FROM tokenhub.accounts WHERE email = 'a@example.com'"))
                .isEqualTo(1);
        } finally {
            if (hub != null) {
                hub.close();
            }
            database.close();
        }
    }
}
