package io.tokenhub.core;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToLongFunction;

/**
 * Token estimates with a real BPE tokenizer (o200k, GPT-4o's). Exact for OpenAI's chat models, close
 * enough for the others to check context windows, reserve money and bill streams whose provider
 * sent no counts (such records are marked estimated). Tokenizing costs about as much as the rest
 * of a request's handling, so {@link #chatPromptSize} sizes a prompt from its byte lengths alone
 * for the common case where the exact count changes no decision.
 */
public final class TokenCounter {

    /** OpenAI's documented framing cost per message and per reply. */
    private static final int PER_MESSAGE = 3;
    private static final int PER_REPLY = 3;
    /** A low-detail image as OpenAI counts it: what the context window is checked with for an image. */
    private static final int PER_IMAGE = 85;
    /**
     * The most GPT-4o bills for one image at high detail (768 by 2 048 pixels after scaling: eight
     * tiles of 170 and 85), reserved for an image not sent at low detail.
     */
    private static final int PER_DETAILED_IMAGE = 1_445;

    private static final Encoding ENCODING =
        Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.O200K_BASE);
    /** OpenAI's embedding models' tokenizer (text-embedding-3, ada-002): their input limit is in its tokens. */
    private static final Encoding EMBEDDING_ENCODING =
        Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.CL100K_BASE);

    private TokenCounter() {
    }

    /**
     * A chat prompt sized without tokenizing, from the UTF-8 lengths of the texts {@link #chatPrompt}
     * would tokenize.
     *
     * @param fixed        the framing and images, counted as {@link #chatPrompt} counts them
     * @param textBytes    the UTF-8 bytes of every text
     * @param reservedOnly tokens a provider may bill that the context window is not checked with:
     *                     see {@link #reservedOnly()}
     */
    public record PromptSize(int fixed, long textBytes, int reservedOnly) {

        /**
         * Never below {@link #chatPrompt}, the prompt as the context window is checked: a BPE token
         * covers at least one byte. Data parts are left to the provider there (a PDF's tokens are
         * its text and page images, nothing its base64 size tells), and images count at low detail.
         */
        public long bound() {
            return fixed + textBytes;
        }

        /**
         * Three bytes a token: o200k averages about four on English and about three on code and
         * CJK text, so this is above the exact count for ordinary text (not for, say, long runs of
         * digits or emoji, which the exact count corrects afterwards). What the rate limits hold,
         * without {@link #reservedOnly()}.
         */
        public int estimate() {
            return (int) Math.min(Integer.MAX_VALUE, fixed + (textBytes + 2) / 3);
        }

        /**
         * What a provider may bill as prompt beyond what can be counted here, which only the money
         * reserved holds: content parts that are neither text nor image (a file, audio) at three
         * bytes a token, as text; and an image not sent at low detail, as GPT-4o's most for a
         * detailed one (other models bill otherwise: the provider's count settles it). Not in the
         * context window's check (a PDF's tokens are its text and page images, nothing its base64
         * size tells), nor in the rate limits (a large file would be refused for good), nor billed
         * when the provider sends no counts. Until 2026-12-08 none of it was reserved for: a 60 KB
         * file part let an account with a dollar be charged fifteen.
         */
        @Override
        public int reservedOnly() {
            return reservedOnly;
        }
    }

    /** A text's tokens estimated from its UTF-8 size, as {@link PromptSize#estimate} does: no tokenizing. */
    public static long estimate(String text) {
        return (utf8Length(text) + 2) / 3;
    }

    /**
     * {@link #count} for a text short enough to tokenize on an event loop (at most {@code bytes}),
     * else its {@link #estimate}: a usage figure that must be had now, and is marked estimated.
     */
    public static int countIfUnder(String text, long bytes) {
        long size = utf8Length(text);
        return size <= bytes ? count(text) : (int) Math.min(Integer.MAX_VALUE, (size + 2) / 3);
    }

    public static int count(String text) {
        return text == null || text.isEmpty() ? 0 : ENCODING.countTokensOrdinary(text);
    }

    /**
     * An embedding input's tokens, for its context window: the fewer of o200k's and cl100k's counts
     * (OpenAI's embedding models count in cl100k, which takes some text in fewer tokens than o200k;
     * another provider's model in its own): an input is refused only when neither fits it.
     */
    public static int countEmbeddingInput(String text) {
        return text == null || text.isEmpty() ? 0
            : Math.min(ENCODING.countTokensOrdinary(text), EMBEDDING_ENCODING.countTokensOrdinary(text));
    }

    /** A run of text that is whole tokens, and how many. */
    public record Piece(String text, int tokens) {
    }

    /**
     * {@code text} cut where its tokens meet, as a model streams it: a token a piece, or a few
     * where a character's bytes span tokens (some emoji and CJK). The pieces' tokens add up to
     * {@link #count}.
     */
    public static List<Piece> pieces(String text) {
        IntArrayList ids = text == null ? new IntArrayList() : ENCODING.encodeOrdinary(text);
        List<Piece> pieces = new ArrayList<>(ids.size());
        ByteArrayOutputStream pending = new ByteArrayOutputStream();
        IntArrayList one = new IntArrayList(1);
        int tokens = 0;
        for (int i = 0; i < ids.size(); i++) {
            one.clear();
            one.add(ids.get(i));
            pending.writeBytes(ENCODING.decodeBytes(one));
            tokens++;
            byte[] bytes = pending.toByteArray();
            if (endsOnCharacter(bytes) || i == ids.size() - 1) {
                pieces.add(new Piece(new String(bytes, StandardCharsets.UTF_8), tokens));
                pending.reset();
                tokens = 0;
            }
        }
        return pieces;
    }

    /** True unless the last UTF-8 sequence in {@code bytes} lacks some of its continuation bytes. */
    private static boolean endsOnCharacter(byte[] bytes) {
        int continuation = 0;
        for (int i = bytes.length - 1; i >= 0 && continuation < 4; i--, continuation++) {
            int b = bytes[i] & 0xFF;
            if ((b & 0xC0) != 0x80) {
                int length = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
                return continuation + 1 >= length;
            }
        }
        return true;
    }

    /**
     * Prompt tokens of a chat request as its context window is checked: messages, their text and
     * image parts, tool and function definitions and a response's JSON schema. Without the data
     * parts and images beyond low detail ({@link PromptSize#reservedOnly}).
     */
    public static int chatPrompt(JsonObject request) {
        Walk walk = walk(request, TokenCounter::count);
        return (int) Math.min(Integer.MAX_VALUE, walk.fixed + walk.measured);
    }

    /** The same walk as {@link #chatPrompt}, measuring the texts instead of tokenizing them. */
    public static PromptSize chatPromptSize(JsonObject request) {
        Walk walk = walk(request, TokenCounter::utf8Length);
        long reservedOnly = (walk.data + 2) / 3 + (long) walk.detailedImages * (PER_DETAILED_IMAGE - PER_IMAGE);
        return new PromptSize(walk.fixed, walk.measured, (int) Math.min(Integer.MAX_VALUE, reservedOnly));
    }

    public static long utf8Length(String text) {
        long bytes = text.length();
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c >= 0x80) {
                // Two bytes below U+0800; three for the rest of the BMP; a surrogate pair makes four.
                bytes += c < 0x800 || Character.isSurrogate(c) ? 1 : 2;
            }
        }
        return bytes;
    }

    /**
     * A prompt's framing and images in tokens, what {@code measure} made of its texts, its data parts'
     * bytes, and its images not sent at low detail.
     */
    private static final class Walk {
        int fixed = PER_REPLY;
        long measured;
        long data;
        int detailedImages;
    }

    private static Walk walk(JsonObject request, ToLongFunction<String> measure) {
        Walk walk = new Walk();
        JsonArray messages = request.getJsonArray("messages");
        if (messages != null) {
            for (Object m : messages) {
                if (m instanceof JsonObject message) {
                    walk.fixed += PER_MESSAGE;
                    message(message, measure, walk);
                }
            }
        }
        // Everything else a provider reads as prompt and bills: the definitions of tools and of the
        // deprecated functions, and a structured output's schema (until 2026-12-08 only the tools were
        // measured, and 60 KB in the others was reserved nothing).
        walk.measured += encoded(request.getValue("tools"), measure);
        walk.measured += encoded(request.getValue("functions"), measure);
        if (request.getValue("response_format") instanceof JsonObject format) {
            walk.measured += encoded(format.getValue("json_schema"), measure);
        }
        return walk;
    }

    private static void message(JsonObject message, ToLongFunction<String> measure, Walk walk) {
        Object content = message.getValue("content");
        if (content instanceof String text) {
            walk.measured += measure.applyAsLong(text);
        } else if (content instanceof JsonArray parts) {
            for (Object p : parts) {
                if (p instanceof JsonObject part) {
                    Object type = part.getValue("type");
                    Object text = part.getValue("refusal".equals(type) ? "refusal" : "text");
                    if ("image_url".equals(type)) {
                        walk.fixed += PER_IMAGE;
                        if (!(part.getValue("image_url") instanceof JsonObject image
                            && "low".equals(image.getValue("detail")))) {
                            walk.detailedImages++;
                        }
                    } else if (text instanceof String words) {
                        walk.measured += measure.applyAsLong(words);
                    } else {
                        walk.data += stringBytes(part);
                    }
                }
            }
        }
        walk.measured += encoded(message.getValue("tool_calls"), measure);
        walk.measured += encoded(message.getValue("function_call"), measure);
    }

    /** The measure of a non-empty array's or object's JSON, else 0. */
    private static long encoded(Object json, ToLongFunction<String> measure) {
        if (json instanceof JsonArray a && !a.isEmpty()) {
            return measure.applyAsLong(a.encode());
        }
        return json instanceof JsonObject o && !o.isEmpty() ? measure.applyAsLong(o.encode()) : 0;
    }

    /** The UTF-8 bytes of every string in a part (a file's data, its name), without encoding it. */
    private static long stringBytes(Object json) {
        if (json instanceof String text) {
            return utf8Length(text);
        }
        long bytes = 0;
        if (json instanceof JsonObject object) {
            for (var field : object) {
                bytes += stringBytes(field.getValue());
            }
        } else if (json instanceof JsonArray array) {
            for (Object item : array) {
                bytes += stringBytes(item);
            }
        }
        return bytes;
    }
}
