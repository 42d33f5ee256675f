package io.tokenhub.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.auth.KeyContext;
import io.tokenhub.config.ConfigLoader;
import io.tokenhub.core.ApiError;
import io.tokenhub.core.ApiException;
import io.tokenhub.core.TokenCounter;
import io.tokenhub.routing.Catalog;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;

/**
 * Where the prompt of a chat request is tokenized: not at all when its size in bytes settles the
 * context window, here and now when it is short, and by the counter given (a worker thread in the
 * gateway) when it is long.
 */
class ChatRequestParserTest {

    private static final Catalog CATALOG = Catalog.of(new ConfigLoader(name -> null).parse("""
        providers:
          - { id: fake, type: openai, base_url: "http://127.0.0.1:9/v1" }
        models:
          - id: small
            context_window: 1000
            max_output_tokens: 100
            deployments: [{ provider: fake, model: fake-model }]
          - id: large
            context_window: 10000000
            max_output_tokens: 100
            deployments: [{ provider: fake, model: fake-model }]
        """, "test"));
    private static final KeyContext KEY =
        new KeyContext("key_1", "acct_1", "active", "active", Set.of(), 0, 0, KeyContext.NO_CAP, null);

    private final List<Callable<Integer>> handedOver = new ArrayList<>();
    private final ChatRequestParser.PromptCounter counter = tokenize -> {
        handedOver.add(tokenize);
        try {
            return Future.succeededFuture(tokenize.call());
        } catch (Exception e) {
            return Future.failedFuture(e);
        }
    };

    @Test
    void aPromptThatSurelyFitsIsNeverTokenizedUpFront() {
        String text = "word ".repeat(100_000);

        ModelRequest request = ChatRequestParser.parse(chat("large", text), CATALOG, KEY, counter).result();

        assertThat(handedOver).isEmpty();
        assertThat(request.prompt().estimate()).isGreaterThan(0);
    }

    @Test
    void aShortPromptThatMayNotFitIsTokenizedHere() {
        ModelRequest request = ChatRequestParser.parse(chat("small", "word ".repeat(150)), CATALOG, KEY, counter)
            .result();

        assertThat(handedOver).isEmpty();
        assertThat(request.prompt().counted()).isEqualTo(TokenCounter.chatPrompt(chat("small", "word ".repeat(150))));
    }

    @Test
    void aLongPromptIsHandedToTheCounterAndRefusedWithItsCount() throws Exception {
        String text = "word ".repeat((int) ChatRequestParser.OFF_LOOP_BYTES / 5 + 1);

        Future<ModelRequest> parsed = ChatRequestParser.parse(chat("small", text), CATALOG, KEY, counter);

        assertThat(handedOver).hasSize(1);
        assertThat(parsed.failed()).isTrue();
        ApiError error = ((ApiException) parsed.cause()).error();
        assertThat(error.code()).isEqualTo("context_length_exceeded");
        assertThat(error.message()).contains(handedOver.get(0).call() + " in the messages");
    }

    private static JsonObject chat(String model, String text) {
        return new JsonObject().put("model", model).put("max_tokens", 10)
            .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", text)));
    }
}
