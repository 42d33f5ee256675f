package io.tokenhub.provider.openai;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.core.Usage;
import io.tokenhub.provider.Chunk;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;
import java.math.BigDecimal;
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
 * A stream chunk relayed as bytes tells the relay what the whole parse tells it (output or not,
 * usage only or not, generated text, usage) and writes the same JSON, with the usage dropped or
 * costed as asked; chunks it does not take go to the whole parse.
 */
class RelayedChunkTest {

    private static final BigDecimal COST = new BigDecimal("0.0000105");
    private static final String HEAD = "\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000";
    private static final String USAGE = "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12,"
        + "\"completion_tokens_details\":{\"reasoning_tokens\":1}}";

    @Test
    void aContentChunkKeepsItsBytesButTheModelAndLosesItsNullUsage() {
        String chunk = "{" + HEAD + ",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},"
            + "\"finish_reason\":null}],\"usage\":null}";
        RelayedChunk relayed = relayed(chunk, "gpt-4o");

        assertThat(relayed.hasOutput()).isTrue();
        assertThat(relayed.usageOnly()).isFalse();
        assertThat(relayed.usage()).isNull();
        assertThat(written(relayed, false, null)).isEqualTo(chunk.replace(",\"usage\":null", "")
            .replace("\"gpt-4o\"", "\"openai/gpt-4o\""));
        assertThat(written(relayed, true, null)).isEqualTo(chunk.replace("\"gpt-4o\"", "\"openai/gpt-4o\""));
    }

    @Test
    void aChunkWithoutUsageGainsANullUsageOnlyWhenTheClientAskedForUsage() {
        // Providers other than OpenAI often leave the field out; OpenAI's clients see it on every chunk.
        String chunk = "{" + HEAD + ",\"model\":\"qwen\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}";
        RelayedChunk relayed = relayed(chunk, "qwen");

        String labelled = chunk.replace("\"qwen\"", "\"openai/qwen\"");
        assertThat(written(relayed, true, null)).isEqualTo(labelled.substring(0, labelled.length() - 1)
            + ",\"usage\":null}");
        assertThat(written(relayed, false, null)).isEqualTo(labelled);
    }

    @Test
    void theUsageChunkIsRecognisedAndCostedInPlace() {
        String chunk = "{" + HEAD + ",\"model\":\"gpt-4o\",\"choices\":[]," + USAGE + "}";
        RelayedChunk relayed = relayed(chunk, "gpt-4o");

        assertThat(relayed.usageOnly()).isTrue();
        assertThat(relayed.hasOutput()).isFalse();
        assertThat(relayed.usage()).isEqualTo(new Usage(9, 0, 0, 3, 1, false));
        assertThat(written(relayed, true, COST)).endsWith("{\"reasoning_tokens\":1},\"cost\":0.0000105}}");
    }

    @Test
    void countsOnAChunkWithChoicesAreReadButWrittenAsNull() {
        // DeepSeek puts them on the chunk with the finish reason; the relay sends a usage chunk of its own.
        String chunk = "{" + HEAD + ",\"model\":\"ds\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},"
            + "\"finish_reason\":\"stop\"}]," + USAGE + "}";
        RelayedChunk relayed = relayed(chunk, "ds");

        assertThat(relayed.usageOnly()).isFalse();
        assertThat(relayed.usage()).isEqualTo(new Usage(9, 0, 0, 3, 1, false));
        String labelled = chunk.replace("\"ds\"", "\"openai/ds\"");
        assertThat(written(relayed, true, COST)).isEqualTo(labelled.replace(USAGE, "\"usage\":null"));
        assertThat(written(relayed, false, null)).isEqualTo(labelled.replace("," + USAGE, ""));
    }

    @Test
    void sameAnswersAsTheWholeParseForTheUsualShapes() {
        assertSameAsWholeParse("{\"usage\":null," + HEAD + ",\"model\":\"m\",\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}");
        assertSameAsWholeParse("{\"model\":\"m\",\"choices\":[{\"delta\":{\"reasoning_content\":\"think\",\"content\":null}}]}");
        assertSameAsWholeParse("{\"model\":\"m\",\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
            + "{\"arguments\": \"{\\\"a\\\":1}\"}}]}},{\"delta\":{\"content\":\"\"}}]}");
        assertSameAsWholeParse("{\"model\":\"m\",\"choices\":[{\"delta\":{\"tool_calls\":[]}}, 3, null],\"usage\":{ \"completion_tokens\" : 2 }}");
        assertSameAsWholeParse("{\"model\":\"m\",\"choices\":[{\"delta\":{\"function_call\":{\"arguments\":\"{\\\"a\\\"\"}}}]}");
        assertSameAsWholeParse("{\"model\":\"m\",\"choices\":[{\"delta\":{\"function_call\":{}}}]}");
        assertSameAsWholeParse("{\"model\":\"m\"," + USAGE + "}");
        assertSameAsWholeParse("{ \"usage\" : null ,\t \"model\" : \"m\\u00e9\" , \"choices\" : [ ] }");
        assertSameAsWholeParse("{\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"insufficient_system_resource\"},"
            + "\"finish_reason\":\"length\"}]}");
    }

