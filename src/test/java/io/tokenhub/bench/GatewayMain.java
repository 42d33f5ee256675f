package io.tokenhub.bench;

import io.tokenhub.TokenHub;
import io.tokenhub.config.ConfigLoader;
import io.tokenhub.config.TokenHubConfig;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * TokenHub in its own process for the benchmark, so that its CPU time and RSS can be read from
 * {@code /proc/<pid>}: {@code GatewayMain <config.yaml> <ready file>}. Writes
 * {@code "<api port> <management port>"} to the ready file once it serves; shuts down gracefully
 * when its stdin closes (the benchmark closes it, or dies).
 */
public final class GatewayMain {

    private GatewayMain() {
    }

    public static void main(String[] args) throws Exception {
        Path configFile = Path.of(args[0]);
        Path ready = Path.of(args[1]);
        TokenHubConfig config = new ConfigLoader(name -> null).parse(Files.readString(configFile), configFile.toString());
        TokenHub hub = TokenHub.start(config);
        Procs.exitWhenStdinCloses(hub::close);
        Procs.writeReady(ready, hub.apiPort() + " " + hub.managementPort());
        System.out.println("TokenHub up: API port " + hub.apiPort() + ", management port " + hub.managementPort());
    }
}
