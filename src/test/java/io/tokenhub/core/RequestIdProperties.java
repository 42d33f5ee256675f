package io.tokenhub.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.text.Collator;
import java.util.Locale;
import net.jqwik.api.Assume;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.LongRange;

/**
 * Request ids sort by the millisecond they were made in, whatever collation compares them: usage
 * records are keyed by request id, and PostgreSQL inserts ids that come in order at the end of
 * the key instead of anywhere in it.
 */
class RequestIdProperties {

    /** The last millisecond nine base-36 digits hold (in the year 5188). */
    private static final long LAST = 101_559_956_668_415L;
    private static final Collator EN_US = Collator.getInstance(Locale.US);

    @Property(tries = 1000)
    void aLaterMillisecondSortsAfterAnEarlierOne(@ForAll @LongRange(max = LAST) long one,
                                                 @ForAll @LongRange(max = LAST) long another) {
        Assume.that(one != another);
        String first = Ids.requestId(Math.min(one, another));
        String second = Ids.requestId(Math.max(one, another));

        assertThat(first.compareTo(second)).isNegative();
        assertThat(EN_US.compare(first, second)).isNegative();
    }

    @Example
    void neighbouringMillisecondsSortInOrderAcrossDigitsAndLetters() {
        long now = 1_796_000_000_000L;
        for (long millis : new long[] {9, 35, 36 * 36 - 1, now - 1, now}) {
            String first = Ids.requestId(millis);
            String second = Ids.requestId(millis + 1);

            assertThat(first.compareTo(second)).as("%d and the next", millis).isNegative();
            assertThat(EN_US.compare(first, second)).as("%d and the next, en_US", millis).isNegative();
        }
    }

    @Example
    void anIdIsThePrefixTheTimeAndSixteenRandomCharacters() {
        String id = Ids.requestId();
        String other = Ids.requestId();

        assertThat(id).matches("req_[0-9a-z]{9}[0-9A-Za-z]{16}");
        assertThat(other).isNotEqualTo(id);
        assertThat(Ids.requestId(0)).startsWith("req_000000000");
        assertThat(Ids.requestId(LAST)).startsWith("req_zzzzzzzzz");
    }
}
