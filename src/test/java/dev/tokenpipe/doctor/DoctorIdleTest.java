package dev.tokenpipe.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.gateway.GatewayConfig;
import dev.tokenpipe.gateway.GatewayServer;
import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.SimServer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The idle test judges heartbeats only when it can see them: doctor reads the heartbeat the probe route advertises
 * ({@code X-Tokenpipe-Heartbeat}); shorter than that it says "not tested" with the length that would test it,
 * longer it sees serve's heartbeats arrive; a sim, which advertises none, gets the advice to send them.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class DoctorIdleTest {
  static final String QUICK = "X-Tokenpipe-Sim: ttft=10ms itl=30ms tokens=20";
  static GatewayServer serve;
  static SimServer sim;

  @BeforeAll
  static void start() throws Exception {
    serve = GatewayServer.start(GatewayConfig.defaults().withPort(0).withHeartbeat(Duration.ofSeconds(1), Duration.ZERO));
    sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0);
  }

  @AfterAll
  static void stop() {
    serve.close();
    sim.close();
  }

  @Test
  void shorterThanTheAdvertisedHeartbeatIsNotTested() throws Exception {
    DoctorRun run = DoctorRun.run("-H", QUICK, "--probe-count", "10", "--idle-test", "500ms",
        "http://127.0.0.1:" + serve.port() + "/v1/chat/completions");

    assertThat(run.exitCode()).as(run.transcript()).isNotEqualTo(2);
    assertThat(run.json().get("route").get("heartbeat_ms").asDouble()).isEqualTo(1000.0);
    var untested = run.finding("idle-not-tested");
    assertThat(untested.get("summary").asText()).contains("--idle-test 2.00s");
    assertThat(run.findingIds()).doesNotContain("no-heartbeats", "idle-cut");
    assertThat(run.out()).doesNotContain("tokenpipe serve does this for you");
  }

  @Test
  void longerThanTheHeartbeatSeesServesHeartbeats() throws Exception {
    DoctorRun run = DoctorRun.run("-H", QUICK, "--probe-count", "10", "--idle-test", "2500ms",
        "http://127.0.0.1:" + serve.port() + "/v1/chat/completions");

    assertThat(run.exitCode()).as(run.transcript()).isNotEqualTo(2);
    assertThat(run.json().get("idle").get("comments_ms").size()).as(run.transcript()).isBetween(2, 3);
    assertThat(run.findingIds()).doesNotContain("no-heartbeats", "idle-not-tested", "idle-cut");
  }

  @Test
  void aServerThatAdvertisesNoHeartbeatGetsTheAdvice() throws Exception {
    DoctorRun run = DoctorRun.run("-H", QUICK, "--probe-count", "10", "--idle-test", "1s",
        "http://127.0.0.1:" + sim.port() + "/v1/chat/completions");

    assertThat(run.json().get("route").get("heartbeat_ms").asDouble()).isZero();
    var none = run.finding("no-heartbeats");
    assertThat(none.get("severity").asText()).isEqualTo("low");
    assertThat(none.get("evidence").get(0).asText()).contains("the server advertises none");
  }
}
