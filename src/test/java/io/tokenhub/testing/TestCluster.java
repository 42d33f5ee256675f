package io.tokenhub.testing;

import io.vertx.core.Vertx;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;

/**
 * Gateway nodes in this JVM forming one Hazelcast cluster over loopback, under a cluster name of
 * their own (so parallel runs never merge), sharing one test database, Redis, and a fake OpenAI
 * upstream. Closing it closes the nodes still in it.
 */
public final class TestCluster implements AutoCloseable {

    public static final String REDIS = System.getenv().getOrDefault("TOKENHUB_TEST_REDIS_URL",
        "redis://127.0.0.1:6379");

    /** A catalog of one model, {@code gpt-4o-mini}, on the cluster's upstream (its URL for {@code %s}), without limits. */
    public static final String ONE_MODEL = """
        providers:
          - { id: openai, type: openai, base_url: "%s" }
        models:
          - id: gpt-4o-mini
            deployments: [ { provider: openai, model: gpt-4o-mini } ]
        """;

    private final Vertx vertx = Vertx.vertx();
    private final FakeOpenAiUpstream upstream;
    private final TestDatabase database = TestDatabase.create();
    private final String name = "tokenhub-test-" + UUID.randomUUID();
    private final List<TestGateway> nodes = new CopyOnWriteArrayList<>();

    /** @param model the model name the fake upstream answers with */
    public TestCluster(String model) {
        this.upstream = new FakeOpenAiUpstream(vertx, model).start();
    }

    /**
     * Starts one more node and waits until it serves.
     *
     * @param yaml its providers and models (and any section replacing a test default), given the
     *             fake upstream's base URL
     */
    public TestGateway addNode(Function<String, String> yaml) {
        TestGateway node = TestGateway.node(database, yaml.apply(upstream.baseUrl()), REDIS, name);
        nodes.add(node);
        return node;
    }

    /** The nodes in the cluster, in the order they joined. */
    public List<TestGateway> nodes() {
        return List.copyOf(nodes);
    }

    /** Takes a node out of the cluster's care: the test stops it (and closes it) itself. */
    public TestGateway remove(TestGateway node) {
        nodes.remove(node);
        return node;
    }

    public FakeOpenAiUpstream upstream() {
        return upstream;
    }

    public TestDatabase database() {
        return database;
    }

    @Override
    public void close() {
        nodes.forEach(TestGateway::close);
        database.close();
        upstream.stop();
        vertx.close();
    }
}
