package io.tokenhub.routing;

import io.tokenhub.config.TokenHubConfig.Deployment;
import io.tokenhub.config.TokenHubConfig.Model;

/** One candidate of a request's route: a catalog model and one of its deployments. */
public record Attempt(Model model, Deployment deployment) {

    public String provider() {
        return deployment.provider();
    }
}
