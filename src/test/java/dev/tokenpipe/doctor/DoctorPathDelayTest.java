package dev.tokenpipe.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.testing.SimExtension;
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
