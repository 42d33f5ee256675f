package io.tokenhub.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tokenhub.config.TokenHubConfig.Storage;
import io.tokenhub.store.Database;
import org.junit.jupiter.api.Test;

/**
 * Security audit: a storage URL is reported without its password (it reaches the log at ERROR when
 * the node cannot start, and Storage.toString() wherever the config is printed). Generated
 * passwords (base64: openssl rand -base64) often hold a '/', which the redaction's pattern
 * ({@code //[^/]*@}) cannot cross: the password is then printed whole.
 */
class StorageUrlRedactionTest {

    private static final String SECRET = "Zx9/k2Lq+Wm";

    @Test
    void aPasswordWithASlashIsRedactedInStorageToString() {
        Storage storage = new Storage("postgresql://tokenhub:" + SECRET + "@db.internal:5432/tokenhub",
            "redis://:" + SECRET + "@cache.internal:6379", "data", 0, 1, 1, 30_000);

        assertThat(storage.toString()).doesNotContain(SECRET).doesNotContain("Zx9");
    }

    @Test
    void anUnreadableUrlWithASlashInItsPasswordIsReportedWithoutIt() {
        Storage storage = new Storage("postgresql://tokenhub:" + SECRET + "@127.0.0.1:5432/tokenhub", "none",
            "data", 0, 1, 1, 30_000);

        assertThatThrownBy(() -> Database.open(storage))
            .hasMessageContaining("storage.postgres")
            .hasMessageNotContaining("Zx9");
    }
}
