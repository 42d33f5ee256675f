package io.tokenhub;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The command line takes one {@code --config PATH} and nothing else: anything else is named, not ignored. */
class CommandLineTest {

    @Test
    void theConfigurationFileIsTheOnlyArgument() {
        assertThat(TokenHub.argumentProblem(new String[] {})).isNull();
        assertThat(TokenHub.argumentProblem(new String[] {"--config", "conf/other.yaml"})).isNull();
        assertThat(TokenHub.argumentProblem(new String[] {"--config=conf/other.yaml"})).isNull();
    }

    @Test
    void anythingElseIsNamedThoughItLooksLikeIt() {
        // (--conf started on the default file, as if it were not there)
        assertThat(TokenHub.argumentProblem(new String[] {"--conf", "conf/other.yaml"}))
            .isEqualTo("unknown argument '--conf'");
        assertThat(TokenHub.argumentProblem(new String[] {"--config", "a.yaml", "b.yaml"}))
            .isEqualTo("unknown argument 'b.yaml'");
    }

    @Test
    void aConfigWithoutAPathOrGivenTwiceIsSaidSo() {
        // (the first was read and the second ignored; a --config without a path was an "unknown argument")
        assertThat(TokenHub.argumentProblem(new String[] {"--config"})).isEqualTo("--config needs a path");
        assertThat(TokenHub.argumentProblem(new String[] {"--config", "a.yaml", "--config=b.yaml"}))
            .isEqualTo("--config given more than once");
    }
}
