package io.tokenhub.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import net.jqwik.api.Assume;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;

/**
 * The prompt sized without the tokenizer: its bound may decide that a prompt fits the context
 * window without counting it, so it must never be below the tokenizer's count, whatever the text;
 * its estimate is what limits and reservations hold, so it should be above the count for ordinary
 * text.
 */
class PromptSizeProperties {

    @Property(tries = 300)
    void boundIsNeverBelowTheTokenizersCount(@ForAll String system, @ForAll String user) {
        JsonObject request = chat(system, user);

        assertThat(TokenCounter.chatPromptSize(request).bound()).isGreaterThanOrEqualTo(TokenCounter.chatPrompt(request));
    }

    @Property(tries = 300)
    void textBytesAreTheUtf8LengthOfWellFormedText(@ForAll String text) {
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        Assume.that(new String(utf8, StandardCharsets.UTF_8).equals(text));

        assertThat(TokenCounter.utf8Length(text)).isEqualTo(utf8.length);
    }

    @Example
    void estimateIsAboveTheCountForEnglishCodeAndChineseText() {
        String english = "Load balancers spread incoming requests across several servers so that no single one is "
            + "overwhelmed; they also take unhealthy servers out of rotation until they recover.";
        String code = "for (int i = 0; i < items.size(); i++) { total += items.get(i).price() * quantity[i]; }";
        String chinese = "负载均衡器把请求分发到多台服务器上，避免任何一台过载，并在服务器恢复之前将其移出轮询。";
        for (String text : new String[] {english, code, chinese}) {
            JsonObject request = chat("You are a helpful assistant.", text);
            assertThat(TokenCounter.chatPromptSize(request).estimate()).as(text)
                .isGreaterThanOrEqualTo(TokenCounter.chatPrompt(request));
        }
    }

    @Example
    void imagesToolsAndToolCallsAreSizedLikeTheCount() {
        JsonArray tools = new JsonArray().add(new JsonObject().put("type", "function").put("function",
            new JsonObject().put("name", "get_weather").put("parameters", new JsonObject().put("type", "object"))));
        JsonObject request = new JsonObject().put("tools", tools).put("messages", new JsonArray()
            .add(new JsonObject().put("role", "user").put("content", new JsonArray()
                .add(new JsonObject().put("type", "text").put("text", "What is in this picture?"))
                .add(new JsonObject().put("type", "image_url").put("image_url", new JsonObject().put("url", "x")))))
            .add(new JsonObject().put("role", "assistant").put("tool_calls", new JsonArray().add(new JsonObject()
                .put("id", "call_1").put("type", "function").put("function", new JsonObject()
                    .put("name", "get_weather").put("arguments", "{\"city\":\"Paris\"}"))))));

        TokenCounter.PromptSize size = TokenCounter.chatPromptSize(request);

        int counted = TokenCounter.chatPrompt(request);
        assertThat(size.bound()).isGreaterThanOrEqualTo(counted);
        assertThat(size.estimate()).isGreaterThanOrEqualTo(counted);
        assertThat(size.fixed()).as("framing and one low-detail image").isEqualTo(3 + 2 * 3 + 85);
    }

    @Example
    void functionsASchemaAndDataPartsAreSizedAndDataIsLeftOutOfTheWindowsBound() {
        String bulk = "x".repeat(3_000);
        JsonObject parameters = new JsonObject().put("type", "object").put("description", bulk);
        JsonObject plain = chat("", "hi");
        JsonObject functions = chat("", "hi").put("functions", new JsonArray()
            .add(new JsonObject().put("name", "f").put("parameters", parameters)));
        JsonObject schema = chat("", "hi").put("response_format", new JsonObject().put("type", "json_schema")
            .put("json_schema", new JsonObject().put("name", "s").put("schema", parameters)));
        JsonObject file = new JsonObject().put("messages", new JsonArray().add(new JsonObject().put("role", "user")
            .put("content", new JsonArray().add(new JsonObject().put("type", "file")
                .put("file", new JsonObject().put("filename", "a.pdf").put("file_data", bulk))))));
        long base = TokenCounter.chatPromptSize(plain).bound();

        // Definitions and a schema are text the provider reads: in the window's bound and the estimate
        for (JsonObject request : new JsonObject[] {functions, schema}) {
            assertThat(TokenCounter.chatPromptSize(request).bound()).as(request.fieldNames().toString())
                .isGreaterThan(base + bulk.length());
            assertThat(TokenCounter.chatPrompt(request)).isGreaterThan(TokenCounter.chatPrompt(plain));
        }
        // A file's bytes are reserved for, and left out of the window's bound (its tokens are the provider's to count)
        TokenCounter.PromptSize sized = TokenCounter.chatPromptSize(file);
        assertThat(sized.reservedOnly()).isGreaterThanOrEqualTo(bulk.length() / 3);
        assertThat(sized.estimate()).as("the rate limits' estimate").isLessThan(bulk.length() / 3);
        assertThat(sized.bound()).isLessThan(bulk.length());
    }

    @Example
    void anImageNotSentAtLowDetailIsReservedForAsADetailedOneAndCheckedAgainstTheWindowAsALowOne() {
        JsonObject low = image(new JsonObject().put("url", "x").put("detail", "low"));
        JsonObject auto = image(new JsonObject().put("url", "x"));
        JsonObject high = image(new JsonObject().put("url", "x").put("detail", "high"));

        assertThat(TokenCounter.chatPromptSize(low).reservedOnly()).isZero();
        for (JsonObject detailed : new JsonObject[] {auto, high}) {
            TokenCounter.PromptSize size = TokenCounter.chatPromptSize(detailed);
            assertThat(size.reservedOnly()).as(detailed.encode()).isEqualTo(1_445 - 85);
            assertThat(size.bound()).isEqualTo(TokenCounter.chatPromptSize(low).bound());
            assertThat(size.estimate()).isEqualTo(TokenCounter.chatPromptSize(low).estimate());
        }
    }

    private static JsonObject image(JsonObject imageUrl) {
        return new JsonObject().put("messages", new JsonArray().add(new JsonObject().put("role", "user")
            .put("content", new JsonArray().add(new JsonObject().put("type", "image_url").put("image_url", imageUrl)))));
    }

    private static JsonObject chat(String system, String user) {
        return new JsonObject().put("model", "m").put("messages", new JsonArray()
            .add(new JsonObject().put("role", "system").put("content", system))
            .add(new JsonObject().put("role", "user").put("content", user)));
    }
}
