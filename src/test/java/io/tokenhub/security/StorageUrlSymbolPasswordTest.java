package io.tokenhub.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tokenhub.config.TokenHubConfig.Storage;
import io.tokenhub.store.Database;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A storage URL's password may hold any symbol a password generator puts in it: '?' and '#' too
 * (pwgen -y, a password manager's "symbols"). Before 1a3e997 the redaction ({@code //[^/]*@}) hid
 * them; its new pattern stops at the first '?' or '#', finds no '@' before it, and prints the
 * password whole: in Storage.toString() and in the ERROR a node that cannot read the URL stops with.
 */
class StorageUrlSymbolPasswordTest {

    @ParameterizedTest
    @ValueSource(strings = {"Zx9?k2Lq+Wm", "Zx9#k2Lq+Wm"})
    void aPasswordWithAQuestionMarkOrAHashIsRedactedInStorageToString(String secret) {
        Storage storage = new Storage("postgresql://tokenhub:" + secret + "@db.internal:5432/tokenhub",
            "redis://:" + secret + "@cache.internal:6379", "data", 0, 1, 1, 30_000);

        assertThat(storage.toString()).doesNotContain("k2Lq");
    }

    @ParameterizedTest
    @ValueSource(strings = {"Zx9?k2Lq+Wm", "Zx9#k2Lq+Wm"})
    void theUrlOfANodeThatCannotStartIsReportedWithoutItsPassword(String secret) {
        Storage storage = new Storage("postgresql://tokenhub:" + secret + "@127.0.0.1:1/tokenhub", "none",
            "data", 0, 1, 1, 30_000);

        assertThatThrownBy(() -> Database.open(storage)).satisfies(failure -> {
            for (Throwable t = failure; t != null; t = t.getCause()) {
                assertThat(String.valueOf(t.getMessage())).as(t.toString()).doesNotContain("k2Lq");
            }
        });
    }
}
