package io.tokenhub.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.List;
import net.jqwik.api.Assume;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;

/**
 * Text cut at its token boundaries, as the mock provider streams it: the pieces give back the text
 * and its token count exactly, and none of them splits a character.
 */
class TokenPiecesProperties {

    @Property(tries = 300)
    void piecesJoinToTheTextAndTheirTokensToItsCount(@ForAll String text) {
        Assume.that(new String(text.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8).equals(text));
        // A replacement character in the input would be one in a piece without anything split.
        Assume.that(!text.contains("\uFFFD"));

        List<TokenCounter.Piece> pieces = TokenCounter.pieces(text);

        assertThat(String.join("", pieces.stream().map(TokenCounter.Piece::text).toList())).isEqualTo(text);
        assertThat(pieces.stream().mapToInt(TokenCounter.Piece::tokens).sum()).isEqualTo(TokenCounter.count(text));
        assertThat(pieces).allSatisfy(p -> assertThat(p.text()).doesNotContain("\uFFFD"));
    }

    @Example
    void aCharacterSpanningTokensStaysWholeInOnePiece() {
        String text = "Weather: 🌦️ then 🌈, 负载均衡 ok 𓀀𓁿";

        List<TokenCounter.Piece> pieces = TokenCounter.pieces(text);

        assertThat(String.join("", pieces.stream().map(TokenCounter.Piece::text).toList())).isEqualTo(text);
        assertThat(pieces).allSatisfy(p -> assertThat(p.text()).doesNotContain("\uFFFD"));
        assertThat(pieces.stream().mapToInt(TokenCounter.Piece::tokens).sum()).isEqualTo(TokenCounter.count(text));
        assertThat(pieces).anySatisfy(p -> assertThat(p.tokens()).isGreaterThan(1));
    }
}
