package io.tokenhub.accounting;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.billing.Payment;
import io.tokenhub.core.Usage;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The spool's and the journal's lines, written field by field: one line of JSON per record, each
 * read back as the record it was (nulls, quotes, plan draws).
 */
class SpoolLinesTest {

    @Test
    void eachRecordIsOneLineOfItsJsonAndReadsBackAsItself() {
        UsageEvent served = new UsageEvent("req_1", Instant.parse("2026-12-06T06:50:01.123456Z"), "acct_1", "key_1",
            "gpt-4o-mini", "gpt-4o-mini", "openai", "gpt-4o-mini-2024", new Usage(1200, 300, 40, 560, 120, false),
            1_234, "p-9f3a", 812, 95, 200, null, true, false, new Payment(Map.of("plan_1", 1500L, "plan_2", 60L), 7));
        UsageEvent failed = new UsageEvent("req_2", Instant.parse("2026-12-06T06:50:02Z"), "acct_1", "key_2",
            "m \"quoted\" \\ \u4f60", null, null, null, Usage.NONE, 0, null, 30_000, -1, 504, "upstream_timeout",
            false, true, new Payment(Map.of(), 0));

        Buffer content = Spool.jsonLines(List.of(served, failed));

        String[] lines = content.toString().split("\n", -1);
        assertThat(lines).hasSize(3);
        assertThat(lines[2]).isEmpty();
        assertThat(new JsonObject(lines[0])).isEqualTo(served.toJson());
        assertThat(new JsonObject(lines[1])).isEqualTo(failed.toJson());
        assertThat(UsageEvent.fromJson(new JsonObject(lines[0]))).isEqualTo(served);
        assertThat(UsageEvent.fromJson(new JsonObject(lines[1]))).isEqualTo(failed);
        assertThat(Spool.lines(content)).isEqualTo(2);
        assertThat(Spool.jsonLines(List.of()).length()).isZero();
    }
}
