package io.tokenhub.provider.mock;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

/** The mock model's sample of a client's schema: what the schema asks for, within a bound on its size. */
class SchemaSampleTest {

    @Test
    void requiredPropertiesGetValuesOfTheirTypeAndArraysTheirMinItems() {
        JsonObject sample = SchemaSample.object(new JsonObject("""
            {"type": "object", "required": ["name", "tags", "when"],
             "properties": {"name": {"type": "string"}, "when": {"type": "string", "format": "date"},
                            "tags": {"type": "array", "minItems": 3, "items": {"type": "integer", "minimum": 2}},
                            "optional": {"type": "string"}}}"""));

        assertThat(sample).isEqualTo(new JsonObject()
            .put("name", "mock").put("tags", new JsonArray().add(2L).add(2L).add(2L)).put("when", "2025-01-01"));
    }

    @Test
    void aHugeMinItemsIsCutAtTheBound() {
        JsonObject sample = SchemaSample.object(new JsonObject("""
            {"type": "object", "required": ["xs"],
             "properties": {"xs": {"type": "array", "minItems": 2000000000, "items": {"type": "integer"}}}}"""));

        assertThat(sample.getJsonArray("xs").size()).isLessThan(SchemaSample.MAX_VALUES);
    }

    @Test
    void arraysOfArraysCountEveryValueAgainstTheBound() {
        // Eight levels of 100 items each would be 10^16 values.
        JsonObject items = new JsonObject().put("type", "integer");
        for (int level = 0; level < 8; level++) {
            items = new JsonObject().put("type", "array").put("minItems", 100).put("items", items);
        }
        JsonObject sample = SchemaSample.object(new JsonObject().put("type", "object")
            .put("required", new JsonArray().add("deep")).put("properties", new JsonObject().put("deep", items)));

        assertThat(count(sample)).isLessThanOrEqualTo(SchemaSample.MAX_VALUES);
    }

    @Test
    void aRecursiveSchemaEndsWhereItMayAsPydanticWritesOne() {
        // class Node(BaseModel): value: str; children: list['Node']; next: Optional['Node']
        JsonObject sample = SchemaSample.object(new JsonObject("""
            {"$defs": {"Node": {"type": "object", "required": ["value", "children", "next"],
               "properties": {"value": {"type": "string"},
                              "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                              "next": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]}}}},
             "$ref": "#/$defs/Node"}"""));

        assertThat(sample).isEqualTo(new JsonObject().put("value", "mock").put("children", new JsonArray())
            .putNull("next"));
    }

    @Test
    void numbersKeepToTheirBoundsAndStringsToTheirLengths() {
        JsonObject sample = SchemaSample.object(new JsonObject("""
            {"type": "object", "required": ["gt0", "le_1", "lt0", "between", "gt0n", "draft4", "long", "short", "ge2le3"],
             "properties": {"gt0": {"type": "integer", "exclusiveMinimum": 0},
                            "le_1": {"type": "integer", "maximum": -1},
                            "lt0": {"type": "number", "exclusiveMaximum": 0},
                            "between": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                            "gt0n": {"type": "number", "exclusiveMinimum": 0},
                            "draft4": {"type": "integer", "minimum": 0, "exclusiveMinimum": true},
                            "long": {"type": "string", "minLength": 6},
                            "short": {"type": "string", "maxLength": 2},
                            "ge2le3": {"type": "number", "minimum": 2, "maximum": 3}}}"""));

        assertThat(sample).isEqualTo(new JsonObject().put("gt0", 1L).put("le_1", -1L).put("lt0", -1.0)
            .put("between", 0.5).put("gt0n", 1.0).put("draft4", 1L).put("long", "mockoo").put("short", "mo")
            .put("ge2le3", 2.0));
    }

    private static long count(Object value) {
        if (value instanceof JsonArray array) {
            return 1 + array.stream().mapToLong(SchemaSampleTest::count).sum();
        }
        if (value instanceof JsonObject object) {
            return 1 + object.stream().mapToLong(e -> count(e.getValue())).sum();
        }
        return 1;
    }

    @Test
    void numbersKeepToTheirMultipleOfAndStringsToTheFormatsPydanticAndZodCheck() {
        // (SDK audit: parse() raised on 1 for multiple_of=3, and on "mock" as an IPv4 address or a timedelta)
        JsonObject sample = SchemaSample.object(new JsonObject("""
            {"type": "object", "required": ["replicas", "step", "capped", "tenth", "address", "v6", "uptime", "host"],
             "properties": {
               "replicas": {"type": "integer", "multipleOf": 3, "minimum": 1},
               "step": {"type": "number", "multipleOf": 0.5, "minimum": 1.2},
               "capped": {"type": "integer", "multipleOf": 4, "minimum": 5, "maximum": 7},
               "tenth": {"type": "number", "multipleOf": 0.1, "exclusiveMinimum": 0.25},
               "address": {"type": "string", "format": "ipv4"},
               "v6": {"type": "string", "format": "ipv6"},
               "uptime": {"type": "string", "format": "duration"},
               "host": {"type": "string", "format": "hostname"}}}"""));

        assertThat(sample.getLong("replicas")).isEqualTo(3);
        assertThat(sample.getDouble("step")).isEqualTo(1.5);
        // no multiple of 4 between 5 and 7: the one below is given, as near as it gets
        assertThat(sample.getLong("capped")).isEqualTo(4);
        assertThat(sample.getDouble("tenth")).isEqualTo(1.3);
        assertThat(sample.getString("address")).isEqualTo("192.0.2.1");
        assertThat(sample.getString("v6")).isEqualTo("2001:db8::1");
        assertThat(sample.getString("uptime")).isEqualTo("P1D");
        assertThat(sample.getString("host")).isEqualTo("example.com");
    }

    @Test
    void everyPartOfAnAllOfIsSampledAndTheObjectsMerged() {
        // zod's a.and(b), a model extending another: each part's required properties are there
        JsonObject sample = SchemaSample.object(new JsonObject("""
            {"type": "object", "required": ["who"],
             "properties": {"who": {"allOf": [
               {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
               {"type": "object", "required": ["age"], "properties": {"age": {"type": "integer", "minimum": 18}}}]}}}"""));

        assertThat(sample.getJsonObject("who").fieldNames()).containsExactlyInAnyOrder("name", "age");
        assertThat(sample.getJsonObject("who").getLong("age")).isEqualTo(18);
    }
}
