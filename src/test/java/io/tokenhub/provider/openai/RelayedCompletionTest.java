package io.tokenhub.provider.openai;

import static org.assertj.core.api.Assertions.assertThat;

import io.tokenhub.core.Usage;
import io.tokenhub.provider.Completion;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/**
 * The byte-level relay of a chat completion says exactly what the whole parse says: same JSON out,
 * same usage, and bytes outside the two edits left as the provider sent them. What it does not
 * take, it hands to the whole parse.
 */
class RelayedCompletionTest {

    private static final BigDecimal COST = new BigDecimal("0.000123");
    private static final String CHOICES = "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
        + "\"content\":\"Hi \\\"there\\\" \\u00e9\\n\"},\"finish_reason\":\"stop\"}]";
    private static final String USAGE = "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,\"total_tokens\":17,"
        + "\"prompt_tokens_details\":{\"cached_tokens\":4}}";
    /** DeepSeek's: its cache hits at the top of usage, no prompt_tokens_details. */
    private static final String DEEPSEEK_USAGE = "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,"
        + "\"total_tokens\":17,\"prompt_cache_hit_tokens\":8,\"prompt_cache_miss_tokens\":4}";

    @Test
    void relabelsTheModelAndAddsTheCostLeavingTheRestAsSent() {
        String answer = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1700000000,"
            + "\"model\":\"gpt-4o-mini\"," + CHOICES + "," + USAGE + ",\"system_fingerprint\":\"fp_x\"}";
        RelayedCompletion relayed = RelayedCompletion.scan(bytes(answer), "openai", "gpt-4o-mini");

        assertThat(relayed).isNotNull();
        assertThat(relayed.usage()).isEqualTo(new Usage(12, 4, 0, 5, 0, false));
        String out = relayed.encode(null, COST).toString(StandardCharsets.UTF_8);
        assertThat(out).isEqualTo(answer.replace("\"gpt-4o-mini\"", "\"openai/gpt-4o-mini\"")
            .replace("{\"cached_tokens\":4}}", "{\"cached_tokens\":4},\"cost\":0.000123}"));
        assertThat(relayed.body().getString("model")).isEqualTo("openai/gpt-4o-mini");
    }

    @Test
    void deepSeeksCacheHitsAreCachedTokensAndTheClientSeesThemInOpenAisWordsToo() {
        String answer = "{\"model\":\"deepseek-chat\"," + CHOICES + "," + DEEPSEEK_USAGE + "}";

        // Left to the whole parse, which adds what the byte relay would not
        assertThat(RelayedCompletion.scan(bytes(answer), "deepseek", "deepseek-chat")).isNull();
        JsonObject whole = new JsonObject(answer);
        Usage usage = Usage.fromOpenAi(whole.getJsonObject("usage"));
        assertThat(usage).isEqualTo(new Usage(12, 8, 0, 5, 0, false));
        JsonObject sent = new JsonObject(Completion.of(whole, usage).encode(null, COST));
        assertThat(sent.getJsonObject("usage").getJsonObject("prompt_tokens_details").getLong("cached_tokens"))
            .isEqualTo(8);
        assertThat(sent.getJsonObject("usage").getLong("prompt_cache_hit_tokens")).isEqualTo(8);
    }

    @Test
    void answersWithoutUsageOrModelGetThemAdded() {
        assertSameAsWholeParse("{\"id\":\"a\"," + CHOICES + "}");
        assertSameAsWholeParse("{" + CHOICES + ",\"usage\":null,\"model\":\"m\"}");
        assertSameAsWholeParse("{\"usage\":null," + CHOICES + "}");
        assertSameAsWholeParse("{\"model\":\"\"," + CHOICES + "," + USAGE + "}");
        assertSameAsWholeParse("{\"usage\": { \"prompt_tokens\":3 } ,\n  \"model\" : \"m\\u00e9\\\"q\" ," + CHOICES + " }");
        assertSameAsWholeParse("{" + USAGE + ",\"model\":\"qwen-plus\"," + CHOICES + "}");
        // The finish reason that fails a call counts on a choice alone
        assertSameAsWholeParse("{\"model\":\"m\",\"choices\":[{\"message\":{\"content\":\"insufficient_system_resource\","
            + "\"finish_reason\":\"insufficient_system_resource\"},\"finish_reason\":\"length\"},3,[\"x\"]]}");
    }

