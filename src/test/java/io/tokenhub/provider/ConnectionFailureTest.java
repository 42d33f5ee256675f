package io.tokenhub.provider;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.config.TokenHubConfig.CircuitBreaker;
import io.tokenhub.config.TokenHubConfig.Provider;
import io.tokenhub.config.TokenHubConfig.Timeouts;
import io.tokenhub.provider.UpstreamException.Kind;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import java.net.ConnectException;
import java.net.UnknownHostException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A failed connection to a provider reaches the client as a reason that names no address or host
 * behind the gateway; the exception's own words stay in the operator's debug log.
 */
class ConnectionFailureTest {

    private final Vertx vertx = Vertx.vertx();
    private final HttpClient client = vertx.createHttpClient();
    private final HttpUpstream upstream = new HttpUpstream(vertx, client, new Provider("deepseek", "openai",
        "https://api.deepseek.com/v1", "sk-test", "", new Timeouts(1_000, 1_000, 1_000),
        new CircuitBreaker(5, 10_000, 30_000), 0, 10, false, 0, "", false));

    @AfterEach
    void close() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void theReasonGivenNamesNoAddressOrHost() {
        UpstreamException refused = upstream.classify(new ConnectException("Connection refused: /10.1.2.3:443"));
        UpstreamException unresolved = upstream.classify(new UnknownHostException(
            "Failed to resolve 'internal-llm.corp.example' [A(1)]"));

        assertThat(refused.kind()).isEqualTo(Kind.CONNECTION);
        assertThat(refused.getMessage()).startsWith("connection failed: ").doesNotContain("10.1.2.3");
        assertThat(unresolved.getMessage()).contains("did not resolve").doesNotContain("internal-llm");
    }
}
