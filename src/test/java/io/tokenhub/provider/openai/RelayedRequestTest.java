package io.tokenhub.provider.openai;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.config.ConfigLoader;
import io.tokenhub.config.TokenHubConfig;
import io.tokenhub.provider.HttpUpstream;
import io.tokenhub.provider.UpstreamCall;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/**
 * The upstream body made from the client's bytes is the JSON that encoding the parsed body gives,
 * and keeps what it copies exactly as the client wrote it.
 */
class RelayedRequestTest {

    private static final TokenHubConfig CONFIG = new ConfigLoader(name -> null).parse("""
        providers:
          - { id: up, type: openai, base_url: "http://127.0.0.1:9/v1" }
        models:
          - id: chat
            deployments: [{ provider: up, model: up-model }]
        """, "test");
    private static final OpenAiAdapter ADAPTER = new OpenAiAdapter(new HttpUpstream(null, null, CONFIG.providers().get(0)));

    /** A field that makes a body long enough to be relayed rather than encoded. */
    private static final String PADDING = "\"prediction\":{\"type\":\"content\",\"content\":\""
        + "x".repeat(OpenAiAdapter.RELAY_FROM_BYTES) + "\"}";

    @Test
    void keptFieldsAreCopiedByteForByteAndTheChangedOnesWrittenAfter() {
        String body = "{\"model\":\"chat\", \"messages\" : [ {\"role\":\"user\",\"content\":\"h\\u00e9\"} ],"
            + "\"temperature\":0.70,\"fallback_models\":[\"x\"],\"stream_options\":{\"include_usage\":false},"
            + PADDING + "}";
        JsonObject parsed = new JsonObject(body);
        parsed.remove("fallback_models");

        String relayed = ADAPTER.upstreamBody(call(parsed, body, 99), false).toString(StandardCharsets.UTF_8);

        assertThat(relayed).isEqualTo("{\"messages\" : [ {\"role\":\"user\",\"content\":\"h\\u00e9\"} ],"
            + "\"temperature\":0.70," + PADDING + ",\"model\":\"up-model\",\"stream\":false,\"max_tokens\":99}");
    }

    @Test
    void aRepeatedFieldIsLeftToTheEncoder() {
        assertThat(RelayedRequest.rewrite(Buffer.buffer("{\"a\":1,\"a\":2}"), name -> true, new JsonObject())).isNull();
        assertThat(RelayedRequest.rewrite(Buffer.buffer("{\"a\":1} x"), name -> true, new JsonObject())).isNull();
        assertThat(RelayedRequest.rewrite(Buffer.buffer("[1]"), name -> true, new JsonObject())).isNull();
    }

    /** Any fields, any order, any spacing, streamed or not: the same JSON as encoding the parsed body. */
    @Property(tries = 300)
    void sameJsonAsEncodingTheParsedBody(@ForAll @IntRange(min = 0, max = 1_000_000) int seed) {
        Random random = new Random(seed);
        List<String> fields = new ArrayList<>(List.of("\"model\":\"chat\"",
            "\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":[{\"type\":"
                + "\"text\",\"text\":\"\\\"hi\\\" \\u4f60\"}]}]"));
        for (String optional : List.of("\"temperature\":0.5", "\"stream\":true", "\"max_tokens\":12",
            "\"max_completion_tokens\":30", "\"stream_options\":{\"include_usage\":false,\"x\":1}",
            "\"fallback_models\":[\"other\"]", "\"user\":null", "\"stop\":[\"\\n\"]", "\"seed\":-3",
            "\"logit_bias\":{\"50256\":-100}", "\"n\":2", "\"enable_search\":true", "\"top_p\":1e-1")) {
            if (random.nextBoolean()) {
                fields.add(optional);
            }
        }
        Collections.shuffle(fields, random);
        String space = List.of("", " ", "\n  ", "\t").get(random.nextInt(4));
        String body = "{" + space + String.join(space + "," + space, fields) + space + "}";
        JsonObject parsed = new JsonObject(body);
        // What the request parser takes out before the call.
        parsed.remove("fallback_models");
        if (random.nextBoolean()) {
            parsed.remove("enable_search");
        }
        boolean stream = random.nextBoolean();

        Buffer relayed = ADAPTER.upstreamBody(call(parsed, body, 64), stream);
        Buffer encoded = ADAPTER.upstreamBody(call(parsed, null, 64), stream);

        assertThat(new JsonObject(relayed)).as(relayed.toString()).isEqualTo(new JsonObject(encoded));
    }

    private static UpstreamCall call(JsonObject body, String raw, int maxTokens) {
        UpstreamCall call = new UpstreamCall("req", body, CONFIG.models().get(0).deployments().get(0), maxTokens);
        return raw == null ? call
            : new UpstreamCall("req", body, Buffer.buffer(raw), call.deployment(), maxTokens, call.clock());
    }
}