    @Test
    void unusualChunksAreLeftToTheWholeParse() {
        for (String chunk : List.of(
            "{\"model\":\"m\",\"error\":{\"message\":\"overloaded\"}}",
            "{\"model\":\"m\",\"error\":null,\"choices\":[]}",
            "{\"choices\":[]}",
            "{\"model\":1,\"choices\":[]}",
            "{\"model\":\"a\",\"model\":\"b\",\"choices\":[]}",
            "{\"model\":\"m\",\"choices\":[],\"choices\":[]}",
            "{\"model\":\"m\",\"choices\":{}}",
            "{\"model\":\"m\",\"usage\":[1]}",
            "{\"model\":\"m\",\"usage\":{\"cost\":1}}",
            // a usage that counts nothing, which the whole parse leaves to our estimate
            "{\"model\":\"m\",\"choices\":[],\"usage\":{ }}",
            "{\"model\":\"m\",\"choices\":[],\"usage\":{\"total_tokens\":9,\"prompt_tokens\":null}}",
            "{\"model\":\"m\",\"choices\":[{\"delta\":{},\"delta\":{}}]}",
            "{\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"a\",\"content\":\"b\"}}]}",
            "{\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"insufficient_system_resource\"}]}",
            "{\"model\":\"m\",\"choices\":[{\"finish_reason\":\"insufficient_system_resource\",\"delta\":{}}]," + USAGE + "}",
            "{\"model\":\"m\"} {}",
            // reasoning under vLLM's and OpenRouter's name, which the whole parse renames
            "{\"model\":\"m\",\"choices\":[{\"delta\":{\"reasoning\":\"hmm\"}}]}",
            // sent over two data: lines, joined by the SSE parser with a line feed
            "{\"model\":\"m\",\n\"choices\":[]}",
            "{\"model\":\"m\"",
            "[]",
            "")) {
            assertThat(RelayedChunk.scan(bytes(chunk))).as(chunk).isNull();
        }
    }

    /** Any field order, any spacing, any mix of deltas: the same as the whole parse. */
    @Property(tries = 300)
    void anyShapeGivesWhatTheWholeParseGives(@ForAll @IntRange(min = 0, max = 1_000_000) int seed) {
        Random random = new Random(seed);
        List<String> choices = new ArrayList<>();
        for (int i = random.nextInt(3); i > 0; i--) {
            List<String> delta = new ArrayList<>();
            if (random.nextBoolean()) {
                delta.add("\"content\":" + pick(random, "\"\"", "\"tok\"", "null", "\"\\\"q\\\" \\u4f60\""));
            }
            if (random.nextBoolean()) {
                delta.add("\"reasoning_content\":" + pick(random, "\"hmm\"", "null", "\"\""));
            }
            if (random.nextBoolean()) {
                delta.add("\"refusal\":" + pick(random, "\"I can't\"", "null", "\"\""));
            }
            if (random.nextBoolean()) {
                delta.add("\"tool_calls\":" + pick(random, "[]", "[{\"id\":\"c1\",\"function\":{\"name\":\"f\"}}]"));
            }
            if (random.nextBoolean()) {
                delta.add("\"function_call\":" + pick(random, "{}", "{\"name\":\"f\",\"arguments\":\"\"}", "null"));
            }
            if (random.nextBoolean()) {
                delta.add("\"role\":\"assistant\"");
            }
            Collections.shuffle(delta, random);
            choices.add("{\"index\":" + i + ",\"delta\":{" + String.join(",", delta) + "},\"finish_reason\":null}");
        }
        List<String> fields = new ArrayList<>(List.of(HEAD.split(",(?=\")")));
        fields.add("\"model\":\"gpt-" + random.nextInt(9) + "\"");
        fields.add("\"choices\":[" + String.join(",", choices) + "]");
        fields.add(pick(random, "\"usage\":null", USAGE, "\"system_fingerprint\":\"fp\""));
        Collections.shuffle(fields, random);
        String space = pick(random, "", " ", "\t ");
        assertSameAsWholeParse("{" + space + String.join(space + "," + space, fields) + space + "}");
    }

    private static void assertSameAsWholeParse(String chunk) {
        JsonObject whole = new JsonObject(chunk);
        String model = whole.getString("model");
        RelayedChunk relayed = relayed(chunk, model);
        Chunk parsed = Chunk.of(whole.copy().put("model", "openai/" + model));

        assertThat(relayed.hasOutput()).as(chunk).isEqualTo(parsed.hasOutput());
        assertThat(relayed.usageOnly()).as(chunk).isEqualTo(parsed.usageOnly());
        assertThat(relayed.usage()).as(chunk)
            .isEqualTo(whole.getValue("usage") instanceof JsonObject u ? Usage.fromOpenAi(u) : null);
        StringBuilder relayedText = new StringBuilder();
        StringBuilder parsedText = new StringBuilder();
        relayed.appendText(relayedText);
        parsed.appendText(parsedText);
        assertThat(relayedText.toString()).as(chunk).isEqualTo(parsedText.toString());
        for (boolean keepUsage : new boolean[] {true, false}) {
            for (BigDecimal cost : new BigDecimal[] {null, COST}) {
                Buffer expected = Buffer.buffer();
                Chunk.of(whole.copy().put("model", "openai/" + model)).writeTo(expected, keepUsage, cost);
                String actual = written(relayed, keepUsage, cost);
                assertThat(new JsonObject(actual)).as(chunk + " → " + actual).isEqualTo(new JsonObject(expected));
            }
        }
    }

    private static RelayedChunk relayed(String chunk, String model) {
        RelayedChunk relayed = RelayedChunk.scan(bytes(chunk));
        assertThat(relayed).as(chunk).isNotNull();
        assertThat(relayed.reportedModel()).isEqualTo(model);
        relayed.label(Json.encodeToBuffer("openai/" + model));
        return relayed;
    }

    private static String written(RelayedChunk chunk, boolean keepUsage, BigDecimal cost) {
        Buffer out = Buffer.buffer();
        chunk.writeTo(out, keepUsage, cost);
        return out.toString(StandardCharsets.UTF_8);
    }

    private static String pick(Random random, String... options) {
        return options[random.nextInt(options.length)];
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
