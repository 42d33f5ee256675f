package io.tokenhub.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.hazelcast.config.Config;
import com.hazelcast.config.EvictionPolicy;
import com.hazelcast.config.MaxSizePolicy;
import com.hazelcast.config.XmlConfigBuilder;
import io.tokenhub.TokenHub;
import io.tokenhub.api.ApiVerticle;
import io.tokenhub.config.ConfigLoader;
import io.tokenhub.config.TokenHubConfig;
import io.tokenhub.testing.TestGateway;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * The manifests in {@code k8s/} as an operator applies them: they parse, their ports, paths, names
 * and labels agree with each other and with the embedded {@code tokenhub.yaml} and
 * {@code cluster.xml}, the shutdown budget fits the grace period, and the probe paths answer on a
 * running gateway.
 */
class KubernetesManifestsTest {

    private static final Path K8S = Path.of("k8s");
    private static final Path TOP_LEVEL_CLUSTER_XML = Path.of("cluster.xml");
    private static final String HAZELCAST_NS = "http://www.hazelcast.com/schema/config";
    private static final List<String> VERTX_STRUCTURES = List.of("__vertx.subs", "__vertx.haInfo", "__vertx.nodeInfo");
    private static final String POD_IP = "10.1.2.3";
    /** Kinds without a namespace. */
    private static final List<String> CLUSTER_SCOPED = List.of("Namespace", "ClusterRole", "ClusterRoleBinding");

    private static final YAMLMapper YAML = new YAMLMapper();

    private static final List<Manifest> manifests = new ArrayList<>();

    /** One YAML document of one file. */
    record Manifest(Path file, JsonNode doc) {
        String kind() {
            return doc.path("kind").asText();
        }

        String name() {
            return doc.path("metadata").path("name").asText();
        }
    }

    @BeforeAll
    static void readManifests() throws IOException {
        try (Stream<Path> files = Files.list(K8S)) {
            for (Path file : files.sorted().toList()) {
                try (var docs = YAML.readerFor(JsonNode.class).<JsonNode>readValues(file.toFile())) {
                    docs.readAll().forEach(doc -> manifests.add(new Manifest(file, doc)));
                }
            }
        }
    }

    // ---------------------------------------------------------------- every document

    @Test
    void everyFileIsYamlAndEveryDocumentNamesItsApiVersionKindAndName() throws IOException {
        try (Stream<Path> files = Files.list(K8S)) {
            assertThat(files.map(f -> f.getFileName().toString()))
                .as("kubectl apply -f k8s/ only reads .yaml/.yml/.json files")
                .allMatch(name -> name.endsWith(".yaml"));
        }
        assertThat(manifests).hasSizeGreaterThanOrEqualTo(12);
        for (Manifest m : manifests) {
            assertThat(m.doc().isObject()).as(m.file() + ": a mapping").isTrue();
            assertThat(m.doc().path("apiVersion").asText()).as(m.file() + ": apiVersion").isNotBlank();
            assertThat(m.kind()).as(m.file() + ": kind").isNotBlank();
            assertThat(m.name()).as(m.file() + ": metadata.name").isNotBlank();
        }
        assertThat(manifests).extracting(m -> m.kind() + "/" + m.name()).doesNotHaveDuplicates();
    }

    @Test
    void namespacedResourcesAllLiveInTheNamespaceTheManifestsCreate() {
        Manifest namespace = only("Namespace");
        assertThat(namespace.file().getFileName().toString())
            .as("sorts first, so kubectl creates the namespace before what goes in it")
            .isEqualTo(fileNamesSorted().get(0));
        for (Manifest m : manifests) {
            if (!CLUSTER_SCOPED.contains(m.kind())) {
                assertThat(m.doc().path("metadata").path("namespace").asText())
                    .as(m.kind() + "/" + m.name()).isEqualTo(namespace.name());
            }
        }
    }

    // ---------------------------------------------------------------- the embedded tokenhub.yaml

