package io.tokenhub.accounting;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.billing.Payment;
import io.tokenhub.config.TokenHubConfig.Accounting;
import io.tokenhub.core.Bus;
import io.tokenhub.core.Usage;
import io.tokenhub.store.Database;
import io.tokenhub.testing.TcpProxy;
import io.tokenhub.testing.TestDatabase;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.Pool;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The usage backlog {@code /health/ready} and {@code tokenhub_usage_queue_depth} show counts the
 * records of a write waiting for PostgreSQL: the accounting verticle with the real PostgreSQL behind
 * a proxy the test makes silent.
 */
class UsageBacklogIT {

    private static final int BATCH = 20;

    @TempDir
    Path data;
    private TestDatabase db;
    private TcpProxy network;
    private Vertx vertx;
    private final UsageStatus status = new UsageStatus();

    @BeforeEach
    void setUp() {
        db = TestDatabase.create();
        PgConnectOptions direct = PgConnectOptions.fromUri(db.url());
        network = new TcpProxy(direct.getHost(), direct.getPort());
        vertx = Vertx.vertx();
        Pool pool = Database.external(new PgConnectOptions(direct).setHost("127.0.0.1").setPort(network.port()), 4)
            .pool(vertx);
        vertx.deployVerticle(new AccountingVerticle(new Accounting(BATCH, 100, 1L << 30, true), new UsageWriter(pool),
            data.resolve("spool"), status, batch -> { }), AccountingVerticle.deployment()).await();
    }

    @AfterEach
    void tearDown() {
        network.heal();
        vertx.close().await();
        network.close();
        db.close();
    }

    @Test
    void theBacklogCountsTheRecordsOfAWriteWaitingForPostgres() {
        // Given a record written, then PostgreSQL silent
        send(events(1));
        TestGateway.eventually(() -> db.count("SELECT count(*) FROM usage_records") == 1, 20_000, "the first written");
        network.partition();

        // When a whole batch arrives (its write starts at once, and waits) and five more records after it
        send(events(BATCH));
        TestGateway.eventually(() -> status.backlog() == BATCH, 20_000, "the batch in the backlog");
        send(events(5));
        TestGateway.eventually(() -> status.backlog() != BATCH, 20_000, "the five counted");

        // Then the backlog is all 25 of them, none of them in PostgreSQL
        assertThat(status.backlog()).isEqualTo(BATCH + 5);
        assertThat(db.count("SELECT count(*) FROM usage_records")).isEqualTo(1);
    }

    private void send(List<UsageEvent> events) {
        vertx.eventBus().send(Bus.USAGE, new UsageBatch(events), new DeliveryOptions().setLocalOnly(true));
    }

    private static List<UsageEvent> events(int n) {
        List<UsageEvent> events = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            events.add(new UsageEvent("req_" + UUID.randomUUID().toString().replace("-", ""), Instant.now(), "acct_x",
                "key_1", "mock-chat", "mock-chat", "mock", "mock-chat-1", new Usage(10, 0, 5, 0, false), 0, "v1",
                12, -1, 200, null, false, false, new Payment(Map.of(), 0)));
        }
        return events;
    }
}
