package io.tokenhub.provider.openai;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.tokenhub.provider.UpstreamException;
import io.tokenhub.provider.UpstreamException.Kind;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;

/**
 * DeepSeek's {@code finish_reason: "insufficient_system_resource"}: its inference system ran out of
 * resources and cut the answer short. That is the provider's failure, as a 5xx is, not an ending:
 * relayed as one, it would hand the client a truncated answer as a whole one. The byte-level relays
 * leave a choice that says so to the whole parse ({@link #at}), which fails the call.
 */
final class ResourceShortage {

    static final String FINISH_REASON = "insufficient_system_resource";

    private ResourceShortage() {
    }

    /**
     * Whether the parser, on the value of a choice's field {@code name}, is on that finish reason.
     * Reads the text only of a string as long as that reason: every other chunk's {@code finish_reason} is null.
     */
    static boolean at(String name, JsonToken value, JsonParser parser) throws IOException {
        // The length first: an ordinary reason ("stop") is not made into a String.
        return value == JsonToken.VALUE_STRING && name.equals("finish_reason")
            && parser.getTextLength() == FINISH_REASON.length() && FINISH_REASON.equals(parser.getText());
    }

    /** Whether one of the {@code choices} (of an answer or a chunk, as parsed whole) was cut short so. */
    static boolean in(Object choices) {
        return find(choices, false);
    }

    /**
     * Whether one of a chunk's {@code choices} was cut short so; those that were lose the finish
     * reason, so that what they generated reaches the client as part of an answer not yet ended.
     */
    static boolean clearFrom(Object choices) {
        return find(choices, true);
    }

    /** The provider's failure: counted against its circuit, and the next candidate tried if nothing was sent yet. */
    static UpstreamException failure(String providerId) {
        return UpstreamException.of(providerId, Kind.SERVER_ERROR,
            "the provider ran out of resources and cut the answer short (finish_reason " + FINISH_REASON + ")");
    }

    private static boolean find(Object choices, boolean clear) {
        boolean found = false;
        if (choices instanceof JsonArray list) {
            for (Object c : list) {
                if (c instanceof JsonObject choice && FINISH_REASON.equals(choice.getValue("finish_reason"))) {
                    found = true;
                    if (clear) {
                        choice.putNull("finish_reason");
                    }
                }
            }
        }
        return found;
    }
}
