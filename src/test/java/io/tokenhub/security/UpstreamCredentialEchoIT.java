package io.tokenhub.security;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.tokenhub.testing.FakeOpenAiUpstream;
import io.tokenhub.testing.FakeOpenAiUpstream.Fault;
import io.tokenhub.testing.FakeUpstreamGateway;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.slf4j.LoggerFactory;

/**
 * TokenHub's own provider credential never reaches a client, nor the log at INFO or above (a
 * security audit: each of these failed before). A provider's words quoting it, with any status (a
 * 400 or 422 of a provider that says "invalid key" so, a 5xx of a proxy in front of it) or as an
 * error object in a 200 answer, were relayed to the caller verbatim; a 401's were logged at WARN.
 */
class UpstreamCredentialEchoIT {

    private static final String PROVIDER_KEY = "sk-tokenhub-provider-secret-7f3a9c1e5b";
    private static final String CHAT = "/v1/chat/completions";
    private static final String VALID = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("gpt-4o-mini", """
        providers:
          - { id: openai, type: openai, base_url: "%1$s", api_key: "sk-tokenhub-provider-secret-7f3a9c1e5b", retries: 0 }
          - { id: keyed, type: openai, base_url: "%1$s", api_key: "sk-tokenhub-provider-secret-7f3a9c1e5b", retries: 0 }
        models:
          - id: gpt-4o-mini
            pricing: { input: 0.15, output: 0.60 }
            deployments: [ { provider: openai, model: gpt-4o-mini } ]
          - id: logged
            deployments: [ { provider: keyed, model: gpt-4o-mini } ]
        """, "billing: { signup_credit_usd: 2 }");

    private static String key;

    @BeforeEach
    void key() {
        if (key == null) {
            key = hub.gateway().newKey();
        }
    }

    private static JsonObject echoingError(String code) {
        // What an OpenAI-compatible provider (or the proxy in front of it) says about a key it refuses.
        return new JsonObject().put("error", new JsonObject()
            .put("message", "Incorrect API key provided: " + PROVIDER_KEY + ". You can find your API key at ...")
            .put("type", "invalid_request_error").put("code", code));
    }

    @ParameterizedTest(name = "upstream HTTP {0}")
    @ValueSource(ints = {400, 422, 500, 503})
    void aProviderErrorQuotingTokenHubsProviderKeyNeverReachesTheClient(int status) {
        FakeOpenAiUpstream upstream = hub.upstream();
        upstream.fault = Fault.STATUS;
        upstream.status = status;
        upstream.errorBody = echoingError("invalid_api_key");

        HttpResponse<String> response = hub.gateway().post(CHAT, key, VALID);

        assertThat(response.statusCode()).isBetween(400, 599);
        assertThat(response.body())
            .as("the client's answer to a request whose provider answered %d quoting our provider key", status)
            .doesNotContain(PROVIDER_KEY);
    }

    @Test
    void aProviderErrorInA200AnswerQuotingTokenHubsProviderKeyNeverReachesTheClient() {
        FakeOpenAiUpstream upstream = hub.upstream();
        upstream.fault = Fault.JSON_FOR_STREAM;
        upstream.errorBody = echoingError("invalid_api_key");

        HttpResponse<String> response = hub.gateway().post(CHAT, key, VALID);

        assertThat(response.statusCode()).isBetween(400, 599);
        assertThat(response.body()).doesNotContain(PROVIDER_KEY);
    }

    @Test
    void aProviderRefusalQuotingTheProviderKeyIsNotLoggedWithTheKey() {
        // One status only: the warning is given once a minute per provider id (402 and 404 take the same path),
        // a provider of its own, whose id no other test's provider has.
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

            HttpResponse<String> response = hub.gateway().post(CHAT, key, VALID.replace("gpt-4o-mini", "logged"));
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