    @Test
    void embeddedConfigurationIsAcceptedWithThePodsEnvironmentAndEnablesTheCluster() {
        String yaml = configMapEntry("tokenhub.yaml");

        // Only what the pod really has: variables without a default that the Deployment does not set fail.
        assertThatCode(() -> new ConfigLoader(podEnvironment()::get).parse(yaml, "k8s tokenhub.yaml"))
            .doesNotThrowAnyException();
        TokenHubConfig config = embeddedConfig();
        assertThat(config.cluster().enabled()).isTrue();
        assertThat(config.storage().embeddedPostgres()).as("several replicas share one PostgreSQL").isFalse();
        assertThat(config.storage().redis()).as("a cluster needs shared counters").isNotEqualTo("none");
        assertThat(config.admin().bootstrap()).isFalse();
        assertThat(config.providers()).extracting(TokenHubConfig.Provider::id).contains("mock");
    }

    @Test
    void configurationAndClusterFilesArePassedAtTheirMountedPaths() {
        JsonNode container = container();
        String mountPath = configMountPath();

        assertThat(args(container)).containsExactly("--config", mountPath + "/tokenhub.yaml");
        assertThat(embeddedConfig().cluster().config()).isEqualTo(mountPath + "/cluster.xml");
        JsonNode items = configVolume().path("configMap").path("items");
        assertThat(items.findValuesAsText("key")).contains("tokenhub.yaml", "cluster.xml");
    }

    // ---------------------------------------------------------------- Deployment

    @Test
    void containerPortsAreTheConfiguredPorts() {
        TokenHubConfig config = embeddedConfig();

        assertThat(containerPort("http")).isEqualTo(config.server().port());
        assertThat(containerPort("management")).isEqualTo(config.server().managementPort());
        assertThat(containerPort("hazelcast")).isEqualTo(k8sClusterConfig().getNetworkConfig().getPort());
        assertThat(String.valueOf(containerPort("eventbus"))).isEqualTo(podEnvironment().get("TOKENHUB_CLUSTER_PORT"));
    }

    @Test
    void eventBusAdvertisesThePodIp() {
        JsonNode host = env(container(), "TOKENHUB_CLUSTER_HOST");
        assertThat(host.path("valueFrom").path("fieldRef").path("fieldPath").asText()).isEqualTo("status.podIP");
        assertThat(env(container(), "TOKENHUB_CLUSTER_PORT").path("value").asText()).isEqualTo("41000");
    }

    @Test
    void probesAskTheManagementPortOnTheHealthPaths() {
        JsonNode c = container();
        int management = embeddedConfig().server().managementPort();

        assertThat(probePath(c, "readinessProbe")).isEqualTo("/health/ready");
        assertThat(probePath(c, "livenessProbe")).isEqualTo("/health/live");
        assertThat(probePath(c, "startupProbe")).isIn("/health/live", "/health/ready");
        for (String probe : List.of("readinessProbe", "livenessProbe", "startupProbe")) {
            assertThat(resolvePort(c.path(probe).path("httpGet").path("port"))).as(probe).isEqualTo(management);
        }
    }

    @Test
    void terminationGraceCoversPreStopDrainAndLeavingTheCluster() {
        JsonNode podSpec = podSpec();
        long graceMs = podSpec.path("terminationGracePeriodSeconds").asLong() * 1000;
        long shutdownGraceMs = embeddedConfig().server().shutdownGraceMs();
        List<String> preStop = texts(container().path("lifecycle").path("preStop").path("exec").path("command"));
        assertThat(preStop).hasSize(2).first().isEqualTo("sleep");
        long preStopMs = Long.parseLong(preStop.get(1)) * 1000;
        long hazelcastLeaveMs = Long.parseLong(
            k8sClusterConfig().getProperty("hazelcast.graceful.shutdown.max.wait")) * 1000;

        assertThat(preStopMs).isBetween(1_000L, 15_000L);
        assertThat(graceMs).isGreaterThan(shutdownGraceMs);
        assertThat(graceMs).isGreaterThan(preStopMs + shutdownGraceMs + ApiVerticle.RECORD_WAIT_MS
            + TokenHub.SHARES_RETURN_MS + hazelcastLeaveMs);
    }

