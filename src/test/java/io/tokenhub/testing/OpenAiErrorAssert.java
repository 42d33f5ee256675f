package io.tokenhub.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.Locale;

/** Assertions on TokenHub's error responses: always the OpenAI shape, never HTML or a stack trace. */
public final class OpenAiErrorAssert {

    private OpenAiErrorAssert() {
    }

    /**
     * Asserts the status, the exact {@code error.type}, {@code error.code} and {@code error.param}
     * (null included), the JSON content type, and the {@code X-Request-Id} and {@code X-TokenHub-Provider}
     * every response carries (the provider named in the error, else {@code none}).
     *
     * @return the {@code error} object, for further assertions
     */
    public static JsonObject assertOpenAiError(HttpResponse<String> response, int status, String type, String code,
                                               String param) {
        assertThat(response.statusCode()).as("status of a response with body %s", response.body()).isEqualTo(status);
        assertThat(response.headers().firstValue("Content-Type")).as("Content-Type")
            .hasValueSatisfying(ct -> assertThat(ct).startsWith("application/json"));
        assertThat(response.headers().firstValue("X-Request-Id")).as("X-Request-Id")
            .hasValueSatisfying(id -> assertThat(id).startsWith("req_"));
        JsonObject error = assertOpenAiErrorShape(response.body());
        assertThat(response.headers().firstValue("X-TokenHub-Provider")).as("X-TokenHub-Provider")
            .hasValue(error.getString("provider", "none"));
        assertThat(error.getString("type")).as("error.type").isEqualTo(type);
        assertThat(error.getString("code")).as("error.code").isEqualTo(code);
        assertThat(error.getValue("param")).as("error.param").isEqualTo(param);
        return error;
    }

    /** The body is {@code {"error": {message, type, code, param[, provider]}}} and leaks no internals. */
    public static JsonObject assertOpenAiErrorShape(String body) {
        assertThat(body.toLowerCase(Locale.ROOT)).as("error body")
            .doesNotContain("<html").doesNotContain("<!doctype").doesNotContain("exception")
            .doesNotContain("\tat ").doesNotContain("io.tokenhub.").doesNotContain("io.vertx.")
            .doesNotContain("io.netty.");
        JsonObject json;
        try {
            json = new JsonObject(body);
        } catch (DecodeException e) {
            throw new AssertionError("error body is not a JSON object: " + body, e);
        }
        assertThat(json.fieldNames()).as("top-level fields of %s", body).containsExactly("error");
        JsonObject error = json.getJsonObject("error");
        assertThat(error.fieldNames()).as("fields of error in %s", body).contains("message", "type", "code", "param");
        assertThat(error.fieldNames()).as("fields of error in %s", body)
            .isSubsetOf("message", "type", "code", "param", "provider");
        assertThat(error.getValue("message")).as("error.message").isInstanceOf(String.class);
        assertThat(error.getString("message")).as("error.message").isNotBlank();
        assertThat(error.getValue("type")).as("error.type").isInstanceOf(String.class);
        assertThat(error.getValue("code")).as("error.code").isInstanceOf(String.class);
        assertThat(error.getValue("param")).as("error.param").satisfiesAnyOf(
            p -> assertThat(p).isNull(), p -> assertThat(p).isInstanceOf(String.class));
        return error;
    }
}