    @Test
    void unusualAnswersAreLeftToTheWholeParse() {
        for (String answer : List.of(
            "{\"model\":\"a\",\"model\":\"b\"," + CHOICES + "}",
            "{\"model\":7," + CHOICES + "}",
            "{\"model\":\"m\"," + CHOICES + "," + USAGE + "," + USAGE + "}",
            "{\"model\":\"m\"," + CHOICES + ",\"usage\":{\"prompt_tokens\":1,\"cost\":0.5}}",
            "{\"model\":\"m\"," + CHOICES + ",\"usage\":3}",
            // a usage that counts nothing, which the whole parse leaves to our estimate
            "{\"model\":\"m\"," + CHOICES + ",\"usage\":{ }}",
            "{\"model\":\"m\"," + CHOICES + ",\"usage\":{\"total_tokens\":9}}",
            "{\"model\":\"m\"," + CHOICES + "} trailing",
            "{\"model\":\"m\"," + CHOICES + "}{}",
            "{\"model\":\"m\",\"choices\":{}}",
            "{\"model\":\"m\"," + CHOICES.replace("\"stop\"", "\"insufficient_system_resource\"") + "}",
            "{\"model\":\"m\",\"choices\":[{\"finish_reason\":\"stop\"},{\"finish_reason\":\"insufficient_system_resource\"}]}",
            "{\"model\":\"m\"}",
            // reasoning under vLLM's and OpenRouter's name, which the whole parse renames
            "{\"model\":\"m\",\"choices\":[{\"message\":{\"content\":\"a\",\"reasoning\":\"hmm\"}}]}",
            "{\"model\":\"m\"," + CHOICES,
            "[" + "{" + CHOICES + "}]",
            "",
            "not json")) {
            assertThat(RelayedCompletion.scan(bytes(answer), "p", "gpt-4o-mini")).as(answer).isNull();
        }
    }

    /** Any order of the fields, any whitespace between tokens: the same JSON as the whole parse. */
    @Property(tries = 300)
    void anyFieldOrderAndSpacingGivesWhatTheWholeParseGives(@ForAll @IntRange(min = 0, max = 1_000_000) int seed) {
        java.util.Random random = new java.util.Random(seed);
        List<String> fields = new ArrayList<>(List.of("\"id\":\"chatcmpl-x\"", "\"created\":17", CHOICES,
            "\"extra\":{\"model\":\"inner\",\"usage\":[1,2]}"));
        if (random.nextBoolean()) {
            fields.add("\"model\":\"gpt-" + random.nextInt(100) + "\"");
        }
        int usage = random.nextInt(3);
        if (usage == 1) {
            fields.add(USAGE);
        } else if (usage == 2) {
            fields.add("\"usage\":null");
        }
        Collections.shuffle(fields, random);
        String space = List.of("", " ", "\n  ", "\t").get(random.nextInt(4));
        String answer = "{" + space + String.join(space + "," + space, fields).replace(":", space + ":" + space)
            + space + "}";
        assertSameAsWholeParse(answer);
    }

    private static void assertSameAsWholeParse(String answer) {
        RelayedCompletion relayed = RelayedCompletion.scan(bytes(answer), "prov", "gpt-4o-mini");
        assertThat(relayed).as(answer).isNotNull();
        JsonObject whole = new JsonObject(answer);
        whole.put("model", "prov/" + (whole.getValue("model") instanceof String m && !m.isEmpty() ? m : "gpt-4o-mini"));
        Usage usage = whole.getValue("usage") instanceof JsonObject u ? Usage.fromOpenAi(u) : null;
        assertThat(relayed.usage()).as(answer).isEqualTo(usage);
        JsonObject replacement = usage != null ? null : new Usage(3, 0, 0, 2, 0, true).toOpenAi();
        Buffer expected = Completion.of(whole, usage).encode(replacement == null ? null : replacement.copy(), COST);
        Buffer actual = relayed.encode(replacement, COST);
        assertThat(new JsonObject(actual)).as(actual.toString()).isEqualTo(new JsonObject(expected));
        assertThat(relayed.body().getString("model")).isEqualTo(whole.getString("model"));
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
