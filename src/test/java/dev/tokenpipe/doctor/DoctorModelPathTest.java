package dev.tokenpipe.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.gateway.GatewayConfig;
import dev.tokenpipe.gateway.GatewayServer;
import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.SimServer;
import dev.tokenpipe.sim.StreamProfile;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Doctor's default run measures the model path with real streaming requests and uses the probe route only to
 * localize: a sim that groups tokens (burst) or flushes all streams together (group commit) is BUFFERED with the
 * model side named, directly and through {@code serve} (whose own probe is clean); through a {@code serve} whose
 * upstream is down, or with a wrong key, the model path cannot stream and the answer is exit 2 with the reason,
 * never CLEAN.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DoctorModelPathTest {
  static SimServer groupCommit;
  static SimServer burst;
  static GatewayServer serveGroupCommit;
  static GatewayServer serveBurst;
  static GatewayServer serveDown;
  static GatewayServer serveDownNoComment;
  static GatewayServer serveKeyed;

  @BeforeAll
  static void start() throws Exception {
    StreamProfile base = SimConfig.defaults().defaultProfile();
    groupCommit = SimServer.start(SimConfig.defaults().withProfile(
        base.with(StreamProfile.parseOverrides("ttft=20ms itl=20ms tokens=64 group_commit=100ms"))), "127.0.0.1", 0);
    burst = SimServer.start(SimConfig.defaults().withProfile(
        base.with(StreamProfile.parseOverrides("ttft=20ms itl=15ms tokens=100 burst=8"))), "127.0.0.1", 0);
    serveGroupCommit = serve(groupCommit.port());
    serveBurst = serve(burst.port());
    // --head-wait 0: the head went out before the upstream failed, so the error can only be in-band.
    serveDown = GatewayServer.start(GatewayConfig.defaults().withPort(0)
        .withUpstreams(List.of("http://127.0.0.1:" + ProxyProcess.freePort())).withHeartbeat(Duration.ofSeconds(15), Duration.ZERO));
    serveDownNoComment = GatewayServer.start(GatewayConfig.defaults().withPort(0)
        .withUpstreams(List.of("http://127.0.0.1:" + ProxyProcess.freePort())).withHeartbeat(Duration.ofSeconds(15), Duration.ofSeconds(10)));
    serveKeyed = GatewayServer.start(GatewayConfig.defaults().withPort(0)
        .withUpstreams(List.of("http://127.0.0.1:" + burst.port())).withAuth(Set.of("sk-doctor"), null));
  }

  static GatewayServer serve(int upstreamPort) {
    return GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of("http://127.0.0.1:" + upstreamPort))
        .withConnectTimeout(Duration.ofSeconds(2)));
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {serveGroupCommit, serveBurst, serveDown, serveDownNoComment, serveKeyed, groupCommit, burst}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception ignored) {
        // best effort
      }
    }
  }

  static String url(int port) {
    return "http://127.0.0.1:" + port + "/v1/chat/completions";
  }

  @Test
  void simGroupCommitIsBufferedOnTheModelSide() throws Exception {
    DoctorRun run = DoctorRun.run("--probe-count", "30", url(groupCommit.port()));

    assertModelSideHolding(run, "sim");
    assertThat(run.findingIds()).containsAnyOf("group-commit", "clock-bursts");
  }

  @Test
  void simBurstIsTokenGroupsOnTheModelSide() throws Exception {
    DoctorRun run = DoctorRun.run("--probe-count", "30", "--max-tokens", "100", url(burst.port()));

    assertModelSideHolding(run, "sim");
    var groups = run.finding("token-groups");
    assertThat(groups.get("numbers").get("tokens_per_event_p50").asDouble()).isBetween(6.0, 10.0);
    assertThat(groups.get("fixes").get(0).get("snippet").asText()).contains("tokenpipe sim --burst 1");
  }

  @Test
  void serveInFrontOfGroupCommitIsCleanToServeAndBufferedBehindIt() throws Exception {
    DoctorRun run = DoctorRun.run("--probe-count", "30", url(serveGroupCommit.port()));

    assertModelSideHolding(run, "serve");
    assertThat(run.json().get("localization").asText()).contains("the path to tokenpipe serve is clean", "upstream model");
  }

  @Test
  void serveInFrontOfBurstNamesTheUpstreamModel() throws Exception {
    DoctorRun run = DoctorRun.run("--probe-count", "30", "--max-tokens", "100", url(serveBurst.port()));

    assertModelSideHolding(run, "serve");
    assertThat(run.finding("token-groups").get("summary").asText()).contains("groups of ~8");
    assertThat(run.json().get("localization").asText()).contains("the path to tokenpipe serve is clean");
  }

  @Test
  void serveWithItsUpstreamDownIsExit2WithTheReason() throws Exception {
    DoctorRun run = DoctorRun.run(url(serveDown.port()));

    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(2);
    assertThat(run.err().strip().lines()).hasSize(1);
    assertThat(run.err()).startsWith("doctor: ").containsIgnoringCase("upstream").doesNotContain("Exception");
    assertThat(run.out()).doesNotContain("CLEAN");
    assertThat(run.json()).isNull();
  }

  @Test
  void serveWithItsUpstreamDownAndNoInitialCommentIsExit2WithTheStatus() throws Exception {
    DoctorRun run = DoctorRun.run(url(serveDownNoComment.port()));

    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(2);
    assertThat(run.err().strip()).startsWith("doctor: HTTP 5");
    assertThat(run.err().strip().lines()).hasSize(1);
  }

  @Test
  void serveWithAWrongKeyIsExit2WithTheReason() throws Exception {
    DoctorRun run = DoctorRun.run("-H", "Authorization: Bearer sk-wrong", url(serveKeyed.port()));

    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(2);
    assertThat(run.err().strip()).startsWith("doctor: HTTP 401");
    assertThat(run.err().strip().lines()).hasSize(1);
    assertThat(run.out()).doesNotContain("CLEAN");
  }

  @Test
  void serveWithTheRightKeyMeasuresBothPaths() throws Exception {
    DoctorRun run = DoctorRun.run("-H", "Authorization: Bearer sk-doctor", "--probe-count", "20", "--max-tokens", "100",
        url(serveKeyed.port()));

    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(1); // the burst sim behind it
    assertThat(run.json().get("mode").asText()).isEqualTo("endpoint+probe");
    assertThat(run.json().get("probe").get("verdict").asText()).isEqualTo("clean");
  }

  private static void assertModelSideHolding(DoctorRun run, String server) {
    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(1);
    assertThat(run.json().get("mode").asText()).isEqualTo("endpoint+probe");
    assertThat(run.json().get("route").get("server").asText()).isEqualTo(server);
    assertThat(run.json().get("probe").get("verdict").asText()).as(run.transcript()).isEqualTo("clean");
    assertThat(run.out().lines().findFirst().orElseThrow())
        .startsWith("measured: 2 real streaming requests on the model path")
        .contains("known-pacing probes from tokenpipe " + server);
    assertThat(run.out()).contains("verdict: BUFFERED");
    for (var f : run.json().get("findings")) {
      if (f.get("holds_tokens").asBoolean()) {
        assertThat(f.get("layer").asText()).as(run.transcript()).isEqualTo("model-server");
        assertThat(f.get("layer_basis").asText()).contains("the probe served by tokenpipe " + server, "arrived clean");
      }
    }
  }
}
