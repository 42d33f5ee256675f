package io.tokenhub.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tokenhub.config.TokenHubConfig.Storage;
import org.junit.jupiter.api.Test;

/** A storage URL the client cannot read is reported without the password in it (it reaches the log). */
class DatabaseUrlTest {

    @Test
    void anUnreadableUrlIsReportedWithoutItsPassword() {
        Storage storage = new Storage("postgresql://tokenhub:S3cr3t@pw@127.0.0.1:notaport/tokenhub", "none", "data", 0, 1, 1,
            30_000);

        assertThatThrownBy(() -> Database.open(storage))
            .hasMessageContaining("storage.postgres")
            .hasMessageContaining("//***@127.0.0.1:notaport/tokenhub")
            .hasMessageNotContaining("S3cr3t")
            .hasNoCause();
        assertThat(storage.toString()).doesNotContain("S3cr3t");
    }
}
