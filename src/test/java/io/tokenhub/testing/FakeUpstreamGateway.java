package io.tokenhub.testing;

import io.vertx.core.Vertx;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The fixture most integration tests share, as a JUnit extension on a static field: one fake
 * OpenAI upstream and a real gateway in front of it, started before the class's tests, the
 * upstream's faults reset before each test, and everything closed after the class.
 *
 * <pre>
 * &#64;RegisterExtension
 * static final FakeUpstreamGateway hub = new FakeUpstreamGateway("gpt-4o-mini", CATALOG, "");
 * </pre>
 */
public final class FakeUpstreamGateway implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback {

    private final String upstreamModel;
    private final String catalog;
    private final String extraYaml;
    private Vertx vertx;
    private FakeOpenAiUpstream upstream;
    private TestGateway gateway;

    /**
     * @param upstreamModel the model the fake upstream reports
     * @param catalog       the {@code providers:} and {@code models:} sections, with {@code %s} (or
     *                      {@code %1$s}) where the upstream's base URL goes
     * @param extraYaml     more top-level sections, or empty
     */
    public FakeUpstreamGateway(String upstreamModel, String catalog, String extraYaml) {
        this.upstreamModel = upstreamModel;
        this.catalog = catalog;
        this.extraYaml = extraYaml;
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        vertx = Vertx.vertx();
        upstream = new FakeOpenAiUpstream(vertx, upstreamModel).start();
        gateway = TestGateway.start(catalog.formatted(upstream.baseUrl()), extraYaml);
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        upstream.reset();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        if (gateway != null) {
            gateway.close();
        }
        if (upstream != null) {
            upstream.stop();
        }
        vertx.close();
    }

    public Vertx vertx() {
        return vertx;
    }

    public FakeOpenAiUpstream upstream() {
        return upstream;
    }

    public TestGateway gateway() {
        return gateway;
    }
}
