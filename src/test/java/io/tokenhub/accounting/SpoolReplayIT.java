package io.tokenhub.accounting;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.tokenhub.billing.Payment;
import io.tokenhub.core.Usage;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * A spool an earlier run left behind, partly damaged: the gateway starts on it, stays ready,
 * replays every record that can be read back exactly once, and keeps what cannot be read in a
 * {@code .bad} file next to its file, counted in a metric and logged by file name and count only.
 */
class SpoolReplayIT {

    /** In every record: a log line that holds it has logged spooled content. */
    private static final String ACCOUNT = "acct-spooled-content";

    private final ListAppender<ILoggingEvent> log = new ListAppender<>();
    private final Logger accounting = (Logger) LoggerFactory.getLogger("io.tokenhub.accounting");

    @BeforeEach
    void captureLogs() {
        log.start();
        accounting.addAppender(log);
    }

    @AfterEach
    void releaseLogs() {
        accounting.detachAppender(log);
    }

    @Test
    void damagedSpoolFilesAreSetAsideAndEveryReadableRecordIsReplayedOnce() throws IOException {
        // Given a spool with a whole file; a file whose last line was cut short, which repeats a
        // record of the first; a file of garbage; a file still under its temporary name (the run
        // died while writing it, mid-line); and a whole file after them
        Path dataDir = Files.createTempDirectory("tokenhub-spool-test");
        Path spool = Files.createDirectories(dataDir.resolve("spool"));
        write(spool, "usage-0000000000001-000000.jsonl", lines("a1", "a2", "a3"));
        byte[] cutShortB3 = cutShort("b3");
        write(spool, "usage-0000000000002-000000.jsonl", concat(lines("b1", "a1", "b2"), cutShortB3));
        byte[] garbage = concat(new byte[] {0, (byte) 0xff, (byte) 0xfe, 'x', '\n'},
            "not json\n[1, 2]\n{\"hello\": \"world\"}\n".getBytes(StandardCharsets.UTF_8),
            (record("x1").copy().putNull("request_id").encode() + "\n").getBytes(StandardCharsets.UTF_8));
        write(spool, "usage-0000000000003-000000.jsonl", garbage);
        byte[] cutShortC2 = cutShort("c2");
        write(spool, "usage-0000000000004-000000.jsonl.tmp", concat(lines("c1"), cutShortC2));
        write(spool, "usage-0000000000005-000000.jsonl", lines("d1", "d2"));

        // When a gateway starts on that data directory
        try (TestGateway gateway = TestGateway.start(dataDir, TestGateway.MOCK_CATALOG, "", "none")) {

            // Then every readable record is in PostgreSQL, once
            TestGateway.eventually(() -> gateway.hub().usageStatus().backlog() == 0, 30_000, "the spool replayed");
            assertThat(gateway.database().query("SELECT request_id FROM usage_records").stream()
                    .map(row -> (String) row.get("request_id")))
                .containsExactlyInAnyOrder("a1", "a2", "a3", "b1", "b2", "c1", "d1", "d2");

            // And the gateway is ready, its writes healthy, the 7 unreadable lines counted
            HttpResponse<String> ready = management(gateway, "/health/ready");
            assertThat(ready.statusCode()).as(ready.body()).isEqualTo(200);
            JsonObject usage = new JsonObject(ready.body()).getJsonObject("usage");
            assertThat(usage.getString("writes")).isEqualTo("OK");
            assertThat(usage.getLong("spool_rejected")).isEqualTo(7);
            String metrics = management(gateway, "/metrics").body();
            assertThat(metrics.lines().filter(line -> line.startsWith("tokenhub_usage_spool_rejected_total "))
                    .map(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1))))
                .as(metrics.lines().filter(line -> line.contains("tokenhub_usage")).toList().toString())
                .containsExactly(7.0);