    @Test
    void deploymentRunsTheImageThePomBuilds() throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        Document pom = factory.newDocumentBuilder().parse(Path.of("pom.xml").toFile());
        NodeList profiles = pom.getElementsByTagName("profile");
        String image = null;
        for (int i = 0; i < profiles.getLength(); i++) {
            Element profile = (Element) profiles.item(i);
            if (profile.getElementsByTagName("id").item(0).getTextContent().trim().equals("image")) {
                image = profile.getElementsByTagName("image").item(0).getTextContent().trim();
            }
        }

        assertThat(image).as("<image> of the pom's image profile").isNotNull();
        assertThat(container().path("image").asText()).isEqualTo(image);
    }

    @Test
    void javaToolOptionsCarryHazelcastsJdk17FlagsInAFormTheJvmAccepts() throws Exception {
        List<String> options = javaToolOptions();
        assertThat(options).contains(
            "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED",
            "--add-opens=java.base/java.lang=ALL-UNNAMED",
            "--add-opens=java.base/java.nio=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
            "--add-opens=java.management/sun.management=ALL-UNNAMED",
            "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED");
        String maxHeap = options.stream().filter(o -> o.startsWith("-XX:MaxRAMPercentage=")).findFirst().orElse(null);
        assertThat(maxHeap).as("-XX:MaxRAMPercentage").isNotNull();
        // The heap starts at its maximum: a G1 heap left to shrink marks back to back (README, Performance).
        assertThat(options).contains(maxHeap.replace("MaxRAMPercentage", "InitialRAMPercentage"));
        // Chosen, not left to the JVM: under a 1Gi limit it would pick the serial collector.
        assertThat(options).contains("-XX:+UseG1GC");

        // JAVA_TOOL_OPTIONS bypasses the launcher: "--add-opens x" (with a space) is refused there.
        ProcessBuilder java = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "-version").redirectErrorStream(true);
        java.environment().put("JAVA_TOOL_OPTIONS", String.join(" ", options));
        Process process = java.start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).as(output).isZero();
        assertThat(output).doesNotContain("WARNING", "Unrecognized option", "Error:");
    }

    @Test
    void podRunsNonRootOnAReadOnlyRootWithWritableDataAndTmp() {
        JsonNode podSpec = podSpec();
        JsonNode c = container();

        assertThat(podSpec.path("securityContext").path("runAsNonRoot").asBoolean()).isTrue();
        assertThat(c.path("securityContext").path("readOnlyRootFilesystem").asBoolean()).isTrue();
        assertThat(c.path("securityContext").path("allowPrivilegeEscalation").asBoolean(true)).isFalse();
        assertThat(emptyDirMountPaths()).contains(embeddedConfig().storage().dataDir(), "/tmp");
        JsonNode resources = c.path("resources");
        assertThat(resources.path("requests").path("cpu").asText()).isEqualTo("1");
        assertThat(resources.path("limits").path("cpu").asText()).isEqualTo("2");
        assertThat(resources.path("requests").path("memory").asText()).isEqualTo("1Gi");
        assertThat(resources.path("limits").path("memory").asText()).isEqualTo("1Gi");
        assertThat(deployment().path("spec").path("replicas").asInt()).isEqualTo(3);
        assertThat(podSpec.path("topologySpreadConstraints").findValuesAsText("topologyKey"))
            .contains("kubernetes.io/hostname");
    }

    @Test
    void prometheusScrapesTheManagementPortOnMetrics() {
        JsonNode annotations = deployment().path("spec").path("template").path("metadata").path("annotations");
        int management = embeddedConfig().server().managementPort();
        assertThat(annotations.path("prometheus.io/scrape").asText()).isEqualTo("true");
        assertThat(annotations.path("prometheus.io/port").asText()).isEqualTo(String.valueOf(management));
        assertThat(annotations.path("prometheus.io/path").asText()).isEqualTo("/metrics");

        JsonNode monitor = only("ServiceMonitor").doc().path("spec");
        JsonNode service = selectedService(monitor.path("selector").path("matchLabels"));
        JsonNode endpoint = monitor.path("endpoints").get(0);
        assertThat(endpoint.path("path").asText()).isEqualTo("/metrics");
        assertThat(resolvePort(servicePort(service, endpoint.path("port").asText()).path("targetPort")))
            .isEqualTo(management);
    }

    // ---------------------------------------------------------------- Services, HPA, PDB, RBAC, Secret

    @Test
    void apiServiceSendsPort80ToTheHttpContainerPort() {
        JsonNode api = service("tokenhub").path("spec");
        assertThat(api.path("type").asText("ClusterIP")).isEqualTo("ClusterIP");
        JsonNode port = api.path("ports").get(0);
        assertThat(port.path("port").asInt()).isEqualTo(80);
        assertThat(resolvePort(port.path("targetPort"))).isEqualTo(embeddedConfig().server().port());
    }

    @Test
    void headlessServiceExposesHazelcastIncludingPodsNotReadyYet() {
        JsonNode headless = headlessService().path("spec");
        assertThat(headless.path("publishNotReadyAddresses").asBoolean()).isTrue();
        assertThat(headless.path("ports")).hasSize(1);
        JsonNode port = headless.path("ports").get(0);
        assertThat(port.path("port").asInt()).isEqualTo(containerPort("hazelcast")).isEqualTo(5701);
        assertThat(resolvePort(port.path("targetPort"))).isEqualTo(containerPort("hazelcast"));
    }

    @Test
    void everyServiceSelectsTheDeploymentsPods() {
        for (Manifest m : all("Service")) {
            assertThat(podLabels()).as(m.name()).containsAllEntriesOf(stringMap(m.doc().path("spec").path("selector")));
            assertThat(m.doc().path("spec").path("selector").isEmpty()).as(m.name()).isFalse();
        }
    }

    @Test
    void onlyTheGatewaysOwnPodsReachItsClusterPortsWhileTheApiAndManagementPortsStayOpen() {
        JsonNode policy = only("NetworkPolicy").doc().path("spec");
        assertThat(podLabels()).containsAllEntriesOf(stringMap(policy.path("podSelector").path("matchLabels")));
        assertThat(policy.path("policyTypes").toString()).contains("Ingress");
        Map<String, JsonNode> fromByPort = new HashMap<>();
        for (JsonNode rule : policy.path("ingress")) {
            for (JsonNode port : rule.path("ports")) {
                // A named port must be one of the container's, else it admits nothing.
                assertThat(containerPort(port.path("port").asText())).as(port.toString()).isPositive();
                fromByPort.put(port.path("port").asText(), rule.path("from"));
            }
        }
        assertThat(fromByPort).containsOnlyKeys("http", "management", "hazelcast", "eventbus");
        assertThat(fromByPort.get("http").isMissingNode()).as("the API from anywhere").isTrue();
        assertThat(fromByPort.get("management").isMissingNode()).as("probes and Prometheus from anywhere").isTrue();
        for (String cluster : List.of("hazelcast", "eventbus")) {
            JsonNode from = fromByPort.get(cluster);
            assertThat(from).as(cluster).hasSize(1);
            assertThat(from.get(0).path("namespaceSelector").isMissingNode()).as(cluster + ": this namespace only")
                .isTrue();
            assertThat(stringMap(from.get(0).path("podSelector").path("matchLabels"))).as(cluster)
                .isEqualTo(stringMap(policy.path("podSelector").path("matchLabels")));
        }
    }

    @Test
    void hpaScalesTheDeploymentOnCpuAndPdbCoversItsPods() {
        JsonNode hpa = only("HorizontalPodAutoscaler").doc();
        assertThat(hpa.path("apiVersion").asText()).isEqualTo("autoscaling/v2");
        JsonNode target = hpa.path("spec").path("scaleTargetRef");
        assertThat(target.path("kind").asText()).isEqualTo("Deployment");
        assertThat(target.path("name").asText()).isEqualTo(only("Deployment").name());
        assertThat(hpa.path("spec").path("minReplicas").asInt()).isEqualTo(3);
        assertThat(hpa.path("spec").path("maxReplicas").asInt()).isEqualTo(10);
        JsonNode cpu = hpa.path("spec").path("metrics").get(0).path("resource");
        assertThat(cpu.path("name").asText()).isEqualTo("cpu");
        assertThat(cpu.path("target").path("averageUtilization").asInt()).isEqualTo(70);

        JsonNode pdb = only("PodDisruptionBudget").doc().path("spec");
        Map<String, String> pdbSelector = stringMap(pdb.path("selector").path("matchLabels"));
        assertThat(pdbSelector).isEqualTo(stringMap(deployment().path("spec").path("selector").path("matchLabels")));
        assertThat(podLabels()).containsAllEntriesOf(pdbSelector);
        // At most one member at a time, which Hazelcast's single backup survives.
        if (pdb.has("maxUnavailable")) {
            assertThat(pdb.path("maxUnavailable").asInt()).isEqualTo(1);
        } else {
            assertThat(pdb.path("minAvailable").asInt()).isEqualTo(hpa.path("spec").path("minReplicas").asInt() - 1);
        }
    }

    @Test
    void secretHoldsEveryKeyTheDeploymentTakesFromIt() {
        Manifest secret = only("Secret");
        assertThat(secret.doc().path("type").asText()).isEqualTo("Opaque");
        Map<String, String> data = stringMap(secret.doc().path("stringData"));
        List<JsonNode> refs = secretRefs();

        assertThat(refs).isNotEmpty();
        for (JsonNode ref : refs) {
            assertThat(ref.path("name").asText()).isEqualTo(secret.name());
            assertThat(data).containsKey(ref.path("key").asText());
        }
        assertThat(refs).extracting(r -> r.path("key").asText())
            .contains("TOKENHUB_MASTER_KEY", "TOKENHUB_PG_URL", "TOKENHUB_REDIS_URL");
    }

    @Test
    void roleLetsThePodsServiceAccountReadWhatHazelcastDiscoveryNeeds() {
        JsonNode role = only("Role").doc();
        JsonNode binding = only("RoleBinding").doc();
        String account = podSpec().path("serviceAccountName").asText();
        assertThat(byKind("ServiceAccount")).extracting(Manifest::name).contains(account);

        JsonNode core = null;
        for (JsonNode rule : role.path("rules")) {
            if (texts(rule.path("apiGroups")).contains("")) {
                core = rule;
            }
        }
        assertThat(core).as("a rule for the core API group").isNotNull();
        assertThat(texts(core.path("resources"))).contains("endpoints", "pods", "services");
        assertThat(texts(core.path("verbs"))).contains("get", "list", "watch");

        assertThat(binding.path("roleRef").path("kind").asText()).isEqualTo("Role");
        assertThat(binding.path("roleRef").path("name").asText()).isEqualTo(role.path("metadata").path("name").asText());
        JsonNode subject = binding.path("subjects").get(0);
        assertThat(subject.path("kind").asText()).isEqualTo("ServiceAccount");
        assertThat(subject.path("name").asText()).isEqualTo(account);
        assertThat(subject.path("namespace").asText()).isEqualTo(only("Namespace").name());
    }

    // ---------------------------------------------------------------- cluster.xml, both variants

    @Test
    void kubernetesClusterXmlDiscoversMembersThroughTheHeadlessService() throws Exception {
        Document xml = parseXml(configMapEntry("cluster.xml"));
        Element join = single(xml.getDocumentElement(), "join");

        assertThat(single(join, "multicast").getAttribute("enabled")).isEqualTo("false");
        assertThat(single(join, "tcp-ip").getAttribute("enabled")).isEqualTo("false");
        Element kubernetes = single(join, "kubernetes");
        assertThat(kubernetes.getAttribute("enabled")).isEqualTo("true");
        assertThat(text(kubernetes, "service-name")).isEqualTo(headlessService().path("metadata").path("name").asText());
        assertThat(text(kubernetes, "namespace")).isEqualTo(only("Namespace").name());
        assertThat(structureNames(xml)).containsAll(VERTX_STRUCTURES).contains("tokenhub.limits");

        // Hazelcast itself accepts it (schema-validated) and reads the same discovery settings.
        Config config = k8sClusterConfig();
        var discovery = config.getNetworkConfig().getJoin().getKubernetesConfig();
        assertThat(discovery.isEnabled()).isTrue();
        assertThat(discovery.getProperty("service-name")).isEqualTo(text(kubernetes, "service-name"));
        assertThat(config.getNetworkConfig().getJoin().getTcpIpConfig().isEnabled()).isFalse();
        assertThat(config.getNetworkConfig().getJoin().getMulticastConfig().isEnabled()).isFalse();
    }

    @Test
    void kubernetesClusterXmlKeepsTheTopLevelDataStructures() {
        Config local = topLevelClusterConfig();
        Config kubernetes = k8sClusterConfig();

        assertThat(kubernetes.getClusterName()).isEqualTo(local.getClusterName());
        assertThat(kubernetes.getMapConfigs()).isEqualTo(local.getMapConfigs());
        assertThat(kubernetes.getMultiMapConfigs()).isEqualTo(local.getMultiMapConfigs());
    }

    @Test
    void rateLimitWindowsKeepABackupInBothClusterXmlVariants() {
        // Without one, a member that dies takes the windows it owns with it and the survivors start
        // counting from zero (MemberLossIT shows the limit holding with it).
        assertThat(topLevelClusterConfig().getMapConfig("tokenhub.limits").getBackupCount()).isGreaterThanOrEqualTo(1);
        assertThat(k8sClusterConfig().getMapConfig("tokenhub.limits").getBackupCount()).isGreaterThanOrEqualTo(1);
    }

    @Test
    void signInWindowsAreBoundedAndExpireInBothClusterXmlVariants() {
        // Their names come from whatever email is tried: a flood of them must not fill the members' memory.
        for (Config config : List.of(topLevelClusterConfig(), k8sClusterConfig())) {
            var signIns = config.getMapConfig("tokenhub.signins");
            assertThat(signIns.getEvictionConfig().getEvictionPolicy()).isEqualTo(EvictionPolicy.LRU);
            assertThat(signIns.getEvictionConfig().getMaxSizePolicy()).isEqualTo(MaxSizePolicy.PER_NODE);
            assertThat(signIns.getEvictionConfig().getSize()).isEqualTo(100_000);
            assertThat(signIns.getTimeToLiveSeconds()).isBetween(120, 600);
            assertThat(signIns.getBackupCount()).isGreaterThanOrEqualTo(1);
        }
    }

    @Test
    void topLevelClusterXmlIsWellFormedWithTheVertxStructures() throws Exception {
        Document xml = parseXml(Files.readString(TOP_LEVEL_CLUSTER_XML));

        assertThat(structureNames(xml)).containsAll(VERTX_STRUCTURES).contains("tokenhub.limits");
        Config config = topLevelClusterConfig();
        assertThat(config.getMultiMapConfigs()).containsKey("__vertx.subs");
        assertThat(config.getMapConfigs()).containsKeys("__vertx.haInfo", "__vertx.nodeInfo", "tokenhub.limits");
    }

    // ---------------------------------------------------------------- probes against a real gateway

    @Test
    void probePathsAnswer200OnARunningGatewaysManagementPort() {
        JsonNode c = container();
        String ready = probePath(c, "readinessProbe");
        String live = probePath(c, "livenessProbe");
        String startup = probePath(c, "startupProbe");

        try (TestGateway gateway = TestGateway.start("""
            providers:
              - { id: mock, type: mock }
            models:
              - id: probe-model
                deployments: [ { provider: mock, model: m1 } ]
            """, "")) {
            // Readiness follows a background database probe: it turns 200 within a second or so.
            TestGateway.eventually(() -> status(gateway, ready) == 200, 10_000, ready + " answers 200");
            assertThat(status(gateway, live)).isEqualTo(200);
            assertThat(status(gateway, startup)).isEqualTo(200);
            assertThat(status(gateway, "/metrics")).isEqualTo(200);
        }
    }

    private static int status(TestGateway gateway, String path) {
        return gateway.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl(path))).GET()).statusCode();
    }

    // ---------------------------------------------------------------- helpers

    private static List<String> fileNamesSorted() {
        return manifests.stream().map(m -> m.file().getFileName().toString()).distinct().sorted().toList();
    }

    private static List<Manifest> byKind(String kind) {
        return manifests.stream().filter(m -> m.kind().equals(kind)).toList();
    }

    private static List<Manifest> all(String kind) {
        List<Manifest> found = byKind(kind);
        assertThat(found).as("%s documents", kind).isNotEmpty();
        return found;
    }

    private static Manifest only(String kind) {
        List<Manifest> found = byKind(kind);
        assertThat(found).as("exactly one %s", kind).hasSize(1);
        return found.get(0);
    }

    private static JsonNode deployment() {
        return only("Deployment").doc();
    }

    private static JsonNode podSpec() {
        return deployment().path("spec").path("template").path("spec");
    }

    private static JsonNode container() {
        JsonNode containers = podSpec().path("containers");
        assertThat(containers).hasSize(1);
        return containers.get(0);
    }

    private static Map<String, String> podLabels() {
        return stringMap(deployment().path("spec").path("template").path("metadata").path("labels"));
    }

    private static Map<String, String> stringMap(JsonNode mapping) {
        Map<String, String> out = new HashMap<>();
        mapping.fields().forEachRemaining(e -> out.put(e.getKey(), e.getValue().asText()));
        return out;
    }

    private static JsonNode service(String name) {
        return all("Service").stream().filter(m -> m.name().equals(name)).findFirst()
            .orElseThrow(() -> new AssertionError("no Service " + name)).doc();
    }

    private static JsonNode headlessService() {
        List<Manifest> headless = byKind("Service").stream()
            .filter(m -> m.doc().path("spec").path("clusterIP").asText().equals("None")).toList();
        assertThat(headless).as("exactly one headless Service").hasSize(1);
        return headless.get(0).doc();
    }

    private static JsonNode selectedService(JsonNode matchLabels) {
        Map<String, String> wanted = stringMap(matchLabels);
        List<Manifest> selected = byKind("Service").stream()
            .filter(m -> stringMap(m.doc().path("metadata").path("labels")).entrySet().containsAll(wanted.entrySet()))
            .toList();
        assertThat(selected).as("Services the ServiceMonitor selects").hasSize(1);
        return selected.get(0).doc();
    }

    private static JsonNode servicePort(JsonNode service, String name) {
        for (JsonNode port : service.path("spec").path("ports")) {
            if (port.path("name").asText().equals(name)) {
                return port;
            }
        }
        throw new AssertionError("no port " + name + " on Service " + service.path("metadata").path("name").asText());
    }

    private static int containerPort(String name) {
        for (JsonNode port : container().path("ports")) {
            if (port.path("name").asText().equals(name)) {
                return port.path("containerPort").asInt();
            }
        }
        throw new AssertionError("no container port named " + name);
    }

    /** A port given by number or by container port name, as Kubernetes resolves it. */
    private static int resolvePort(JsonNode port) {
        assertThat(port.isMissingNode()).as("a port is given").isFalse();
        return port.isInt() ? port.asInt() : containerPort(port.asText());
    }

    private static String probePath(JsonNode c, String probe) {
        return c.path(probe).path("httpGet").path("path").asText();
    }

    private static List<String> args(JsonNode c) {
        return texts(c.path("args"));
    }

    private static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    private static JsonNode env(JsonNode c, String name) {
        for (JsonNode e : c.path("env")) {
            if (e.path("name").asText().equals(name)) {
                return e;
            }
        }
        throw new AssertionError("no env " + name);
    }

    private static List<String> javaToolOptions() {
        return Arrays.asList(env(container(), "JAVA_TOOL_OPTIONS").path("value").asText().trim().split("\\s+"));
    }

    private static List<JsonNode> secretRefs() {
        List<JsonNode> refs = new ArrayList<>();
        for (JsonNode e : container().path("env")) {
            JsonNode ref = e.path("valueFrom").path("secretKeyRef");
            if (!ref.isMissingNode()) {
                refs.add(ref);
            }
        }
        for (JsonNode from : container().path("envFrom")) {
            assertThat(from.has("secretRef")).as("envFrom secretRef would hide which keys are needed").isFalse();
        }
        return refs;
    }

    /** The environment a pod gets: literal values, Secret values, the pod IP. */
    private static Map<String, String> podEnvironment() {
        Map<String, String> secret = stringMap(only("Secret").doc().path("stringData"));
        Map<String, String> env = new HashMap<>();
        for (JsonNode e : container().path("env")) {
            JsonNode from = e.path("valueFrom");
            String value;
            if (from.has("secretKeyRef")) {
                value = secret.get(from.path("secretKeyRef").path("key").asText());
            } else if (from.path("fieldRef").path("fieldPath").asText().equals("status.podIP")) {
                value = POD_IP;
            } else {
                value = e.path("value").asText();
            }
            env.put(e.path("name").asText(), value);
        }
        return env;
    }

    private static String configMapEntry(String key) {
        String value = only("ConfigMap").doc().path("data").path(key).asText();
        assertThat(value).as("ConfigMap entry " + key).isNotBlank();
        return value;
    }

    private static TokenHubConfig embeddedConfig() {
        return new ConfigLoader(podEnvironment()::get).parse(configMapEntry("tokenhub.yaml"), "k8s tokenhub.yaml");
    }

    private static JsonNode configVolume() {
        String configMap = only("ConfigMap").name();
        for (JsonNode volume : podSpec().path("volumes")) {
            if (volume.path("configMap").path("name").asText().equals(configMap)) {
                return volume;
            }
        }
        throw new AssertionError("no volume of ConfigMap " + configMap);
    }

    private static String configMountPath() {
        return mountPathOf(configVolume().path("name").asText());
    }

    private static String mountPathOf(String volume) {
        for (JsonNode mount : container().path("volumeMounts")) {
            if (mount.path("name").asText().equals(volume)) {
                return mount.path("mountPath").asText();
            }
        }
        throw new AssertionError("volume " + volume + " is not mounted");
    }

    private static List<String> emptyDirMountPaths() {
        List<String> paths = new ArrayList<>();
        for (JsonNode volume : podSpec().path("volumes")) {
            if (volume.has("emptyDir")) {
                paths.add(mountPathOf(volume.path("name").asText()));
            }
        }
        return paths;
    }

    // ---------------------------------------------------------------- XML

    private static Document parseXml(String text) throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        return factory.newDocumentBuilder().parse(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)));
    }

    private static Element single(Element parent, String localName) {
        NodeList found = parent.getElementsByTagNameNS(HAZELCAST_NS, localName);
        assertThat(found.getLength()).as("<%s> elements", localName).isEqualTo(1);
        return (Element) found.item(0);
    }

    private static String text(Element parent, String localName) {
        return single(parent, localName).getTextContent().trim();
    }

    /** Names of the top-level maps and multimaps. */
    private static List<String> structureNames(Document xml) {
        List<String> names = new ArrayList<>();
        for (String element : List.of("map", "multimap")) {
            NodeList found = xml.getDocumentElement().getElementsByTagNameNS(HAZELCAST_NS, element);
            for (int i = 0; i < found.getLength(); i++) {
                names.add(((Element) found.item(i)).getAttribute("name"));
            }
        }
        return names;
    }

    private static Config k8sClusterConfig() {
        return hazelcastConfig(configMapEntry("cluster.xml"));
    }

    private static Config topLevelClusterConfig() {
        try {
            return hazelcastConfig(Files.readString(TOP_LEVEL_CLUSTER_XML));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static Config hazelcastConfig(String xml) {
        return new XmlConfigBuilder(new ByteArrayInputStream(xml.getBytes(StandardCharsets.UTF_8))).build();
    }
}
