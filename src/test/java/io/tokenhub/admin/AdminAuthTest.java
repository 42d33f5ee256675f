package io.tokenhub.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.core.ApiException;
import io.vertx.core.Future;
import org.junit.jupiter.api.Test;

/** An admin API turned off says so, rather than leave an operator hunting for a key that cannot work. */
class AdminAuthTest {

    @Test
    void withNeitherAMasterKeyNorBootstrapTheAdminApiIsOffAndSaysSo() {
        assertThat(refusal(new AdminAuth("", false, null).check("Bearer th-admin-anything")))
            .isEqualTo("The admin API is off on this gateway: admin.master_key is empty and admin.bootstrap is false.");
    }

    @Test
    void aWrongKeyForTheMasterKeyIsIncorrect() {
        AdminAuth auth = new AdminAuth("a-master-key-of-some-length", false, null);
        assertThat(refusal(auth.check("Bearer not-it"))).isEqualTo("Incorrect admin key provided.");
        assertThat(auth.check("Bearer a-master-key-of-some-length").succeeded()).isTrue();
    }

    private static String refusal(Future<Void> checked) {
        assertThat(checked.failed()).isTrue();
        return ((ApiException) checked.cause()).error().message();
    }
}
