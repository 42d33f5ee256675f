package io.tokenhub.provider.anthropic;

import io.tokenhub.provider.anthropic.AnthropicResponses.ErrorInfo;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class AnthropicTranslationTest {

    private static JsonObject json(String s) {
        return new JsonObject(s);
    }

    private static JsonObject chat(String messagesJson) {
        return new JsonObject().put("model", "claude").put("messages", new JsonArray(messagesJson));
    }

    private static JsonObject translate(JsonObject req) {
        return AnthropicRequests.toAnthropic(req, "claude-sonnet-4-5", 1000, false);
    }

    // =========================================================================================
    @Nested
    class Requests {

        @Test
        void basicShapeModelMaxTokensAndStreamFlag() {
            JsonObject req = chat("[{\"role\":\"user\",\"content\":\"hi\"}]").put("max_tokens", 50);

            JsonObject out = AnthropicRequests.toAnthropic(req, "claude-sonnet-4-5", 1000, true);

            assertThat(out.getString("model")).isEqualTo("claude-sonnet-4-5");
            assertThat(out.getInteger("max_tokens")).as("the int argument wins").isEqualTo(1000);
            assertThat(out.getBoolean("stream")).isTrue();
            assertThat(out.getJsonArray("messages")).isEqualTo(new JsonArray(
                "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}]"));
            assertThat(out.containsKey("system")).isFalse();
            assertThat(AnthropicRequests.toAnthropic(req, "m", 10, false).getBoolean("stream")).isFalse();
        }

        @Test
        void maxCompletionTokensIsOverriddenByArgument() {
            JsonObject req = chat("[{\"role\":\"user\",\"content\":\"hi\"}]").put("max_completion_tokens", 9999);
            assertThat(translate(req).getInteger("max_tokens")).isEqualTo(1000);
        }

        @Test
        void systemAndDeveloperMessagesAreHoistedAndConcatenated() {
            JsonObject out = translate(chat("""
                [{"role":"system","content":"Be terse."},
                 {"role":"developer","content":[{"type":"text","text":"Answer in "},{"type":"text","text":"French."}]},
                 {"role":"user","content":"hi"}]"""));

            assertThat(out.getString("system")).isEqualTo("Be terse.\n\nAnswer in French.");
            assertThat(out.getJsonArray("messages")).hasSize(1);
            assertThat(out.getJsonArray("messages").getJsonObject(0).getString("role")).isEqualTo("user");
        }

        @Test
        void singleSystemMessageIsAPlainString() {
            JsonObject out = translate(chat("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"u\"}]"));
            assertThat(out.getValue("system")).isEqualTo("S");
        }

        @Test
        void multiTurnConversationKeepsRolesAndOrder() {
            JsonObject out = translate(chat("""
                [{"role":"user","content":"1"},{"role":"assistant","content":"2"},{"role":"user","content":"3"}]"""));

            JsonArray msgs = out.getJsonArray("messages");
            assertThat(msgs).hasSize(3);
            assertThat(roles(msgs)).containsExactly("user", "assistant", "user");
            assertThat(msgs.getJsonObject(1).getJsonArray("content").getJsonObject(0).getString("text")).isEqualTo("2");
        }

        @Test
        void consecutiveSameRoleMessagesAreMerged() {
            JsonObject out = translate(chat("""
                [{"role":"user","content":"a"},{"role":"user","content":[{"type":"text","text":"b"}]},
                 {"role":"assistant","content":"c"},{"role":"assistant","content":"d"}]"""));

            JsonArray msgs = out.getJsonArray("messages");
            assertThat(roles(msgs)).containsExactly("user", "assistant");
            assertThat(msgs.getJsonObject(0).getJsonArray("content")).isEqualTo(new JsonArray(
                "[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]"));
            assertThat(msgs.getJsonObject(1).getJsonArray("content")).hasSize(2);
        }

        @Test
        void aPrefillLosesTheTrailingWhitespaceAnthropicRefuses() {
            JsonObject out = translate(chat("[{\"role\":\"user\",\"content\":\"q\"},"
                + "{\"role\":\"assistant\",\"content\":\"The answer is \\n\"}]"));
            assertThat(out.getJsonArray("messages").getJsonObject(1).getJsonArray("content").getJsonObject(0)
                .getString("text")).isEqualTo("The answer is");

            JsonObject blank = translate(chat("[{\"role\":\"user\",\"content\":\"q\"},"
                + "{\"role\":\"assistant\",\"content\":\"  \"}]"));
            assertThat(roles(blank.getJsonArray("messages"))).containsExactly("user");
        }

        @Test
        void aPrefillGoesToAModelThatTakesOneWithoutThinkingAndIsUnsupportedByTheNewest() {
            JsonObject req = chat("[{\"role\":\"user\",\"content\":\"A haiku about rain\"},"
                + "{\"role\":\"assistant\",\"content\":\"Soft rain on the roof\"}]").put("enable_thinking", true);

            // Claude 4.5 continues it, without thinking (Anthropic takes a prefill only so)
            JsonObject out = AnthropicRequests.toAnthropic(req, "claude-sonnet-4-5", 4000, false);
            assertThat(roles(out.getJsonArray("messages"))).containsExactly("user", "assistant");
            assertThat(out.containsKey("thinking")).isFalse();
            // Claude 4.6 and later refuse any prefill: another candidate is tried
            for (String model : List.of("claude-sonnet-4-6", "claude-opus-4-7")) {
                assertThatThrownBy(() -> AnthropicRequests.toAnthropic(req.copy().put("enable_thinking", false), model,
                    4000, false)).isInstanceOf(AnthropicRequests.Unsupported.class).hasMessageStartingWith("messages:");
            }
        }

        @Test
        void textOfOnlyWhitespaceIsDroppedAsAnthropicRefusesIt() {
            // Claude's own "\n\n" before its tool calls, sent back, and a blank part
            JsonObject out = translate(chat("""
                [{"role":"user","content":"weather in Paris?"},
                 {"role":"assistant","content":"\\n\\n","tool_calls":[{"id":"toolu_01","type":"function",
                   "function":{"name":"get_weather","arguments":"{}"}}]},
                 {"role":"tool","tool_call_id":"toolu_01","content":"18C"},
                 {"role":"user","content":[{"type":"text","text":" "},{"type":"text","text":"thanks"}]}]"""));
            JsonArray messages = out.getJsonArray("messages");
            assertThat(messages.getJsonObject(1).getJsonArray("content")).hasSize(1);
            assertThat(messages.getJsonObject(1).getJsonArray("content").getJsonObject(0).getString("type"))
                .isEqualTo("tool_use");
            assertThat(messages.getJsonObject(2).getJsonArray("content").stream().map(JsonObject.class::cast)
                .filter(b -> "text".equals(b.getString("type"))).map(b -> b.getString("text")).toList())
                .containsExactly("thanks");
        }

        @Test
        void anotherProvidersToolCallIdIsMadeOneAnthropicTakesTheSameOnTheCallAndItsResult() {
            JsonObject out = translate(chat("""
                [{"role":"user","content":"weather in Paris?"},
                 {"role":"assistant","content":null,"tool_calls":[{"id":"functions.get_weather:0","type":"function",
                   "function":{"name":"get_weather","arguments":"{}"}}]},
                 {"role":"tool","tool_call_id":"functions.get_weather:0","content":"18C"}]"""));
            JsonArray messages = out.getJsonArray("messages");
            assertThat(messages.getJsonObject(1).getJsonArray("content").getJsonObject(0).getString("id"))
                .isEqualTo("functions_get_weather_0");
            assertThat(messages.getJsonObject(2).getJsonArray("content").getJsonObject(0).getString("tool_use_id"))
                .isEqualTo("functions_get_weather_0");
            assertThat(AnthropicRequests.toolUseId("toolu_01A-b_c")).isEqualTo("toolu_01A-b_c");
        }

        @Test
        void emptyTextIsDroppedBecauseAnthropicRejectsEmptyBlocks() {
            JsonObject out = translate(chat("[{\"role\":\"user\",\"content\":\"\"},{\"role\":\"user\",\"content\":\"x\"}]"));
            assertThat(out.getJsonArray("messages").getJsonObject(0).getJsonArray("content")).hasSize(1);
        }

        @Test
        void dataUrlImageBecomesBase64Source() {
            JsonObject out = translate(chat("""
                [{"role":"user","content":[{"type":"text","text":"what is this?"},
                  {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"}}]}]"""));

            JsonObject image = out.getJsonArray("messages").getJsonObject(0).getJsonArray("content").getJsonObject(1);
            assertThat(image).isEqualTo(json("""
                {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}"""));
        }

        @Test
        void httpUrlImageBecomesUrlSource() {
            JsonObject out = translate(chat("""
                [{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}]}]"""));

            JsonObject image = out.getJsonArray("messages").getJsonObject(0).getJsonArray("content").getJsonObject(0);
            assertThat(image).isEqualTo(json("""
                {"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}"""));
        }

        @Test
        void nonBase64DataUrlAndUnknownSchemeAreRejected() {
            assertThatThrownBy(() -> translate(chat("""
                [{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]""")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("messages[0].content[0].image_url");
            assertThatThrownBy(() -> translate(chat("""
                [{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]""")))
                .isInstanceOf(IllegalArgumentException.class);
        }

        @Test
        void aDataUrlThatIsNotAnImageIsRefused() {
            JsonObject req = chat("[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                + "\"image_url\":{\"url\":\"data:application/pdf;base64,JVBERi0=\"}}]}]");
            assertThatThrownBy(() -> translate(req))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("messages[0].content[0].image_url.url: 'application/pdf' is not an image type");
        }

        @Test
        void unsupportedContentPartIsRejectedWithItsPath() {
            assertThatThrownBy(() -> translate(chat("""
                [{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]""")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("messages[0].content[0]")
                .hasMessageContaining("input_audio");
        }

        @Test
        void assistantToolCallsBecomeToolUseBlocksWithParsedInput() {
            JsonObject out = translate(chat("""
                [{"role":"user","content":"weather?"},
                 {"role":"assistant","content":"Checking.","tool_calls":[
                   {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}},
                   {"id":"call_2","type":"function","function":{"name":"get_time","arguments":""}}]}]"""));

            JsonArray content = out.getJsonArray("messages").getJsonObject(1).getJsonArray("content");
            assertThat(content).isEqualTo(new JsonArray("""
                [{"type":"text","text":"Checking."},
                 {"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}},
                 {"type":"tool_use","id":"call_2","name":"get_time","input":{}}]"""));
        }

        @Test
        void assistantWithNullContentAndToolCallsHasOnlyToolUse() {
            JsonObject out = translate(chat("""
                [{"role":"user","content":"q"},
                 {"role":"assistant","content":null,"tool_calls":[
                   {"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}]"""));
            JsonArray content = out.getJsonArray("messages").getJsonObject(1).getJsonArray("content");
            assertThat(content).hasSize(1);
            assertThat(content.getJsonObject(0).getString("type")).isEqualTo("tool_use");
        }

        @Test
        void invalidToolArgumentsThrowNamingTheParam() {
            JsonObject req = chat("""
                [{"role":"user","content":"q"},
                 {"role":"assistant","tool_calls":[
                   {"id":"c","type":"function","function":{"name":"f","arguments":"{not json"}}]}]""");

            assertThatThrownBy(() -> translate(req))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("messages[1].tool_calls[0].function.arguments");
        }

        @Test
        void toolResultsBecomeOneUserMessageThenUserTextFollows() {
            JsonObject out = translate(chat("""
                [{"role":"user","content":"q"},
                 {"role":"assistant","tool_calls":[
                   {"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}},
                   {"id":"c2","type":"function","function":{"name":"g","arguments":"{}"}}]},
                 {"role":"tool","tool_call_id":"c1","content":"sunny"},
                 {"role":"tool","tool_call_id":"c2","content":[{"type":"text","text":"12:00"}]},
                 {"role":"user","content":"thanks"}]"""));

            JsonArray msgs = out.getJsonArray("messages");
            assertThat(roles(msgs)).containsExactly("user", "assistant", "user");
            assertThat(msgs.getJsonObject(2).getJsonArray("content")).isEqualTo(new JsonArray("""
                [{"type":"tool_result","tool_use_id":"c1","content":"sunny"},
                 {"type":"tool_result","tool_use_id":"c2","content":[{"type":"text","text":"12:00"}]},
                 {"type":"text","text":"thanks"}]"""));
        }

        @Test
        void toolMessageWithoutToolCallIdIsRejected() {
            assertThatThrownBy(() -> translate(chat("[{\"role\":\"tool\",\"content\":\"x\"}]")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("messages[0].tool_call_id");
        }

        @Test
        void functionToolsBecomeInputSchemaTools() {
            JsonObject req = chat("[{\"role\":\"user\",\"content\":\"q\"}]").put("tools", new JsonArray("""
                [{"type":"function","function":{"name":"get_weather","description":"Weather by city",
                   "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
                 {"type":"function","function":{"name":"ping"}}]"""));

            assertThat(translate(req).getJsonArray("tools")).isEqualTo(new JsonArray("""
                [{"name":"get_weather","description":"Weather by city",
                  "input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},
                 {"name":"ping","input_schema":{"type":"object","properties":{}}}]"""));
        }

        @Test
        void nonFunctionToolIsRejected() {
            JsonObject req = chat("[{\"role\":\"user\",\"content\":\"q\"}]")
                .put("tools", new JsonArray("[{\"type\":\"custom\",\"custom\":{\"name\":\"x\"}}]"));
            assertThatThrownBy(() -> translate(req)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("tools[0]");
        }

        @Test
        void aToolSchemaWithoutItsTypeGetsOneAsAnthropicRequires() {
            JsonObject req = chat("[{\"role\":\"user\",\"content\":\"hi\"}]").put("tools", new JsonArray("""
                [{"type":"function","function":{"name":"ping","parameters":{}}},
                 {"type":"function","function":{"name":"get","parameters":{"properties":{"id":{"type":"string"}}}}},
                 {"type":"function","function":{"name":"bare"}}]"""));

            JsonArray tools = translate(req).getJsonArray("tools");

            assertThat(tools.getJsonObject(0).getJsonObject("input_schema"))
                .isEqualTo(json("{\"type\":\"object\",\"properties\":{}}"));
            assertThat(tools.getJsonObject(1).getJsonObject("input_schema"))
                .isEqualTo(json("{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"}}}"));
            assertThat(tools.getJsonObject(2).getJsonObject("input_schema"))
                .isEqualTo(json("{\"type\":\"object\",\"properties\":{}}"));
            // and the client's schema is not changed in place
            assertThat(req.getJsonArray("tools").getJsonObject(0).getJsonObject("function").getJsonObject("parameters"))
                .isEqualTo(new JsonObject());
        }

        @Test
        void imageJpgAndUpperCaseTypesAreJpegAndAnImageTypeAnthropicLacksIsUnsupported() {
            JsonObject jpg = translate(chat("""
                [{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/jpg;base64,/9j/4AA="}},
                 {"type":"image_url","image_url":{"url":"data:image/PNG;base64,iVBORw0KGgo="}}]}]"""));
            JsonArray blocks = jpg.getJsonArray("messages").getJsonObject(0).getJsonArray("content");
            assertThat(blocks.getJsonObject(0).getJsonObject("source").getString("media_type")).isEqualTo("image/jpeg");
            assertThat(blocks.getJsonObject(1).getJsonObject("source").getString("media_type")).isEqualTo("image/png");

            assertThatThrownBy(() -> translate(chat("""
                [{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/tiff;base64,SUkq"}}]}]""")))
                .isInstanceOf(AnthropicRequests.Unsupported.class);
        }

        @Test
        void anAllowedToolsChoiceIsUnsupportedSoThatAnotherCandidateMayTakeIt() {
            JsonObject req = chat("[{\"role\":\"user\",\"content\":\"hi\"}]")
                .put("tools", new JsonArray("[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}]"))
                .put("tool_choice", json("{\"type\":\"allowed_tools\",\"allowed_tools\":{\"mode\":\"auto\","
                    + "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}]}}"));

            assertThatThrownBy(() -> translate(req)).isInstanceOf(AnthropicRequests.Unsupported.class)
                .hasMessageContaining("allowed_tools");
        }

        @Test
        void aCustomToolsCallInTheConversationIsUnsupported() {
            JsonObject req = chat("""
                [{"role":"user","content":"run it"},
                 {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"custom",
                   "custom":{"name":"code_exec","input":"print(1)"}}]},
                 {"role":"tool","tool_call_id":"call_1","content":"1"}]""");
            assertThatThrownBy(() -> translate(req)).isInstanceOf(AnthropicRequests.Unsupported.class)
                .hasMessage("messages[1].tool_calls[0].type 'custom' is not supported by this provider");
        }

        @ParameterizedTest
        @CsvSource(delimiter = '|', value = {
            "\"auto\"                                             | {\"type\":\"auto\"}",
            "\"none\"                                             | {\"type\":\"none\"}",
            "\"required\"                                         | {\"type\":\"any\"}",
            "{\"type\":\"function\",\"function\":{\"name\":\"f\"}} | {\"type\":\"tool\",\"name\":\"f\"}",
        })
        void toolChoiceMapping(String openAi, String anthropic) {
            JsonObject req = withTool().put("tool_choice", new JsonArray("[" + openAi + "]").getValue(0));
            assertThat(translate(req).getJsonObject("tool_choice")).isEqualTo(json(anthropic));
        }

        @Test
        void parallelToolCallsFalseDisablesParallelToolUse() {
            JsonObject withChoice = withTool().put("tool_choice", "required").put("parallel_tool_calls", false);
            assertThat(translate(withChoice).getJsonObject("tool_choice"))
                .isEqualTo(json("{\"type\":\"any\",\"disable_parallel_tool_use\":true}"));

            JsonObject withoutChoice = withTool().put("parallel_tool_calls", false);
            assertThat(translate(withoutChoice).getJsonObject("tool_choice"))
                .isEqualTo(json("{\"type\":\"auto\",\"disable_parallel_tool_use\":true}"));

            JsonObject parallelAllowed = withTool().put("parallel_tool_calls", true);
            assertThat(translate(parallelAllowed).containsKey("tool_choice")).isFalse();
        }

        @Test
        void toolChoiceWithoutToolsIsDropped() {
            JsonObject req = chat("[{\"role\":\"user\",\"content\":\"q\"}]").put("tool_choice", "none");
            assertThat(translate(req).containsKey("tool_choice")).isFalse();
            assertThat(translate(req).containsKey("tools")).isFalse();
        }

        @Test
        void stopStringOrArrayBecomesStopSequences() {
            JsonObject single = chat("[{\"role\":\"user\",\"content\":\"q\"}]").put("stop", "END");
            assertThat(translate(single).getJsonArray("stop_sequences")).containsExactly("END");

            JsonObject many = chat("[{\"role\":\"user\",\"content\":\"q\"}]").put("stop", new JsonArray("[\"a\",\"b\"]"));
            assertThat(translate(many).getJsonArray("stop_sequences")).containsExactly("a", "b");
        }

        @Test
        void emptyAndWhitespaceStopSequencesAreDroppedBecauseAnthropicRejectsThem() {
            JsonObject req = chat("[{\"role\":\"user\",\"content\":\"q\"}]")
                .put("stop", new JsonArray("[\"\\n\", \"\", \" \\t\", \"END\"]"));
            assertThat(translate(req).getJsonArray("stop_sequences")).containsExactly("END");
            assertThat(translate(req.copy().put("stop", "\n")).containsKey("stop_sequences")).isFalse();
        }

        @Test
        void deprecatedFunctionsAreUnsupportedNotDropped() {
            JsonObject req = chat("[{\"role\":\"user\",\"content\":\"q\"}]")
                .put("functions", new JsonArray("[{\"name\":\"f\",\"parameters\":{\"type\":\"object\"}}]"))
                .put("function_call", "auto");
            assertThatThrownBy(() -> translate(req))
                .isInstanceOf(AnthropicRequests.Unsupported.class)
                .hasMessageStartingWith("functions: ");
            JsonObject callOnly = chat("[{\"role\":\"user\",\"content\":\"q\"}]").put("function_call", "none");
            assertThatThrownBy(() -> translate(callOnly))
                .isInstanceOf(AnthropicRequests.Unsupported.class)
                .hasMessageStartingWith("function_call: ");
        }

        @ParameterizedTest
        @ValueSource(strings = {"json_object", "json_schema"})
        void aResponseFormatOtherThanTextIsUnsupportedNotDropped(String type) {
            JsonObject req = chat("[{\"role\":\"user\",\"content\":\"q\"}]")
                .put("response_format", new JsonObject().put("type", type));
            assertThatThrownBy(() -> translate(req))
                .isInstanceOf(AnthropicRequests.Unsupported.class)
                .hasMessage("response_format: type '" + type + "' is not supported by this provider");

            JsonObject text = req.copy().put("response_format", new JsonObject().put("type", "text"));
            assertThat(translate(text).containsKey("response_format")).isFalse();
        }

        @Test
        void temperatureOrTopPIsPassedTemperatureClampedToAnthropicRange() {
            JsonObject req = chat("[{\"role\":\"user\",\"content\":\"q\"}]").put("temperature", 0.3).put("top_p", 0.9);
            // Claude 4.1 and later refuse both at once: the temperature goes
            JsonObject out = translate(req);
            assertThat(out.getDouble("temperature")).isEqualTo(0.3);
            assertThat(out.containsKey("top_p")).isFalse();
            assertThat(translate(req.copy().put("temperature", null)).getDouble("top_p")).isEqualTo(0.9);

            assertThat(translate(req.copy().put("temperature", 1.7)).getDouble("temperature")).isEqualTo(1.0);
        }

        @Test
        void unsupportedFieldsAreDropped() {
            JsonObject req = chat("[{\"role\":\"user\",\"content\":\"q\"}]")
                .put("seed", 42).put("frequency_penalty", 0.5).put("presence_penalty", 0.5)
                .put("logprobs", false).put("n", 1).put("stream_options", json("{\"include_usage\":true}"));

            assertThat(translate(req).fieldNames())
                .containsExactlyInAnyOrder("model", "max_tokens", "messages", "stream");
        }

        @Test
        void nGreaterThanOneIsRejected() {
            JsonObject req = chat("[{\"role\":\"user\",\"content\":\"q\"}]").put("n", 2);
            assertThatThrownBy(() -> translate(req))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("n > 1 is not supported by this provider");
        }

        @Test
        void audioOutputIsRefusedAsUnsupportedAndTextOnlyModalitiesPass() {
            // Given requests for speech, by modalities and by audio options: refused as unsupported
            JsonObject speech = chat("[{\"role\":\"user\",\"content\":\"q\"}]")
                .put("modalities", new JsonArray().add("text").add("audio"));
            assertThatThrownBy(() -> translate(speech)).isInstanceOf(AnthropicRequests.Unsupported.class)
                .hasMessage("modalities: audio output is not supported by this provider");
            JsonObject voice = chat("[{\"role\":\"user\",\"content\":\"q\"}]")
                .put("audio", json("{\"voice\":\"alloy\",\"format\":\"mp3\"}"));
            assertThatThrownBy(() -> translate(voice)).isInstanceOf(AnthropicRequests.Unsupported.class)
                .hasMessage("audio: audio output is not supported by this provider");

            // and text only, which Claude gives, passes without the field
            JsonObject text = chat("[{\"role\":\"user\",\"content\":\"q\"}]").put("modalities", new JsonArray().add("text"));
            assertThat(translate(text).containsKey("modalities")).isFalse();
        }

        @Test
        void userBecomesMetadataUserId() {
            JsonObject req = chat("[{\"role\":\"user\",\"content\":\"q\"}]").put("user", "u-123");
            assertThat(translate(req).getJsonObject("metadata")).isEqualTo(json("{\"user_id\":\"u-123\"}"));
        }

        @Test
        void unknownRoleIsRejected() {
            assertThatThrownBy(() -> translate(chat("[{\"role\":\"function\",\"content\":\"x\"}]")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("messages[0].role");
        }

        @Test
        void inputIsNotMutated() {
            JsonObject req = withTool().put("tool_choice", "auto").put("parallel_tool_calls", false).put("stop", "x");
            JsonObject before = req.copy();
            translate(req);
            assertThat(req).isEqualTo(before);
        }

        private JsonObject withTool() {
            return chat("[{\"role\":\"user\",\"content\":\"q\"}]")
                .put("tools", new JsonArray("[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\"}}}]"));
        }
    }

    // =========================================================================================
    @Nested
    class Thinking {

        private JsonObject thinkingRequest() {
            return chat("[{\"role\":\"user\",\"content\":\"q\"}]").put("enable_thinking", true);
        }

        @Test
        void defaultBudgetIsHalfOfMaxTokens() {
            JsonObject out = AnthropicRequests.toAnthropic(thinkingRequest(), "claude-sonnet-4-5", 8000, false);
            assertThat(out.getJsonObject("thinking")).isEqualTo(json("{\"type\":\"enabled\",\"budget_tokens\":4000}"));
            assertThat(out.getInteger("max_tokens")).isEqualTo(8000);
        }

        @Test
        void defaultBudgetIsAtLeast1024AndTheCallersCapStays() {
            JsonObject out = AnthropicRequests.toAnthropic(thinkingRequest(), "claude-sonnet-4-5", 1500, false);
            assertThat(out.getJsonObject("thinking").getInteger("budget_tokens")).isEqualTo(1024);
            assertThat(out.getInteger("max_tokens")).isEqualTo(1500);
        }

        @Test
        void aCapThatLeavesNoRoomToThinkIsRefusedRatherThanRaised() {
            // The cap counts the reasoning (as at OpenAI) and the request was reserved on it: never raised
            assertThatThrownBy(() -> AnthropicRequests.toAnthropic(thinkingRequest(), "claude-sonnet-4-5", 1024, false))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("max_tokens: 1024 ")
                .hasMessageContaining("over 1024");
        }

        @Test
        void explicitBudgetIsUsedAndMustBeBelowMaxTokens() {
            JsonObject fits = AnthropicRequests.toAnthropic(thinkingRequest().put("thinking_budget", 3000), "claude-sonnet-4-5", 8000, false);
            assertThat(fits.getJsonObject("thinking").getInteger("budget_tokens")).isEqualTo(3000);
            assertThat(fits.getInteger("max_tokens")).isEqualTo(8000);

            assertThatThrownBy(() -> AnthropicRequests.toAnthropic(thinkingRequest().put("thinking_budget", 4000), "claude-sonnet-4-5",
                4000, false))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("thinking_budget: 4000 must be less than max_tokens (4000)");
        }

        @ParameterizedTest
        @ValueSource(strings = {"\"required\"", "{\"type\":\"function\",\"function\":{\"name\":\"f\"}}"})
        void forcingAToolWhileThinkingIsUnsupported(String choice) {
            // Anthropic refuses a forced tool choice with extended thinking
            JsonObject req = thinkingRequest().put("tool_choice", Json.decodeValue(choice))
                .put("tools", new JsonArray("[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]"));
            assertThatThrownBy(() -> AnthropicRequests.toAnthropic(req, "claude-sonnet-4-5", 8000, false))
                .isInstanceOf(AnthropicRequests.Unsupported.class)
                .hasMessageStartingWith("tool_choice: ");

            JsonObject auto = req.copy().put("tool_choice", "auto");
            assertThat(AnthropicRequests.toAnthropic(auto, "claude-sonnet-4-5", 8000, false).getJsonObject("tool_choice"))
                .isEqualTo(json("{\"type\":\"auto\"}"));
        }

        @Test
        void explicitBudgetBelowAnthropicMinimumIsRaised() {
            JsonObject out = AnthropicRequests.toAnthropic(thinkingRequest().put("thinking_budget", 100), "claude-sonnet-4-5", 8000, false);
            assertThat(out.getJsonObject("thinking").getInteger("budget_tokens")).isEqualTo(1024);
        }

        @Test
        void aTurnGoingOnAfterToolResultsIsAnsweredWithoutThinkingAndANewTurnThinksAgain() {
            // Anthropic wants each assistant message of a thinking turn to start with its signed
            // thinking block, which an OpenAI client cannot send back
            JsonObject toolTurn = chat("""
                [{"role":"user","content":"weather?"},
                 {"role":"assistant","content":null,"reasoning_content":"I should look it up.",
                  "tool_calls":[{"id":"t1","type":"function","function":{"name":"weather","arguments":"{}"}}]},
                 {"role":"tool","tool_call_id":"t1","content":"sunny"}]""").put("enable_thinking", true)
                .put("tools", new JsonArray("[{\"type\":\"function\",\"function\":{\"name\":\"weather\"}}]"));
            JsonObject goingOn = AnthropicRequests.toAnthropic(toolTurn, "claude-sonnet-4-5", 8000, false);
            assertThat(goingOn.containsKey("thinking")).isFalse();
            assertThat(goingOn.getJsonArray("messages").getJsonObject(1).getJsonArray("content"))
                .noneMatch(block -> "thinking".equals(((JsonObject) block).getString("type")));

            JsonObject nextTurn = toolTurn.copy();
            nextTurn.getJsonArray("messages").add(new JsonObject().put("role", "assistant").put("content", "Sunny."))
                .add(new JsonObject().put("role", "user").put("content", "and tomorrow?"));
            assertThat(AnthropicRequests.toAnthropic(nextTurn, "claude-sonnet-4-5", 8000, false).getJsonObject("thinking"))
                .isEqualTo(json("{\"type\":\"enabled\",\"budget_tokens\":4000}"));
        }

        @Test
        void aUserMessageAfterTheToolResultsStillGoesOnWithTheTurnWithoutThinking() {
            // Given a tool loop whose client sends a screenshot as a user message after the tool's result
            JsonObject req = chat("""
                [{"role":"user","content":"look"},
                 {"role":"assistant","content":null,
                  "tool_calls":[{"id":"t1","type":"function","function":{"name":"shot","arguments":"{}"}}]},
                 {"role":"tool","tool_call_id":"t1","content":"taken"},
                 {"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]""")
                .put("enable_thinking", true)
                .put("tools", new JsonArray("[{\"type\":\"function\",\"function\":{\"name\":\"shot\"}}]"));

            // Then the turn goes on without thinking: Anthropic refuses a thinking call there
            JsonObject out = AnthropicRequests.toAnthropic(req, "claude-sonnet-4-5", 8000, false);
            assertThat(out.containsKey("thinking")).isFalse();
        }

        @Test
        void disabledOrAbsentMeansNoThinking() {
            assertThat(translate(thinkingRequest().put("enable_thinking", false)).containsKey("thinking")).isFalse();
            assertThat(translate(chat("[{\"role\":\"user\",\"content\":\"q\"}]")).containsKey("thinking")).isFalse();
        }

        @Test
        void samplingParametersAnthropicRejectsWithThinkingAreDropped() {
            JsonObject low = AnthropicRequests.toAnthropic(thinkingRequest().put("temperature", 0.2).put("top_p", 0.5), "claude-sonnet-4-5", 8000, false);
            assertThat(low.containsKey("temperature")).isFalse();
            assertThat(low.containsKey("top_p")).isFalse();

            JsonObject high = AnthropicRequests.toAnthropic(thinkingRequest().put("top_p", 0.97), "claude-sonnet-4-5", 8000, false);
            assertThat(high.getDouble("top_p")).isEqualTo(0.97);
        }
    }

    // =========================================================================================
    @Nested
    class Generations {

        private JsonObject ask() {
            return chat("[{\"role\":\"user\",\"content\":\"q\"}]");
        }

        @ParameterizedTest
        @CsvSource({
            "claude-3-5-sonnet-20241022, BUDGET", "claude-3-7-sonnet-20250219, BUDGET",
            "claude-sonnet-4-20250514, BUDGET", "claude-opus-4-1@20250805, BUDGET",
            "claude-haiku-4-5-20251001, BUDGET", "us.anthropic.claude-sonnet-4-5-20250929-v1:0, BUDGET",
            "claude-opus-4-6, ADAPTIVE", "anthropic.claude-sonnet-4-6, ADAPTIVE",
            "claude-opus-4-7, ADAPTIVE_ONLY", "claude-sonnet-5, ADAPTIVE_ONLY", "claude-opus-5-5, ADAPTIVE_ONLY",
            "claude-mythos-preview, ADAPTIVE_ONLY"})
        void aModelsWayOfThinkingIsKnownFromItsId(String model, ClaudeThinking expected) {
            assertThat(ClaudeThinking.of("", model)).isEqualTo(expected);
            assertThat(ClaudeThinking.of("budget", model)).isEqualTo(ClaudeThinking.BUDGET);
        }

        @Test
        void adaptiveModelsThinkAtTheEffortAskedAndSayWhatTheyThought() {
            JsonObject out = AnthropicRequests.toAnthropic(ask().put("reasoning_effort", "minimal"), "claude-opus-4-6",
                8000, false);
            assertThat(out.getJsonObject("thinking")).isEqualTo(json("{\"type\":\"adaptive\",\"display\":\"summarized\"}"));
            assertThat(out.getJsonObject("output_config")).isEqualTo(json("{\"effort\":\"low\"}"));
            assertThat(out.getInteger("max_tokens")).isEqualTo(8000);

            JsonObject unsaid = AnthropicRequests.toAnthropic(ask().put("enable_thinking", true), "claude-opus-4-7",
                8000, false);
            assertThat(unsaid.getJsonObject("thinking").getString("type")).isEqualTo("adaptive");
            assertThat(unsaid.containsKey("output_config")).isFalse();
            // xhigh came with the models that only think adaptively
            assertThat(AnthropicRequests.toAnthropic(ask().put("reasoning_effort", "xhigh"), "claude-opus-4-7", 8000,
                false).getJsonObject("output_config").getString("effort")).isEqualTo("xhigh");
            assertThat(AnthropicRequests.toAnthropic(ask().put("reasoning_effort", "xhigh"), "claude-sonnet-4-6", 8000,
                false).getJsonObject("output_config").getString("effort")).isEqualTo("high");
            assertThat(AnthropicRequests.toAnthropic(ask().put("reasoning_effort", "none"), "claude-opus-4-7", 8000,
                false).fieldNames()).doesNotContain("thinking", "output_config");
        }

        @Test
        void aBudgetGoesToTheModelsThatTakeOneAndIsRefusedByThoseThatDoNot() {
            JsonObject deprecated = AnthropicRequests.toAnthropic(ask().put("enable_thinking", true)
                .put("thinking_budget", 2000), "claude-sonnet-4-6", 8000, false);
            assertThat(deprecated.getJsonObject("thinking")).isEqualTo(json("{\"type\":\"enabled\",\"budget_tokens\":2000}"));

            assertThatThrownBy(() -> AnthropicRequests.toAnthropic(ask().put("enable_thinking", true)
                .put("thinking_budget", 2000), "claude-opus-4-7", 8000, false))
                .isInstanceOf(AnthropicRequests.Unsupported.class)
                .hasMessageStartingWith("thinking_budget: ");
        }

        @Test
        void withEnableThinkingAnEffortSetsTheBudgetOfTheOlderModelsAloneItAsksThemNothing() {
            assertThat(budget("minimal")).isEqualTo(1024);
            assertThat(budget("low")).isEqualTo(1024);
            assertThat(budget("medium")).isEqualTo(4000);
            assertThat(budget("high")).isEqualTo(6000);
            assertThat(budget("max")).isEqualTo(6000);
            // An older Claude may not think at all: an effort alone is not taken for a request to
            JsonObject alone = AnthropicRequests.toAnthropic(ask().put("reasoning_effort", "high"), "claude-3-5-haiku-20241022",
                8000, false);
            assertThat(alone.fieldNames()).doesNotContain("thinking", "output_config");
        }

        private int budget(String effort) {
            return AnthropicRequests.toAnthropic(ask().put("enable_thinking", true).put("reasoning_effort", effort),
                "claude-sonnet-4-5", 8000, false).getJsonObject("thinking").getInteger("budget_tokens");
        }

        @Test
        void anEffortAloneIsLetGoWhereThinkingCannotBeHadButStillSetsTheEffort() {
            JsonObject forced = ask().put("reasoning_effort", "high").put("tool_choice", "required")
                .put("tools", new JsonArray("[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]"));
            JsonObject out = AnthropicRequests.toAnthropic(forced, "claude-opus-4-7", 1000, false);
            assertThat(out.containsKey("thinking")).isFalse();
            assertThat(out.getJsonObject("output_config").getString("effort")).isEqualTo("high");
            assertThat(out.getJsonObject("tool_choice").getString("type")).isEqualTo("any");
            // asked for outright, it is refused as before
            assertThatThrownBy(() -> AnthropicRequests.toAnthropic(forced.copy().put("enable_thinking", true),
                "claude-opus-4-7", 1000, false)).isInstanceOf(AnthropicRequests.Unsupported.class);
        }

        @Test
        void deepSeeksMaxIsTheNewestModelsMaxAndAnEffortAnthropicDoesNotKnowIsUnsupported() {
            assertThat(AnthropicRequests.toAnthropic(ask().put("reasoning_effort", "max"), "claude-opus-4-7", 8000,
                false).getJsonObject("output_config").getString("effort")).isEqualTo("max");
            assertThat(AnthropicRequests.toAnthropic(ask().put("reasoning_effort", "max"), "claude-sonnet-4-6", 8000,
                false).getJsonObject("output_config").getString("effort")).isEqualTo("high");
            assertThatThrownBy(() -> AnthropicRequests.toAnthropic(ask().put("reasoning_effort", "ultra"),
                "claude-opus-4-7", 8000, false))
                .isInstanceOf(AnthropicRequests.Unsupported.class)
                .hasMessageStartingWith("reasoning_effort: 'ultra' ");
        }

        @Test
        void theNewestModelsAreSentNoSamplingParameters() {
            JsonObject sampled = ask().put("temperature", 0.3).put("top_p", 0.9);
            assertThat(AnthropicRequests.toAnthropic(sampled, "claude-opus-4-7", 1000, false).fieldNames())
                .doesNotContain("temperature", "top_p");
            // Claude 4.6 takes one of them: the temperature, when both come
            assertThat(AnthropicRequests.toAnthropic(sampled, "claude-opus-4-6", 1000, false).fieldNames())
                .contains("temperature").doesNotContain("top_p");
            assertThat(AnthropicRequests.toAnthropic(sampled.copy().put("temperature", null),
                new AnthropicRequests.Target("my-claude", ClaudeThinking.ADAPTIVE, false), 1000, false)
                .fieldNames()).contains("top_p");
        }
    }

    // =========================================================================================
    @Nested
    class Caching {

        private static final String MARK = "{\"type\":\"ephemeral\"}";

        @Test
        void marksOnPartsMessagesAndToolsGoOnTheBlocksMadeOfThem() {
            JsonObject req = chat("""
                [{"role":"system","content":[{"type":"text","text":"rules"},
                                             {"type":"text","text":"the long manual","cache_control":{"type":"ephemeral"}}]},
                 {"role":"user","content":[{"type":"text","text":"a"},
                   {"type":"image_url","image_url":{"url":"https://x/cat.png"},"cache_control":{"type":"ephemeral","ttl":"5m"}}]},
                 {"role":"assistant","content":"b"},
                 {"role":"user","content":"c","cache_control":{"type":"ephemeral"}}]""")
                .put("tools", new JsonArray("[{\"type\":\"function\",\"function\":{\"name\":\"f\"},"
                    + "\"cache_control\":{\"type\":\"ephemeral\"}}]"));
            JsonObject out = translate(req);

            assertThat(out.getJsonArray("system")).isEqualTo(new JsonArray("""
                [{"type":"text","text":"rules"},{"type":"text","text":"the long manual","cache_control":%s}]"""
                .formatted(MARK)));
            JsonArray messages = out.getJsonArray("messages");
            assertThat(messages.getJsonObject(0).getJsonArray("content").getJsonObject(0).containsKey("cache_control"))
                .isFalse();
            assertThat(messages.getJsonObject(0).getJsonArray("content").getJsonObject(1).getJsonObject("cache_control"))
                .isEqualTo(json("{\"type\":\"ephemeral\",\"ttl\":\"5m\"}"));
            assertThat(messages.getJsonObject(2).getJsonArray("content").getJsonObject(0))
                .isEqualTo(json("{\"type\":\"text\",\"text\":\"c\",\"cache_control\":" + MARK + "}"));
            assertThat(out.getJsonArray("tools").getJsonObject(0).getJsonObject("cache_control")).isEqualTo(json(MARK));
            assertThat(out.containsKey("cache_control")).isFalse();
        }

        @Test
        void aSystemPromptWithoutMarksStaysOneString() {
            JsonObject out = translate(chat("""
                [{"role":"system","content":"one"},{"role":"developer","content":[{"type":"text","text":"two"}]},
                 {"role":"user","content":"q"}]"""));
            assertThat(out.getString("system")).isEqualTo("one\n\ntwo");
        }

        @Test
        void automaticCachingIsAsAskedOrWhereTheProviderCachesAndTheRequestMarksNothing() {
            JsonObject plain = chat("[{\"role\":\"user\",\"content\":\"q\"}]");
            assertThat(translate(plain.copy().put("cache_control", json(MARK))).getJsonObject("cache_control"))
                .isEqualTo(json(MARK));
            assertThat(translate(plain).containsKey("cache_control")).isFalse();

            AnthropicRequests.Target automatic = new AnthropicRequests.Target("claude-sonnet-4-5",
                ClaudeThinking.BUDGET, true);
            assertThat(AnthropicRequests.toAnthropic(plain, automatic, 1000, false).getJsonObject("cache_control"))
                .isEqualTo(json(MARK));
            JsonObject marked = chat("[{\"role\":\"user\",\"content\":\"q\",\"cache_control\":" + MARK + "}]");
            assertThat(AnthropicRequests.toAnthropic(marked, automatic, 1000, false).containsKey("cache_control"))
                .isFalse();
        }

        @Test
        void moreMarksThanAnthropicTakesAreRefusedBeforeAnyCallTheTopOneCounting() {
            JsonArray parts = new JsonArray();
            for (int i = 0; i < 4; i++) {
                parts.add(new JsonObject().put("type", "text").put("text", "part " + i).put("cache_control", json(MARK)));
            }
            JsonObject four = chat("[]");
            four.getJsonArray("messages").add(new JsonObject().put("role", "user").put("content", parts));
            assertThat(translate(four).getJsonArray("messages").getJsonObject(0).getJsonArray("content")).hasSize(4);

            assertThatThrownBy(() -> translate(four.copy().put("cache_control", json(MARK))))
                .isInstanceOf(AnthropicRequests.Unsupported.class)
                .hasMessageStartingWith("cache_control: 5 blocks are marked");
        }

        @Test
        void aMarkInsideAToolResultCountsAndOnlyWhatAnthropicTakesOfAMarkGoesOn() {
            JsonObject toolTurn = chat("""
                [{"role":"user","content":"weather?"},
                 {"role":"assistant","content":null,
                  "tool_calls":[{"id":"t1","type":"function","function":{"name":"weather","arguments":"{}"}}]},
                 {"role":"tool","tool_call_id":"t1",
                  "content":[{"type":"text","text":"sunny","cache_control":{"type":"ephemeral","scope":"x"}}]}]""");
            AnthropicRequests.Target automatic = new AnthropicRequests.Target("claude-sonnet-4-5",
                ClaudeThinking.BUDGET, true);

            JsonObject out = AnthropicRequests.toAnthropic(toolTurn, automatic, 1000, false);

            assertThat(out.containsKey("cache_control")).isFalse();
            JsonObject result = out.getJsonArray("messages").getJsonObject(2).getJsonArray("content").getJsonObject(0);
            assertThat(result.getJsonArray("content").getJsonObject(0).getJsonObject("cache_control"))
                .isEqualTo(json(MARK));
        }

        @Test
        void anHoursCacheIsRefusedAndAMalformedMarkIsTheClientsMistake() {
            assertThatThrownBy(() -> translate(chat("""
                [{"role":"user","content":[{"type":"text","text":"q","cache_control":{"type":"ephemeral","ttl":"1h"}}]}]""")))
                .isInstanceOf(AnthropicRequests.Unsupported.class)
                .hasMessageStartingWith("messages[0].content[0].cache_control.ttl '1h' ");
            assertThatThrownBy(() -> translate(chat("[{\"role\":\"user\",\"content\":\"q\"}]")
                .put("cache_control", "yes")))
                .isInstanceOf(IllegalArgumentException.class)
                .isNotInstanceOf(AnthropicRequests.Unsupported.class)
                .hasMessageStartingWith("cache_control must be ");
        }
    }

    // =========================================================================================
    @Nested
    class Responses {

        @Test
        void textAndThinkingAndToolUseBecomeOneChatCompletion() {
            JsonObject anthropic = json("""
                {"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5",
                 "content":[
                   {"type":"thinking","thinking":"Need the weather.","signature":"sig"},
                   {"type":"text","text":"Let me "},
                   {"type":"text","text":"check."},
                   {"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Paris","days":2}}],
                 "stop_reason":"tool_use","stop_sequence":null,
                 "usage":{"input_tokens":100,"cache_read_input_tokens":20,"cache_creation_input_tokens":5,"output_tokens":30}}""");

            JsonObject out = AnthropicResponses.toOpenAi(anthropic, "claude-alias", "chatcmpl-1", 1700000000L);

            assertThat(out.getString("id")).isEqualTo("chatcmpl-1");
            assertThat(out.getString("object")).isEqualTo("chat.completion");
            assertThat(out.getLong("created")).isEqualTo(1700000000L);
            assertThat(out.getString("model")).isEqualTo("claude-alias");
            JsonObject choice = out.getJsonArray("choices").getJsonObject(0);
            assertThat(choice.getInteger("index")).isZero();
            assertThat(choice.getString("finish_reason")).isEqualTo("tool_calls");
            JsonObject message = choice.getJsonObject("message");
            assertThat(message.getString("role")).isEqualTo("assistant");
            assertThat(message.getString("content")).isEqualTo("Let me check.");
            assertThat(message.getString("reasoning_content")).isEqualTo("Need the weather.");
            JsonObject call = message.getJsonArray("tool_calls").getJsonObject(0);
            assertThat(call.getString("id")).isEqualTo("toolu_01");
            assertThat(call.getString("type")).isEqualTo("function");
            assertThat(call.getJsonObject("function").getString("name")).isEqualTo("get_weather");
            assertThat(new JsonObject(call.getJsonObject("function").getString("arguments")))
                .isEqualTo(json("{\"city\":\"Paris\",\"days\":2}"));
            assertThat(out.getJsonObject("usage")).isEqualTo(json("""
                {"prompt_tokens":125,"completion_tokens":30,"total_tokens":155,
                 "prompt_tokens_details":{"cached_tokens":20,"cache_write_tokens":5}}"""));
        }

        @Test
        void pureToolCallTurnHasNullContent() {
            JsonObject out = AnthropicResponses.toOpenAi(json("""
                {"content":[{"type":"tool_use","id":"t","name":"f","input":{}}],"stop_reason":"tool_use"}"""), "m", "id", 1);
            JsonObject message = out.getJsonArray("choices").getJsonObject(0).getJsonObject("message");
            assertThat(message.containsKey("content")).isTrue();
            assertThat(message.getValue("content")).isNull();
            assertThat(message.getJsonArray("tool_calls").getJsonObject(0).getJsonObject("function").getString("arguments"))
                .isEqualTo("{}");
            assertThat(message.containsKey("reasoning_content")).isFalse();
        }

        @Test
        void usageWithoutCacheFieldsCountsZeroCached() {
            JsonObject usage = AnthropicResponses.usage(json("{\"input_tokens\":10,\"output_tokens\":3}"));
            assertThat(usage).isEqualTo(json("""
                {"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,
                 "prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0}}"""));
        }

        @ParameterizedTest
        @CsvSource({
            "end_turn, stop",
            "max_tokens, length",
            "tool_use, tool_calls",
            "stop_sequence, stop",
            "refusal, content_filter",
            "pause_turn, stop",
            "model_context_window_exceeded, length",
        })
        void stopReasonMapping(String stopReason, String finishReason) {
            JsonObject out = AnthropicResponses.toOpenAi(json("{\"content\":[{\"type\":\"text\",\"text\":\"x\"}]}")
                .put("stop_reason", stopReason), "m", "id", 1);
            assertThat(out.getJsonArray("choices").getJsonObject(0).getString("finish_reason")).isEqualTo(finishReason);
        }

        @ParameterizedTest
        @CsvSource({
            "400, invalid_request_error, 400, invalid_request_error, invalid_request_error",
            "401, authentication_error,  401, authentication_error,  upstream_authentication_failed",
            "403, permission_error,      403, permission_error,      permission_denied",
            "404, not_found_error,       404, invalid_request_error, not_found",
            "413, request_too_large,     413, invalid_request_error, request_too_large",
            "429, rate_limit_error,      429, rate_limit_error,      rate_limit_exceeded",
            "500, api_error,             500, server_error,          upstream_error",
            "529, overloaded_error,      529, server_error,          overloaded",
        })
        void errorMapping(int status, String anthropicType, int expectedStatus, String expectedType, String expectedCode) {
            JsonObject body = new JsonObject().put("type", "error").put("request_id", "req_1")
                .put("error", new JsonObject().put("type", anthropicType).put("message", "boom " + anthropicType));

            ErrorInfo info = AnthropicResponses.mapError(status, body);

            assertThat(info).isEqualTo(new ErrorInfo(expectedStatus, expectedType, expectedCode, "boom " + anthropicType));
        }

        @Test
        void errorWithoutBodyFallsBackOnStatus() {
            assertThat(AnthropicResponses.mapError(413, null))
                .isEqualTo(new ErrorInfo(413, "invalid_request_error", "request_too_large", "Anthropic returned HTTP 413"));
            assertThat(AnthropicResponses.mapError(503, new JsonObject()))
                .isEqualTo(new ErrorInfo(503, "server_error", "upstream_error", "Anthropic returned HTTP 503"));
        }

        @Test
        void unknownErrorTypeKeepsStatusAndType() {
            JsonObject body = json("{\"type\":\"error\",\"error\":{\"type\":\"brand_new_error\",\"message\":\"m\"}}");
            assertThat(AnthropicResponses.mapError(409, body))
                .isEqualTo(new ErrorInfo(409, "invalid_request_error", "brand_new_error", "m"));
        }
    }

    // =========================================================================================
    @Nested
    class Streaming {

        /**
         * A realistic stream in the wire format of the Anthropic streaming docs: thinking (with a
         * signature), text, then a tool call whose JSON arrives in several fragments, with pings
         * interleaved and cumulative usage in message_delta.
         */
        private static final String SSE = """
            event: message_start
            data: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":2}}}

            event: content_block_start
            data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

            event: ping
            data: {"type":"ping"}

            event: content_block_delta
            data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The user wants "}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"the weather."}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}}

            event: content_block_stop
            data: {"type":"content_block_stop","index":0}

            event: content_block_start
            data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Let me check "}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"that for you."}}

            event: content_block_stop
            data: {"type":"content_block_stop","index":1}

            event: content_block_start
            data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\\"location\\": \\"San Fra"}}

            event: ping
            data: {"type":"ping"}

            event: content_block_delta
            data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"ncisco, CA\\", \\"unit\\": "}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"\\"fahrenheit\\"}"}}

            event: content_block_stop
            data: {"type":"content_block_stop","index":2}

            event: message_delta
            data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

            event: message_stop
            data: {"type":"message_stop"}

            """;

        private AnthropicStreamTranslator translator;

        private List<JsonObject> run(String sse) {
            translator = new AnthropicStreamTranslator("claude-alias", "chatcmpl-9", 1700000000L);
            List<JsonObject> chunks = new ArrayList<>();
            for (String[] event : parseSse(sse)) {
                chunks.addAll(translator.onEvent(event[0], new JsonObject(event[1])));
            }
            return chunks;
        }

        @Test
        void fullStreamWithThinkingTextAndToolCall() {
            List<JsonObject> chunks = run(SSE);

            chunks.forEach(c -> {
                assertThat(c.getString("object")).isEqualTo("chat.completion.chunk");
                assertThat(c.getString("id")).isEqualTo("chatcmpl-9");
                assertThat(c.getString("model")).isEqualTo("claude-alias");
                assertThat(c.getLong("created")).isEqualTo(1700000000L);
                assertThat(c.getJsonArray("choices")).hasSize(1);
            });
            // role once, 2 thinking, 2 text, tool start, 3 non-empty argument fragments, finish
            assertThat(chunks).hasSize(10);
            assertThat(delta(chunks.get(0)).getString("role")).isEqualTo("assistant");
            assertThat(chunks.stream().skip(1).filter(c -> delta(c).containsKey("role"))).isEmpty();

            assertThat(concat(chunks, "reasoning_content")).isEqualTo("The user wants the weather.");
            assertThat(concat(chunks, "content")).isEqualTo("Let me check that for you.");

            List<JsonObject> toolDeltas = chunks.stream()
                .filter(c -> delta(c).containsKey("tool_calls"))
                .map(c -> delta(c).getJsonArray("tool_calls").getJsonObject(0))
                .toList();
            assertThat(toolDeltas).hasSize(4);
            assertThat(toolDeltas.get(0)).isEqualTo(json("""
                {"index":0,"id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","type":"function",
                 "function":{"name":"get_weather","arguments":""}}"""));
            assertThat(toolDeltas.stream().skip(1)).allSatisfy(d -> {
                assertThat(d.getInteger("index")).as("tool index counts tool blocks only").isZero();
                assertThat(d.containsKey("id")).isFalse();
            });
            String arguments = toolDeltas.stream()
                .map(d -> d.getJsonObject("function").getString("arguments"))
                .reduce("", String::concat);
            assertThat(new JsonObject(arguments)).isEqualTo(json("{\"location\":\"San Francisco, CA\",\"unit\":\"fahrenheit\"}"));

            JsonObject last = chunks.get(chunks.size() - 1);
            assertThat(choice(last).getString("finish_reason")).isEqualTo("tool_calls");
            assertThat(delta(last).isEmpty()).isTrue();
            assertThat(chunks.subList(0, chunks.size() - 1))
                .allSatisfy(c -> assertThat(choice(c).getValue("finish_reason")).isNull());

            assertThat(translator.finished()).isTrue();
            assertThat(translator.error()).isNull();
            JsonObject expectedUsage = json("""
                {"prompt_tokens":2572,"completion_tokens":89,"total_tokens":2661,
                 "prompt_tokens_details":{"cached_tokens":2000,"cache_write_tokens":100}}""");
            assertThat(translator.usage()).isEqualTo(expectedUsage);
            JsonObject usageChunk = translator.usageChunk();
            assertThat(usageChunk.getString("object")).isEqualTo("chat.completion.chunk");
            assertThat(usageChunk.getString("id")).isEqualTo("chatcmpl-9");
            assertThat(usageChunk.getJsonArray("choices")).isEmpty();
            assertThat(usageChunk.getJsonObject("usage")).isEqualTo(expectedUsage);
        }

        @Test
        void secondToolBlockGetsToolIndexOneDespiteInterleavedText() {
            List<JsonObject> chunks = run("""
                event: message_start
                data: {"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}

                event: content_block_start
                data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

                event: content_block_delta
                data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Two calls."}}

                event: content_block_start
                data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"a","input":{}}}

                event: content_block_delta
                data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{}"}}

                event: content_block_start
                data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t2","name":"b","input":{}}}

                event: content_block_delta
                data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\\"x\\":1}"}}

                """);

            List<JsonObject> calls = chunks.stream()
                .filter(c -> delta(c).containsKey("tool_calls"))
                .map(c -> delta(c).getJsonArray("tool_calls").getJsonObject(0))
                .toList();
            assertThat(calls).extracting(c -> c.getInteger("index")).containsExactly(0, 0, 1, 1);
            assertThat(calls.get(2).getString("id")).isEqualTo("t2");
            assertThat(calls.get(3).getJsonObject("function").getString("arguments")).isEqualTo("{\"x\":1}");
            assertThat(translator.finished()).isFalse();
        }

        @Test
        void aToolCalledWithoutArgumentsGetsAnEmptyObjectNotAnEmptyString() {
            // Anthropic sends no JSON for a tool without parameters (one empty fragment at most)
            List<JsonObject> chunks = run("""
                event: message_start
                data: {"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}

                event: content_block_start
                data: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t1","name":"now","input":{}}}

                event: content_block_delta
                data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}

                event: content_block_stop
                data: {"type":"content_block_stop","index":0}

                event: content_block_start
                data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t2","name":"at","input":{}}}

                event: content_block_delta
                data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"x\\":1}"}}

                event: content_block_stop
                data: {"type":"content_block_stop","index":1}

                """);

            // Then each call's fragments add up to a JSON object
            Map<Integer, StringBuilder> arguments = new TreeMap<>();
            chunks.stream().filter(c -> delta(c).containsKey("tool_calls"))
                .map(c -> delta(c).getJsonArray("tool_calls").getJsonObject(0))
                .forEach(call -> arguments.computeIfAbsent(call.getInteger("index"), i -> new StringBuilder())
                    .append(call.getJsonObject("function").getString("arguments")));
            assertThat(arguments.get(0)).hasToString("{}");
            assertThat(arguments.get(1)).hasToString("{\"x\":1}");
        }

        @Test
        void textOnlyStreamEndsWithStopAndCumulativeUsageOverwrites() {
            List<JsonObject> chunks = run("""
                event: message_start
                data: {"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}

                event: content_block_start
                data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

                event: content_block_delta
                data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello!"}}

                event: content_block_stop
                data: {"type":"content_block_stop","index":0}

                event: message_delta
                data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":25,"output_tokens":15}}

                event: message_stop
                data: {"type":"message_stop"}

                """);

            assertThat(chunks).hasSize(3);
            assertThat(concat(chunks, "content")).isEqualTo("Hello!");
            assertThat(choice(chunks.get(2)).getString("finish_reason")).isEqualTo("stop");
            assertThat(translator.usage().getInteger("prompt_tokens")).isEqualTo(25);
            assertThat(translator.usage().getInteger("completion_tokens")).as("cumulative, not 1 + 15").isEqualTo(15);
            assertThat(translator.finished()).isTrue();
        }

        @Test
        void streamCutOffBeforeMessageDeltaHasOnlyItsInputCountedNotMessageStartsPlaceholderOutput() {
            run("""
                event: message_start
                data: {"type":"message_start","message":{"usage":{"input_tokens":472,\
                "cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":1}}}

                event: content_block_start
                data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

                event: content_block_delta
                data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Cut"}}

                """);

            assertThat(translator.usage()).as("output_tokens: 1 is a placeholder, not a count").isNull();
            assertThat(translator.usageChunk()).isNull();
            assertThat(translator.promptUsage()).isEqualTo(json("""
                {"prompt_tokens":2572,"completion_tokens":0,"total_tokens":2572,
                 "prompt_tokens_details":{"cached_tokens":2000,"cache_write_tokens":100}}"""));
        }

        @Test
        void messageDeltaWithoutUsageLeavesTheOutputUncounted() {
            run("""
                event: message_start
                data: {"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}

                event: content_block_delta
                data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello!"}}

                event: message_delta
                data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null}}

                event: message_stop
                data: {"type":"message_stop"}

                """);

            assertThat(translator.finished()).isTrue();
            assertThat(translator.usage()).isNull();
            assertThat(translator.usageChunk()).isNull();
            assertThat(translator.promptUsage().getInteger("prompt_tokens")).isEqualTo(25);
        }

        @Test
        void explicitZeroOutputInMessageDeltaIsAnthropicsCount() {
            run("""
                event: message_start
                data: {"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}

                event: message_delta
                data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":0}}

                """);

            assertThat(translator.usage().getInteger("prompt_tokens")).isEqualTo(25);
            assertThat(translator.usage().getInteger("completion_tokens")).isZero();
        }

        @ParameterizedTest
        @CsvSource({"max_tokens, length", "stop_sequence, stop", "refusal, content_filter", "end_turn, stop"})
        void messageDeltaFinishReasonMapping(String stopReason, String finishReason) {
            AnthropicStreamTranslator t = new AnthropicStreamTranslator("m", "id", 1);
            t.onEvent("message_start", json("{\"type\":\"message_start\",\"message\":{}}"));
            List<JsonObject> out = t.onEvent("message_delta",
                json("{\"type\":\"message_delta\",\"delta\":{\"stop_sequence\":null},\"usage\":{\"output_tokens\":3}}")
                    .put("delta", new JsonObject().put("stop_reason", stopReason)));
            assertThat(out).singleElement().satisfies(c -> assertThat(choice(c).getString("finish_reason")).isEqualTo(finishReason));
        }

        @Test
        void pingProducesNothing() {
            AnthropicStreamTranslator t = new AnthropicStreamTranslator("m", "id", 1);
            assertThat(t.onEvent("ping", json("{\"type\":\"ping\"}"))).isEmpty();
            assertThat(t.usage()).isNull();
            assertThat(t.promptUsage()).isNull();
            assertThat(t.usageChunk()).isNull();
        }

        @Test
        void errorEventIsRecordedNotEmitted() {
            AnthropicStreamTranslator t = new AnthropicStreamTranslator("m", "id", 1);
            t.onEvent("message_start", json("{\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}"));

            List<JsonObject> out = t.onEvent("error",
                json("{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"));

            assertThat(out).isEmpty();
            assertThat(t.error()).isEqualTo(json("{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}"));
            assertThat(t.finished()).isFalse();
            assertThat(t.usage()).isNull();
            assertThat(t.promptUsage().getInteger("prompt_tokens")).isEqualTo(3);
        }

        @Test
        void eventTypeFallsBackToPayloadTypeAndRoleRidesOnFirstChunkWithoutMessageStart() {
            AnthropicStreamTranslator t = new AnthropicStreamTranslator("m", "id", 1);
            List<JsonObject> out = t.onEvent(null,
                json("{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}"));
            assertThat(out).singleElement().satisfies(c -> {
                assertThat(delta(c).getString("role")).isEqualTo("assistant");
                assertThat(delta(c).getString("content")).isEqualTo("hi");
            });
        }

        @Test
        void unknownEventsAndBlocksAreIgnored() {
            AnthropicStreamTranslator t = new AnthropicStreamTranslator("m", "id", 1);
            t.onEvent("message_start", json("{\"message\":{}}"));
            assertThat(t.onEvent("brand_new_event", json("{\"type\":\"brand_new_event\"}"))).isEmpty();
            assertThat(t.onEvent("content_block_start", json(
                "{\"index\":0,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"s\",\"name\":\"web_search\",\"input\":{}}}"))).isEmpty();
            assertThat(t.onEvent("content_block_delta", json(
                "{\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"q\\\":1}\"}}")))
                .as("arguments of tools the client never saw are not forwarded").isEmpty();
        }

        // ---- helpers ---------------------------------------------------------------------

        /** Minimal SSE framing: blank-line separated events with one event: and one data: line. */
        private static List<String[]> parseSse(String sse) {
            List<String[]> events = new ArrayList<>();
            for (String frame : sse.split("\n\n")) {
                String name = null;
                String data = null;
                for (String line : frame.split("\n")) {
                    if (line.startsWith("event: ")) {
                        name = line.substring("event: ".length());
                    } else if (line.startsWith("data: ")) {
                        data = line.substring("data: ".length());
                    }
                }
                if (data != null) {
                    events.add(new String[] {name, data});
                }
            }
            return events;
        }

        private static String concat(List<JsonObject> chunks, String field) {
            StringBuilder sb = new StringBuilder();
            chunks.forEach(c -> sb.append(delta(c).getString(field, "")));
            return sb.toString();
        }
    }

    private static JsonObject choice(JsonObject chunk) {
        return chunk.getJsonArray("choices").getJsonObject(0);
    }

    private static JsonObject delta(JsonObject chunk) {
        return choice(chunk).getJsonObject("delta");
    }

    private static List<String> roles(JsonArray messages) {
        List<String> roles = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            roles.add(messages.getJsonObject(i).getString("role"));
        }
        return roles;
    }
}
