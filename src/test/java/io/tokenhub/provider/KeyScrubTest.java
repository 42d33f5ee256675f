package io.tokenhub.provider;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class KeyScrubTest {

    private final KeyScrub scrub = new KeyScrub("sk-live-4f9c2a7e1b3d5f60");

    @Test
    void theWholeKeyAndEveryPieceOfEightCharactersOrMoreAreHidden() {
        assertThat(scrub.scrub("Incorrect API key provided: sk-live-4f9c2a7e1b3d5f60.")).isEqualTo(
            "Incorrect API key provided: ***.");
        // OpenAI's own masking keeps the start and the end; a provider may quote a middle part
        assertThat(scrub.scrub("key sk-live-****5f60 refused; fingerprint 9c2a7e1b3d")).isEqualTo(
            "key ***" + "****5f60 refused; fingerprint ***");
    }

    @Test
    void wordsWithoutAPieceOfTheKeyAreLeftAsTheyAre() {
        String words = "The model `gpt-4o` does not exist or you do not have access to it.";

        assertThat(scrub.scrub(words)).isSameAs(words);
        assertThat(scrub.scrub("4f9c2a7")).isEqualTo("4f9c2a7");
    }

    @Test
    void aShortKeyIsHiddenWhereItAppearsWholeAndNoKeyHidesNothing() {
        assertThat(new KeyScrub("abc123").scrub("key abc123 refused, abc12 not")).isEqualTo("key *** refused, abc12 not");
        assertThat(new KeyScrub("").scrub("anything")).isEqualTo("anything");
        assertThat(new KeyScrub("x").scrub("x marks")).isEqualTo("x marks");
    }
}
