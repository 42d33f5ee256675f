package io.tokenhub.api;

import io.tokenhub.core.ApiError.NotFound;
import io.vertx.core.buffer.Buffer;
import io.vertx.ext.web.RoutingContext;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;

/**
 * The console's three files, read from the jar once and served from memory: nothing on the disk
 * next to the gateway can take their place. Sent with a content security policy that allows
 * only this origin's own script and style, and never in a frame.
 */
final class ConsolePage {

    private record File(Buffer body, String contentType) {
    }

    private static final Map<String, File> FILES = Map.of(
        "", read("index.html", "text/html; charset=utf-8"),
        "index.html", read("index.html", "text/html; charset=utf-8"),
        "console.js", read("console.js", "text/javascript; charset=utf-8"),
        "console.css", read("console.css", "text/css; charset=utf-8"));

    private ConsolePage() {
    }

    /** {@code GET /console/<name>}. */
    static void serve(RoutingContext ctx) {
        String path = ctx.request().path();
        File file = FILES.get(path.substring(path.indexOf("/console/") + "/console/".length()));
        if (file == null) {
            ErrorWriter.write(ctx.response(), new NotFound("No console file at " + path + "."));
            return;
        }
        ctx.response()
            .putHeader("Content-Type", file.contentType())
            .putHeader("Cache-Control", "no-cache")
            .putHeader("Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
            .putHeader("X-Content-Type-Options", "nosniff")
            .putHeader("Referrer-Policy", "no-referrer")
            .end(file.body());
    }

    private static File read(String name, String contentType) {
        try (InputStream in = ConsolePage.class.getClassLoader().getResourceAsStream("console/" + name)) {
            if (in == null) {
                throw new IllegalStateException("console/" + name + " is missing from the jar");
            }
            return new File(Buffer.buffer(in.readAllBytes()), contentType);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
