package io.tokenhub.api;

import io.tokenhub.auth.KeyContext;
import io.tokenhub.config.ConfigLoader;
import io.tokenhub.core.TokenCounter;
import io.tokenhub.routing.Catalog;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A chat request from bytes to a validated {@link ModelRequest}: JSON decode as
 * {@link Bodies#jsonObject} does it, then {@link ChatRequestParser#parse} (shapes, model, key's
 * right, limits, capabilities, prompt-token estimate). In this package because the parser is
 * package-private. {@code promptTokens} isolates the tokenizer's share, {@code promptSize} the
 * byte-length sizing that spares the parser the tokenizer when the prompt clearly fits.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx512m"})
public class ChatRequestParserBenchmark {

    /** The load benchmark's request body. */
    static final String BODY = "{\"model\":\"bench-chat\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a "
        + "helpful assistant.\"},{\"role\":\"user\",\"content\":\"Write one short sentence about load balancers.\"}],"
        + "\"max_tokens\":64,\"temperature\":0.7}";

    /** The benchmark's prompt fits the context window at a glance: it is never tokenized. */
    private static final ChatRequestParser.PromptCounter NEVER_COUNTED = tokenize -> {
        throw new IllegalStateException("the benchmark's prompt was to fit without tokenizing");
    };

    private Buffer body;
    private JsonObject decoded;
    private Catalog catalog;
    private KeyContext key;

    @Setup
    public void setUp() {
        body = Buffer.buffer(BODY);
        decoded = new JsonObject(BODY);
        catalog = Catalog.of(new ConfigLoader(name -> null).parse("""
            providers:
              - { id: fake, type: openai, base_url: "http://127.0.0.1:9/v1" }
            models:
              - id: bench-chat
                type: chat
                context_window: 128000
                max_output_tokens: 4096
                capabilities: [tools, structured_output]
                pricing: { input: 0.15, output: 0.60 }
                deployments: [{ provider: fake, model: fake-model }]
            """, "bench"));
        key = new KeyContext("key_1", "acct_1", "active", "active", Set.of(), 0, 0, KeyContext.NO_CAP, null);
        parse();
    }

    @Benchmark
    public ModelRequest parse() {
        JsonObject json = (JsonObject) Json.decodeValue(body);
        return ChatRequestParser.parse(json, catalog, key, NEVER_COUNTED).result();
    }

    @Benchmark
    public Object decodeOnly() {
        return Json.decodeValue(body);
    }

    @Benchmark
    public int promptTokens() {
        return TokenCounter.chatPrompt(decoded);
    }

    @Benchmark
    public TokenCounter.PromptSize promptSize() {
        return TokenCounter.chatPromptSize(decoded);
    }
}
