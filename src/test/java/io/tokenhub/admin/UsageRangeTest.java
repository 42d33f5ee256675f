package io.tokenhub.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.tokenhub.admin.UsageQueries.Range;
import io.tokenhub.core.ApiError;
import io.tokenhub.core.ApiException;
import java.time.Clock;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

/** The from / to of usage and logs queries: inclusive, UTC, the current month by default. */
class UsageRangeTest {

    private static final Clock DEC_4 = Clock.fixed(Instant.parse("2026-12-04T21:30:00Z"), ZoneOffset.UTC);

    @Test
    void noBoundsIsTheCurrentMonth() {
        assertThat(parse(null, null)).isEqualTo(range("2026-12-01T00:00Z", "2027-01-01T00:00Z"));
    }

    @Test
    void aDateToRunsThroughTheEndOfItsDay() {
        assertThat(parse("2026-12-02", "2026-12-03")).isEqualTo(range("2026-12-02T00:00Z", "2026-12-04T00:00Z"));
    }

    @Test
    void aMissingBoundIsTheCurrentMonthsWhenThatFitsTheOneGiven() {
        assertThat(parse("2026-11-15", null)).isEqualTo(range("2026-11-15T00:00Z", "2027-01-01T00:00Z"));
        assertThat(parse(null, "2027-03-01")).isEqualTo(range("2026-12-01T00:00Z", "2027-03-02T00:00Z"));
    }

    @Test
    void aMissingBoundThatWouldFallOnTheWrongSideIsTheGivenOnesMonths() {
        // Only "to" in an earlier month: that month, not an empty range refused for a from never sent.
        assertThat(parse(null, "2026-10-31")).isEqualTo(range("2026-10-01T00:00Z", "2026-11-01T00:00Z"));
        assertThat(parse(null, "2026-10-01T00:00:00Z"))
            .isEqualTo(range("2026-10-01T00:00Z", "2026-10-01T00:00:00.000001Z"));
        assertThat(parse(null, "2026-09-30T23:59:59Z"))
            .isEqualTo(range("2026-09-01T00:00Z", "2026-09-30T23:59:59.000001Z"));
        assertThat(parse("2027-02-10", null)).isEqualTo(range("2027-02-10T00:00Z", "2027-03-01T00:00Z"));
    }

    @Test
    void theLastDayRfc3339CanWriteIsAToAndBeyondItIsRefused() {
        assertThat(parse(null, "9999-12-31").until()).isEqualTo(OffsetDateTime.parse("+10000-01-01T00:00Z"));
        ApiException refused = catchThrowableOfType(ApiException.class, () -> parse(null, "+10000-01-01"));
        assertThat(refused.error().param()).isEqualTo("to");
    }

    @Test
    void twoBoundsTheWrongWayRoundAreRefusedNamingFrom() {
        ApiException refused = catchThrowableOfType(ApiException.class, () -> parse("2026-12-03", "2026-12-01"));

        assertThat(refused.error()).isInstanceOfSatisfying(ApiError.InvalidRequest.class,
            error -> assertThat(error.param()).isEqualTo("from"));
    }

    private static Range parse(String from, String to) {
        return Range.parse(from, to, "from", "to", DEC_4);
    }

    private static Range range(String from, String until) {
        return new Range(OffsetDateTime.parse(from), OffsetDateTime.parse(until));
    }
}