            // And what could not be read is kept, byte for byte, next to its file; nothing else is left
            assertThat(listing(spool)).containsExactlyInAnyOrder("usage-0000000000002-000000.jsonl.bad",
                "usage-0000000000003-000000.jsonl.bad", "usage-0000000000004-000000.jsonl.bad");
            assertThat(spool.resolve("usage-0000000000002-000000.jsonl.bad")).hasBinaryContent(cutShortB3);
            assertThat(spool.resolve("usage-0000000000003-000000.jsonl.bad")).hasBinaryContent(garbage);
            assertThat(spool.resolve("usage-0000000000004-000000.jsonl.bad")).hasBinaryContent(cutShortC2);

            // And each was logged at WARN with its file and count, never with its content
            List<String> warnings = log.list.stream().filter(e -> e.getLevel() == Level.WARN)
                .map(ILoggingEvent::getFormattedMessage).filter(m -> m.contains("set aside")).toList();
            assertThat(warnings).hasSize(3).anySatisfy(m -> assertThat(m)
                .contains("usage-0000000000003-000000.jsonl", "5 lines"));
            assertThat(log.list).map(ILoggingEvent::getFormattedMessage)
                .noneMatch(m -> m.contains(ACCOUNT) || m.contains("hello") || m.contains("not json"));
        }
    }

    @Test
    void aRecordPostgresRefusesIsSetAsideAndTheOthersOfItsBatchAreWritten() throws IOException {
        // Given a spooled file whose middle record holds what PostgreSQL refuses (a NUL in a text
        // column): written as one batch, the whole batch would fail, every time
        Path dataDir = Files.createTempDirectory("tokenhub-spool-test");
        Path spool = Files.createDirectories(dataDir.resolve("spool"));
        String refused = record("r2").put("error_code", "bad\u0000code").encode();
        write(spool, "usage-0000000000001-000000.jsonl", concat(lines("r1"),
            (refused + "\n").getBytes(StandardCharsets.UTF_8), lines("r3", "r4")));

        // When a gateway starts on that data directory
        try (TestGateway gateway = TestGateway.start(dataDir, TestGateway.MOCK_CATALOG, "", "none")) {

            // Then the other records are written, the refused one is kept aside, and the node is ready
            TestGateway.eventually(() -> gateway.hub().usageStatus().backlog() == 0, 30_000, "the spool replayed");
            assertThat(gateway.database().query("SELECT request_id FROM usage_records").stream()
                    .map(row -> (String) row.get("request_id")))
                .containsExactlyInAnyOrder("r1", "r3", "r4");
            HttpResponse<String> ready = management(gateway, "/health/ready");
            assertThat(ready.statusCode()).as(ready.body()).isEqualTo(200);
            assertThat(new JsonObject(ready.body()).getJsonObject("usage").getLong("spool_rejected")).isEqualTo(1);
            List<String> files = listing(spool);
            assertThat(files).singleElement().asString().startsWith("refused-").endsWith(".jsonl.bad");
            assertThat(spool.resolve(files.get(0))).content(StandardCharsets.UTF_8).contains("\"r2\"")
                .doesNotContain("\"r1\"");
        }
    }

    private static HttpResponse<String> management(TestGateway gateway, String path) {
        return gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl(path))).GET());
    }

    private static JsonObject record(String requestId) {
        return new UsageEvent(requestId, Instant.now(), ACCOUNT, "key-1", "mock-chat", "mock-chat", "mock",
            "mock-chat-1", new Usage(10, 0, 5, 0, false), 0, "v1", 12, -1, 200, null, false, false,
            new Payment(Map.of(), 0)).toJson();
    }

    private static byte[] lines(String... requestIds) {
        StringBuilder content = new StringBuilder();
        for (String id : requestIds) {
            content.append(record(id).encode()).append('\n');
        }
        return content.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** The first half of a record's line, as a write that was cut off leaves it. */
    private static byte[] cutShort(String requestId) {
        byte[] line = record(requestId).encode().getBytes(StandardCharsets.UTF_8);
        return java.util.Arrays.copyOf(line, line.length / 2);
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }

    private static void write(Path dir, String name, byte[] content) throws IOException {
        Files.write(dir.resolve(name), content);
    }

    private static List<String> listing(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).toList();
        }
    }
}
