package io.tokenhub.accounting;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.billing.Payment;
import io.tokenhub.core.Usage;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The usage journal on a real disk: what a kill or a stop leaves for the next start. Its writes
 * are blocking file writes (the accounting verticle runs on a worker), so a record is on disk when
 * {@code append} returns.
 */
class JournalTest {

    @TempDir
    Path data;
    private Vertx vertx;
    private Path dir;
    private Path spool;

    @BeforeEach
    void setUp() {
        vertx = Vertx.vertx();
        dir = data.resolve("journal");
        spool = data.resolve("spool");
    }

    @AfterEach
    void tearDown() {
        vertx.close().await();
    }

    @Test
    void recordsNotYetDurableAtAStopAreHandedToTheNextStartInTheOrderReceived() throws IOException {
        // Given a journal that took five records in three batches, of which PostgreSQL holds the first two
        Journal journal = started();
        List<UsageEvent> records = records(5);
        journal.append(records.subList(0, 2), 2);
        journal.append(records.subList(2, 3), 3);
        journal.append(records.subList(3, 5), 5);

        // When the node stops with only those two durable
        journal.close(2);

        // Then the disk holds all five, the segment not being durable as a whole, and the next start hands them over
        assertThat(lines(dir)).extracting(line -> new JsonObject(line).getString("request_id"))
            .containsExactly("req_0", "req_1", "req_2", "req_3", "req_4");
        assertThat(new Journal(vertx.fileSystem(), dir).handOver(spool).await()).isEqualTo(5);
        assertThat(lines(dir)).isEmpty();
        assertThat(lines(spool)).hasSize(5);
    }

    @Test
    void aRecordIsOnDiskWhenAppendReturnsAndItsSegmentGoesOnceItIsDurable() throws IOException {
        // Given a journal that took three records, as a node killed right after would leave it (no close)
        Journal journal = started();
        List<UsageEvent> records = records(3);
        journal.append(records.subList(0, 1), 1);
        journal.append(records.subList(1, 3), 3);
        assertThat(lines(dir)).extracting(line -> new JsonObject(line).getString("request_id"))
            .containsExactly("req_0", "req_1", "req_2");

        // When two of them are durable, then all three
        journal.durable(2);
        List<String> afterTwo = lines(dir);
        journal.durable(3);

        // Then the segment stays while one of its records is not durable, and goes with the last
        assertThat(afterTwo).hasSize(3);
        assertThat(lines(dir)).isEmpty();

        // And the next record starts a segment of its own
        journal.append(records(4).subList(3, 4), 4);
        assertThat(lines(dir)).extracting(line -> new JsonObject(line).getString("request_id")).containsExactly("req_3");
    }

    @Test
    void aDiskThatRefusedAWriteIsTriedAgainASegmentLaterAndTheJournalGoesOn() throws IOException {
        // Given a journal that took a record, on a clock the test moves
        long[] now = {1_000_000};
        Journal journal = new Journal(vertx.fileSystem(), dir, () -> now[0], Long.MAX_VALUE);
        assertThat(journal.handOver(spool).await()).isZero();
        List<UsageEvent> records = records(3);
        journal.append(records.subList(0, 1), 1);

        // When the disk refuses the next segment (its directory, for a moment, not one)
        Path away = data.resolve("journal.away");
        Files.move(dir, away);
        Files.createFile(dir);
        now[0] += Journal.SEGMENT_MS;
        journal.append(records.subList(1, 2), 2);
        // and is fine again a segment's time later
        Files.delete(dir);
        Files.move(away, dir);
        now[0] += Journal.SEGMENT_MS;
        journal.append(records.subList(2, 3), 3);

        // Then a kill now leaves the next start the records journaled before and after, not only before
        assertThat(new Journal(vertx.fileSystem(), dir).handOver(spool).await()).isEqualTo(2);
        assertThat(lines(spool)).extracting(line -> new JsonObject(line).getString("request_id"))
            .containsExactlyInAnyOrder("req_0", "req_2");
    }

    @Test
    void pastItsBoundRecordsAreNotJournaledUntilDurableSegmentsMakeRoom() throws IOException {
        // Given a journal bounded to what two records take, on a clock the test moves (a segment a record)
        List<UsageEvent> records = records(4);
        long two = Spool.jsonLineBytes(records.subList(0, 2)).length;
        long[] now = {1_000_000};
        Journal journal = new Journal(vertx.fileSystem(), dir, () -> now[0], two);
        assertThat(journal.handOver(spool).await()).isZero();

        // When three records arrive while none is durable (PostgreSQL down, the spool full)
        for (int i = 0; i < 3; i++) {
            journal.append(records.subList(i, i + 1), i + 1);
            now[0] += Journal.SEGMENT_MS;
        }

        // Then the third is left out, the disk holding what the bound allows
        assertThat(lines(dir)).extracting(line -> new JsonObject(line).getString("request_id"))
            .containsExactly("req_0", "req_1");

        // And once the first two are durable, the next record is journaled again
        journal.durable(2);
        journal.append(records.subList(3, 4), 4);
        assertThat(lines(dir)).extracting(line -> new JsonObject(line).getString("request_id"))
            .containsExactly("req_3");
    }

    @Test
    void aJournalThatTookNothingStopsAtOnceAndLeavesNothing() throws IOException {
        // Given a journal that was started and took no record
        Journal journal = started();

        // When it stops
        journal.close(0);

        // Then its directory is empty
        assertThat(lines(dir)).isEmpty();
    }

    private Journal started() {
        Journal journal = new Journal(vertx.fileSystem(), dir);
        assertThat(journal.handOver(spool).await()).isZero();
        return journal;
    }

    private static List<UsageEvent> records(int n) {
        List<UsageEvent> records = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            records.add(new UsageEvent("req_" + i, Instant.parse("2026-12-06T15:00:00Z").plusMillis(i), "acct_1",
                "key_1", "gpt-4o-mini", "gpt-4o-mini", "openai", "gpt-4o-mini", new Usage(10, 0, 5, 0, 0, false),
                12, "p-1", 40, -1, 200, null, false, false, new Payment(Map.of(), 12)));
        }
        return records;
    }

    /** The lines of every file in {@code directory}, files in name order. */
    private static List<String> lines(Path directory) throws IOException {
        List<String> lines = new ArrayList<>();
        try (Stream<Path> files = Files.list(directory)) {
            for (Path file : files.sorted().toList()) {
                lines.addAll(Files.readAllLines(file));
            }
        }
        return lines;
    }
}
