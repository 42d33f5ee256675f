package io.tokenhub.provider;

import io.tokenhub.config.TokenHubConfig.Provider;
import io.tokenhub.provider.anthropic.AnthropicAdapter;
import io.tokenhub.provider.mock.MockAdapter;
import io.tokenhub.provider.openai.OpenAiAdapter;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;

/** The adapter for a configured provider, using the calling event loop's HTTP client. */
public final class Providers {

    private Providers() {
    }

    public static ProviderAdapter create(Vertx vertx, HttpClient client, Provider p) {
        return switch (p.type()) {
            case "openai" -> new OpenAiAdapter(new HttpUpstream(vertx, client, p));
            case "anthropic" -> new AnthropicAdapter(new HttpUpstream(vertx, client, p));
            case "mock" -> new MockAdapter(vertx, p);
            default -> throw new IllegalArgumentException("unknown provider type " + p.type());
        };
    }
}
