package dev.tokenpipe.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.tokenpipe.cli.ConfigDefaults;
import dev.tokenpipe.cli.Durations;
import dev.tokenpipe.gateway.GatewayCommand;
import java.io.File;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * Parses deploy/kubernetes/tokenpipe.yaml and checks the fields that decide whether streams
 * survive in a cluster: probes on the right endpoints, a grace period covering the drain,
 * ingress-nginx buffering off, names that line up, and only real `serve` settings in the env.
 */
class KubernetesManifestTest {
  static final Map<String, JsonNode> byKind = new HashMap<>();

  @BeforeAll
  static void load() throws Exception {
    ObjectMapper yaml = new ObjectMapper(new YAMLFactory());
    try (var docs = yaml.readerFor(JsonNode.class).readValues(new File("deploy/kubernetes/tokenpipe.yaml"))) {
      while (docs.hasNext()) {
        JsonNode doc = (JsonNode) docs.next();
        byKind.put(doc.get("kind").asText(), doc);
      }
    }
    assertThat(byKind).containsKeys("ConfigMap", "Deployment", "Service", "Ingress", "PodDisruptionBudget");
  }

  JsonNode container() {
    JsonNode containers = byKind.get("Deployment").at("/spec/template/spec/containers");
    assertThat(containers).hasSize(1);
    return containers.get(0);
  }

  @Test
  void severalReplicasAndADisruptionBudgetThatKeepsMostOfThemServing() {
    JsonNode pdb = byKind.get("PodDisruptionBudget");
    JsonNode podLabels = byKind.get("Deployment").at("/spec/template/metadata/labels");
    pdb.at("/spec/selector/matchLabels").properties()
        .forEach(e -> assertThat(podLabels.get(e.getKey()).asText()).isEqualTo(e.getValue().asText()));
    int replicas = byKind.get("Deployment").at("/spec/replicas").asInt();
    assertThat(replicas).isGreaterThanOrEqualTo(2);
    assertThat(pdb.at("/spec/maxUnavailable").asInt()).isBetween(1, replicas - 1);
    // Balancing needs the model server pods one by one, and the readiness probe reflects their health.
    String upstreams = byKind.get("ConfigMap").at("/data/TOKENPIPE_UPSTREAM").asText();
    assertThat(upstreams.split(",")).hasSizeGreaterThan(1);
    assertThat(byKind.get("ConfigMap").at("/data/TOKENPIPE_HEALTH_CHECK").asText()).startsWith("/");
  }

  @Test
  void probesUseLivenessAndReadinessEndpoints() {
    assertThat(container().at("/readinessProbe/httpGet/path").asText()).isEqualTo("/readyz");
    assertThat(container().at("/livenessProbe/httpGet/path").asText()).isEqualTo("/healthz");
    assertThat(container().at("/readinessProbe/httpGet/port").asText()).isEqualTo(container().at("/ports/0/name").asText());
  }

  @Test
  void gracePeriodCoversPreStopPlusDrainDeadline() {
    long drainSeconds = Durations.parse(byKind.get("ConfigMap").at("/data/TOKENPIPE_DRAIN_TIMEOUT").asText()).toSeconds();
    long preStop = container().at("/lifecycle/preStop/sleep/seconds").asLong();
    long grace = byKind.get("Deployment").at("/spec/template/spec/terminationGracePeriodSeconds").asLong();
    assertThat(grace).isGreaterThan(drainSeconds + preStop);
  }

  @Test
  void runsAsNonRootWithResourceRequests() {
    JsonNode pod = byKind.get("Deployment").at("/spec/template/spec");
    assertThat(pod.at("/securityContext/runAsNonRoot").asBoolean()).isTrue();
    assertThat(pod.at("/securityContext/runAsUser").asInt()).isPositive();
    assertThat(container().at("/resources/requests/cpu").isMissingNode()).isFalse();
    assertThat(container().at("/resources/requests/memory").isMissingNode()).isFalse();
    assertThat(container().at("/args/0").asText()).isEqualTo("serve");
  }

  @Test
  void ingressTurnsOffBufferingAndOutlastsHeartbeats() {
    JsonNode annotations = byKind.get("Ingress").at("/metadata/annotations");
    assertThat(annotations.get("nginx.ingress.kubernetes.io/proxy-buffering").asText()).isEqualTo("off");
    long heartbeat = Durations.parse(byKind.get("ConfigMap").at("/data/TOKENPIPE_HEARTBEAT").asText()).toSeconds();
    assertThat(annotations.get("nginx.ingress.kubernetes.io/proxy-read-timeout").asLong()).isGreaterThan(4 * heartbeat);
    assertThat(byKind.get("Ingress").at("/spec/rules/0/http/paths/0/backend/service/name").asText())
        .isEqualTo(byKind.get("Service").at("/metadata/name").asText());
  }

  @Test
  void serviceSelectsThePodsAndTargetsTheContainerPort() {
    JsonNode svc = byKind.get("Service");
    JsonNode podLabels = byKind.get("Deployment").at("/spec/template/metadata/labels");
    svc.at("/spec/selector").properties().forEach(e -> assertThat(podLabels.get(e.getKey()).asText()).isEqualTo(e.getValue().asText()));
    assertThat(svc.at("/spec/ports/0/targetPort").asText()).isEqualTo(container().at("/ports/0/name").asText());
  }

  @Test
  void everyEnvironmentSettingIsARealServeOption() {
    List<String> known = new CommandLine(new GatewayCommand()).getCommandSpec().options().stream()
        .map(ConfigDefaults::envName).toList();
    byKind.get("ConfigMap").at("/data").fieldNames().forEachRemaining(name -> assertThat(known).contains(name));
    // The one variable that is not an option: the upstream credential, read by name (--upstream-key-env).
    container().at("/env").forEach(e -> assertThat(e.get("name").asText()).isEqualTo("TOKENPIPE_UPSTREAM_KEY"));
  }
}
