package io.tokenhub.accounting;

import com.fasterxml.jackson.core.JsonGenerator;
import io.tokenhub.billing.Payment;
import io.tokenhub.core.Usage;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.time.Instant;
import java.util.List;

/**
 * One request that reached an upstream, as it is billed and logged. Exactly one per request id.
 * Served model, provider and deployment name one upstream call: the one that answered, or, when
 * none did, the one called last (the last to fail, or the one the client left waiting on); all
 * null when no upstream was called (every circuit open, or the client left first).
 *
 * @param servedModel  catalog id of the model of that call (differs from requested on fallback)
 * @param deployment   the upstream model name at the provider
 * @param priceVersion the pricing the cost was reckoned at: null when nothing answered (a cost of 0)
 * @param ttftMs       time to first token for streams, -1 otherwise
 * @param status       the HTTP status the client got
 * @param fallback     whether that call was not to the request's first candidate
 * @param payment      how it was paid: plan tokens and wallet money, applied in PostgreSQL with the record
 */
public record UsageEvent(String requestId, Instant createdAt, String accountId, String keyId, String requestedModel,
                         String servedModel, String provider, String deployment, Usage usage, long costMicroUsd,
                         String priceVersion, long latencyMs, long ttftMs, int status, String errorCode,
                         boolean stream, boolean fallback, Payment payment) {

    /** The record as its line in the spool and the journal reads. */
    public JsonObject toJson() {
        return new JsonObject(Spool.jsonLines(List.of(this)));
    }

    /**
     * The spool's and the journal's line format, written straight to the generator (no map per
     * record: the journal writes one for every request). Stable field names, so that a newer
     * version can replay an older spool.
     */
    void writeJson(JsonGenerator out) throws IOException {
        out.writeStartObject();
        out.writeStringField("request_id", requestId);
        out.writeStringField("created_at", createdAt.toString());
        out.writeStringField("account_id", accountId);
        out.writeStringField("key_id", keyId);
        out.writeStringField("requested_model", requestedModel);
        out.writeStringField("served_model", servedModel);
        out.writeStringField("provider", provider);
        out.writeStringField("deployment", deployment);
        out.writeNumberField("prompt_tokens", usage.promptTokens());
        out.writeNumberField("cached_tokens", usage.cachedTokens());
        out.writeNumberField("cache_write_tokens", usage.cacheWriteTokens());
        out.writeNumberField("completion_tokens", usage.completionTokens());
        out.writeNumberField("reasoning_tokens", usage.reasoningTokens());
        out.writeBooleanField("estimated", usage.estimated());
        out.writeNumberField("cost_micro_usd", costMicroUsd);
        out.writeStringField("price_version", priceVersion);
        out.writeNumberField("latency_ms", latencyMs);
        out.writeNumberField("ttft_ms", ttftMs);
        out.writeNumberField("status", status);
        out.writeStringField("error_code", errorCode);
        out.writeBooleanField("stream", stream);
        out.writeBooleanField("fallback", fallback);
        out.writeNumberField("wallet_micro_usd", payment.walletMicroUsd());
        out.writeObjectFieldStart("plan_draws");
        for (var draw : payment.planDraws().entrySet()) {
            out.writeNumberField(draw.getKey(), draw.getValue());
        }
        out.writeEndObject();
        out.writeEndObject();
    }

    public static UsageEvent fromJson(JsonObject j) {
        return new UsageEvent(
            j.getString("request_id"), Instant.parse(j.getString("created_at")),
            j.getString("account_id"), j.getString("key_id"),
            j.getString("requested_model"), j.getString("served_model"),
            j.getString("provider"), j.getString("deployment"),
            new Usage(j.getLong("prompt_tokens", 0L), j.getLong("cached_tokens", 0L),
                j.getLong("cache_write_tokens", 0L), j.getLong("completion_tokens", 0L),
                j.getLong("reasoning_tokens", 0L), j.getBoolean("estimated", false)),
            j.getLong("cost_micro_usd", 0L), j.getString("price_version"),
            j.getLong("latency_ms", 0L), j.getLong("ttft_ms", -1L), j.getInteger("status", 0),
            j.getString("error_code"), j.getBoolean("stream", false), j.getBoolean("fallback", false),
            payment(j));
    }

    private static Payment payment(JsonObject j) {
        java.util.Map<String, Long> draws = new java.util.LinkedHashMap<>();
        JsonObject plans = j.getJsonObject("plan_draws", new JsonObject());
        plans.forEach(e -> draws.put(e.getKey(), ((Number) e.getValue()).longValue()));
        return new Payment(java.util.Map.copyOf(draws), j.getLong("wallet_micro_usd", 0L));
    }
}
