package io.tokenhub.security;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeOpenAiUpstream.Fault;
import io.tokenhub.testing.FakeUpstreamGateway;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;

/**
 * Security audit: the provider's api_key must not be written to the log at INFO or above. When a
 * provider refuses TokenHub's credentials (401/403), or answers 402/404, HttpUpstream.statusFailure
 * logs the provider's own words at WARN (on one line, cut at 300 characters) — its own comment
 * says they "may quote part of TokenHub's key" — without removing the key from them.
 */
class ProviderKeyInLogIT {

    private static final String PROVIDER_KEY = "sk-tokenhub-provider-secret-2b8d4f6a0c";
    private static final String VALID = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("gpt-4o-mini", """
        providers:
          - { id: keyed, type: openai, base_url: "%s", api_key: "sk-tokenhub-provider-secret-2b8d4f6a0c", retries: 0 }
        models:
          - id: gpt-4o-mini
            pricing: { input: 0.15, output: 0.60 }
            deployments: [ { provider: keyed, model: gpt-4o-mini } ]
        """, "billing: { signup_credit_usd: 2 }");

    @Test
    void aProviderRefusalQuotingTheProviderKeyIsNotLoggedWithTheKey() {
        // One status only: the warning is given once a minute per provider id (402 and 404 take the same path),
        // whose id no other test's provider has.
        int status = 401;
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        root.addAppender(appender);
        try {
            FakeOpenAiUpstream upstream = hub.upstream();
            upstream.fault = Fault.STATUS;
            upstream.status = status;
            upstream.errorBody = new JsonObject().put("error", new JsonObject()
                .put("message", "Incorrect API key provided: " + PROVIDER_KEY + ".")
                .put("type", "invalid_request_error").put("code", "invalid_api_key"));

            HttpResponse<String> response = hub.gateway().post("/v1/chat/completions", hub.gateway().newKey(), VALID);
            // The warning is logged before the answer is written.
            assertThat(response.statusCode()).isEqualTo(502);
        } finally {
            root.detachAppender(appender);
        }
        List<String> warnings = appender.list.stream().filter(e -> e.getLevel().isGreaterOrEqual(Level.INFO))
            .map(ILoggingEvent::getFormattedMessage).toList();
        assertThat(warnings).as("log lines at INFO or above")
            .anyMatch(line -> line.contains("provider keyed refused TokenHub's credentials"))
            .noneMatch(line -> line.contains(PROVIDER_KEY) || line.contains(PROVIDER_KEY.substring(10, 18)));
    }
}
