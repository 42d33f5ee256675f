package io.tokenhub.config;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.tokenhub.testing.TestGateway;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** What an operator reads in the log about the configuration file a node starts from. */
class ConfigWarningsIT {

    private static final String CATALOG_WITH_A_WARNING = """
        providers: [ { id: mock, type: mock } ]
        models: [ { id: mock-chat, deployments: [ { provider: mock, model: mock-chat-1 } ], fallbacks: [ nowhere ] } ]
        """;

    @Test
    void aWarningOfTheFileANodeStartsFromIsLoggedOnce() {
        // Given a configuration file with one thing to warn of (a fallback to a model it does not have)
        ListAppender<ILoggingEvent> log = new ListAppender<>();
        Logger logger = (Logger) LoggerFactory.getLogger(ConfigLoader.class);
        log.start();
        logger.addAppender(log);

        // When a node starts from it (it reads the file, then again once it listens for reloads, before
        // its start completes)
        try (TestGateway gateway = TestGateway.reloadable(CATALOG_WITH_A_WARNING, "")) {
            assertThat(gateway.get("/v1/models", gateway.newKey()).statusCode()).isEqualTo(200);
        } finally {
            logger.detachAppender(log);
        }

        // Then the warning is in the log once
        assertThat(log.list).filteredOn(event -> event.getLevel() == Level.WARN)
            .extracting(ILoggingEvent::getFormattedMessage)
            .filteredOn(message -> message.contains("unknown model 'nowhere'"))
            .hasSize(1);
    }
}
