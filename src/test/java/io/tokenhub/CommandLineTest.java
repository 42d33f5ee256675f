package io.tokenhub;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The command line takes {@code --config PATH} and nothing else: anything else is named, not ignored. */
class CommandLineTest {

    @Test
    void theConfigurationFileIsTheOnlyArgument() {
        assertThat(TokenHub.wrongArgument(new String[] {})).isNull();
        assertThat(TokenHub.wrongArgument(new String[] {"--config", "conf/other.yaml"})).isNull();
        assertThat(TokenHub.wrongArgument(new String[] {"--config=conf/other.yaml"})).isNull();
    }

    @Test
    void anythingElseIsNamedThoughItLooksLikeIt() {
        // (--conf started on the default file, as if it were not there)
        assertThat(TokenHub.wrongArgument(new String[] {"--conf", "conf/other.yaml"})).isEqualTo("--conf");
        assertThat(TokenHub.wrongArgument(new String[] {"--config"})).isEqualTo("--config");
        assertThat(TokenHub.wrongArgument(new String[] {"--config", "a.yaml", "b.yaml"})).isEqualTo("b.yaml");
        assertThat(TokenHub.wrongArgument(new String[] {"--help"})).isEqualTo("--help");
    }
}
