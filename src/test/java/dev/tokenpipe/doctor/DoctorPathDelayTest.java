package dev.tokenpipe.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.gateway.GatewayConfig;
import dev.tokenpipe.gateway.GatewayServer;
import dev.tokenpipe.testing.SimExtension;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Doctor against a tokenpipe server in another region: every byte arrives a fixed one-way delay after it was sent,
 * in the pacing it was sent, so nothing is held. An emission stamp is the server's clock, a read doctor's, and their
 * difference carries the link's delay (and any offset between the two clocks), which is no hold.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DoctorPathDelayTest {
  @RegisterExtension static final SimExtension sim = new SimExtension();

  @Test
  void aLinksOneWayDelayIsNoHold() throws Exception {
    // Before: "Events held in transit: p90 61 ms between emission and arrival", BUFFERED, for a path that holds
    // nothing: the probe's own pacing arrived intact, 60 ms after it was sent.
    try (DelayLine far = new DelayLine(sim.port(), 60)) {
      DoctorRun run = DoctorRun.run("--probe-only", "--probe-count", "20",
          "http://127.0.0.1:" + far.port() + "/v1/chat/completions");

      assertThat(run.exitCode()).as(run.transcript()).isZero();
      assertThat(run.out()).contains("verdict: CLEAN");
      assertThat(run.json().get("stats").get("path_delay_ms").asDouble()).isBetween(55.0, 90.0);
      assertThat(run.json().get("stats").get("hold_p90_ms").asDouble()).isLessThan(40.0);
    }
  }

  @Test
  void aFarServeInFrontOfASimIsCleanOnBothPaths() throws Exception {
    // serve 40 ms away, its sim beside it: the real requests carry the sim's stamps, the probe serve's own; each trace
    // has its delay taken out, and neither is held.
    try (GatewayServer serve = GatewayServer.start(GatewayConfig.defaults().withPort(0)
            .withUpstreams(List.of("http://127.0.0.1:" + sim.port())));
        DelayLine far = new DelayLine(serve.port(), 40)) {
      DoctorRun run = DoctorRun.run("-H", "X-Tokenpipe-Sim: ttft=50ms itl=20ms tokens=40", "--probe-count", "20",
          "http://127.0.0.1:" + far.port() + "/v1/chat/completions");

      assertThat(run.exitCode()).as(run.transcript()).isZero();
      assertThat(run.json().get("probe").get("verdict").asText()).isEqualTo("clean");
      assertThat(run.json().get("stats").get("path_delay_ms").asDouble()).isBetween(35.0, 70.0);
      assertThat(run.json().get("probe").get("stats").get("path_delay_ms").asDouble()).isBetween(35.0, 70.0);
    }
  }

  @Test
  void aFarModelBehindServeIsNoHoldBehindIt() throws Exception {
    // serve beside doctor, its model 40 ms away: the probe is serve's and arrives at once, the real events carry the
    // far sim's stamps. serve relays the model's head (--head-wait), so the head's round trip covers the far link and
    // bounds its delay; "held behind serve, on the upstream model's side" would blame a model that holds nothing.
    try (DelayLine far = new DelayLine(sim.port(), 40);
        GatewayServer serve = GatewayServer.start(GatewayConfig.defaults().withPort(0)
            .withUpstreams(List.of("http://127.0.0.1:" + far.port())))) {
      DoctorRun run = DoctorRun.run("-H", "X-Tokenpipe-Sim: ttft=50ms itl=20ms tokens=40", "--probe-count", "20",
          "http://127.0.0.1:" + serve.port() + "/v1/chat/completions");

      assertThat(run.exitCode()).as(run.transcript()).isZero();
      assertThat(run.json().get("stats").get("path_delay_ms").asDouble()).isBetween(35.0, 70.0);
      assertThat(run.json().get("probe").get("stats").get("path_delay_ms").asDouble()).isZero();
    }
  }

  @Test
  void aFarModelBehindServesOwnHeadIsNoHold() throws Exception {
    // The same with --head-wait 0: serve's own head goes out at once, so its round trip says nothing of the link to the
    // sim. Before: "Events held in transit: p90 72.6ms", BUFFERED, blamed on the model server behind serve.
    try (DelayLine far = new DelayLine(sim.port(), 70);
        GatewayServer serve = GatewayServer.start(GatewayConfig.defaults().withPort(0)
            .withUpstreams(List.of("http://127.0.0.1:" + far.port())).withHeartbeat(Duration.ofSeconds(15), Duration.ZERO))) {
      DoctorRun run = DoctorRun.run("-H", "X-Tokenpipe-Sim: ttft=50ms itl=20ms tokens=40", "--probe-count", "20",
          "http://127.0.0.1:" + serve.port() + "/v1/chat/completions");

      assertThat(run.exitCode()).as(run.transcript()).isZero();
      assertThat(run.json().get("stats").get("path_delay_ms").asDouble()).isBetween(65.0, 100.0);
    }
  }

  @Test
  void aDelayOfOneIntervalIsNotEachEventHeldUntilTheNext() throws Exception {
    // A one-way delay as long as the time between events puts every event's arrival at the next one's emission,
    // which is also the mark of a compressor that holds each event until the next one comes in.
    try (DelayLine far = new DelayLine(sim.port(), 20)) {
      DoctorRun run = DoctorRun.run("-H", "X-Tokenpipe-Sim: ttft=50ms itl=20ms tokens=40",
          "http://127.0.0.1:" + far.port() + "/v1/chat/completions");

      assertThat(run.findingIds()).as(run.transcript()).doesNotContain("events-held", "held-until-end");
      assertThat(run.exitCode()).isZero();
    }
  }
}
