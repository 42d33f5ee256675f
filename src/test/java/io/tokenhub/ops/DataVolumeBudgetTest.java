package io.tokenhub.ops;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.tokenhub.config.ConfigLoader;
import io.tokenhub.config.TokenHubConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * k8s/deployment.yaml puts {@code storage.data_dir} on an {@code emptyDir} with a {@code sizeLimit};
 * a pod whose emptyDir goes over it is evicted by the kubelet, and the emptyDir (the spooled and
 * journaled usage records, i.e. unbilled money) is deleted with it. The data directory holds the spool
 * ({@code data_dir/spool}, at most {@code accounting.spool_max_bytes}) AND the journal
 * ({@code data_dir/journal}, bounded separately by the same {@code spool_max_bytes}: Journal's
 * maxBytes in AccountingVerticle.start). During a long PostgreSQL outage both fill up, and a container
 * restarted meanwhile hands its journal to the spool and starts a new one; the limit must hold all
 * three, with room for file-system overhead.
 */
class DataVolumeBudgetTest {

    private static final YAMLMapper YAML = new YAMLMapper();

    @Test
    void theDataVolumeHoldsAFullSpoolAndAFullJournalWithRoomToSpare() throws Exception {
        List<JsonNode> docs = new ArrayList<>();
        for (String file : List.of("k8s/deployment.yaml", "k8s/configmap.yaml")) {
            try (var read = YAML.readerFor(JsonNode.class).<JsonNode>readValues(Path.of(file).toFile())) {
                docs.addAll(read.readAll());
            }
        }
        JsonNode deployment = docs.stream().filter(d -> "Deployment".equals(d.path("kind").asText())).findFirst()
            .orElseThrow();
        JsonNode configMap = docs.stream().filter(d -> "ConfigMap".equals(d.path("kind").asText())).findFirst()
            .orElseThrow();
        JsonNode dataVolume = null;
        for (JsonNode volume : deployment.path("spec").path("template").path("spec").path("volumes")) {
            if ("data".equals(volume.path("name").asText())) {
                dataVolume = volume;
            }
        }
        assertThat(dataVolume).as("the data volume").isNotNull();
        long sizeLimit = bytes(dataVolume.path("emptyDir").path("sizeLimit").asText());

        Map<String, String> env = Map.of("TOKENHUB_MASTER_KEY", "k8s-master-key-0123456789",
            "TOKENHUB_PG_URL", "postgresql://u:p@db:5432/tokenhub", "TOKENHUB_REDIS_URL", "redis://redis:6379",
            "OPENAI_API_KEY", "x", "DEEPSEEK_API_KEY", "x", "ANTHROPIC_API_KEY", "x");
        TokenHubConfig config = new ConfigLoader(env::get).parse(configMap.path("data").path("tokenhub.yaml").asText(),
            "k8s/configmap.yaml");
        long spoolMax = config.accounting().spoolMaxBytes();
        assertThat(config.storage().dataDir()).isEqualTo("/app/data");
        assertThat(config.accounting().journal()).as("journal on (the default)").isTrue();

        // spool + journal, each up to spool_max_bytes, and after a container restart during the outage the
        // old journal handed to the spool beside a new journal; a tenth of each for blocks, directories
        // and .bad files
        long needed = 3 * spoolMax + 3 * spoolMax / 10;
        assertThat(sizeLimit).as("emptyDir sizeLimit of the data volume (spool_max_bytes = %d)", spoolMax)
            .isGreaterThanOrEqualTo(needed);
    }

    private static long bytes(String quantity) {
        if (quantity.endsWith("Gi")) {
            return Long.parseLong(quantity.substring(0, quantity.length() - 2)) << 30;
        }
        if (quantity.endsWith("Mi")) {
            return Long.parseLong(quantity.substring(0, quantity.length() - 2)) << 20;
        }
        return Long.parseLong(quantity);
    }
}
