package dev.tokenpipe.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.SimServer;
import dev.tokenpipe.sim.StreamProfile;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A real request whose stream never reaches its end event did not stream the answer: a stream cut after a few
 * tokens (the connection closed, as a proxy's read timeout or a crashed server does) or one that stalls past
 * {@code --timeout} is exit 2 with the reason, never CLEAN with exit 0 for the tokens that did arrive. The sim
 * cuts ({@code drop_after}) and stalls ({@code stall_after}) on its own, with no proxy in between.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DoctorIncompleteStreamTest {
  static SimServer cut;
  static SimServer stalled;
  static SimServer fast;

  @BeforeAll
  static void start() {
    StreamProfile base = SimConfig.defaults().defaultProfile();
    cut = SimServer.start(SimConfig.defaults().withProfile(
        base.with(StreamProfile.parseOverrides("ttft=20ms itl=20ms tokens=64 drop_after=5"))), "127.0.0.1", 0);
    stalled = SimServer.start(SimConfig.defaults().withProfile(
        base.with(StreamProfile.parseOverrides("ttft=20ms itl=20ms tokens=64 stall_after=3 stall=30s"))), "127.0.0.1", 0);
    fast = SimServer.start(SimConfig.defaults().withProfile(
        base.with(StreamProfile.parseOverrides("ttft=5ms itl=5ms tokens=8"))), "127.0.0.1", 0);
  }

  @AfterAll
  static void stop() {
    cut.close();
    stalled.close();
    fast.close();
  }

  /**
   * A layer that ends every connection after 1 s: the short real answers get through whole, the 3 s
   * known-pacing probe is cut. The probe was not measured whole, so neither mode may call the path clean.
   */
  @Test
  void aCutProbeIsExit2WithOrWithoutRealRequests() throws Exception {
    try (CuttingRelay relay = new CuttingRelay(fast.port(), 1000)) {
      for (String mode : new String[] {"--probe-only", "--max-tokens=8"}) {
        DoctorRun run = DoctorRun.run(mode, "http://127.0.0.1:" + relay.port() + "/v1/chat/completions");

        assertThat(run.exitCode()).as(run.transcript()).isEqualTo(2);
        assertThat(run.err().strip().lines()).as(run.transcript()).hasSize(1);
        assertThat(run.err()).startsWith("doctor: the known-pacing probe from tokenpipe sim: HTTP 200 but the connection closed");
        assertThat(run.out()).doesNotContain("CLEAN");
      }
    }
  }

  @Test
  void aStreamCutBeforeItsEndEventIsExit2WithTheReason() throws Exception {
    DoctorRun run = DoctorRun.run("http://127.0.0.1:" + cut.port() + "/v1/chat/completions");

    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(2);
    assertThat(run.err().strip().lines()).as(run.transcript()).hasSize(1);
    assertThat(run.err()).startsWith("doctor: HTTP 200 but the connection closed mid-stream")
        .contains("before the answer did").doesNotContain("Exception");
    assertThat(run.out()).doesNotContain("CLEAN");
    assertThat(run.json()).isNull();
  }

  @Test
  void aCutAnthropicStreamIsExit2Too() throws Exception {
    DoctorRun run = DoctorRun.run("--no-probe", "http://127.0.0.1:" + cut.port() + "/v1/messages");

    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(2);
    assertThat(run.err()).as(run.transcript()).startsWith("doctor: HTTP 200 but the connection closed mid-stream");
    assertThat(run.out()).doesNotContain("CLEAN");
  }

  @Test
  void aStreamThatStallsPastTheTimeoutIsExit2AndSaysWhichFlag() throws Exception {
    long start = System.nanoTime();
    DoctorRun run = DoctorRun.run("--no-probe", "--timeout", "2s", "http://127.0.0.1:" + stalled.port() + "/v1/chat/completions");
    double seconds = (System.nanoTime() - start) / 1e9;

    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(2);
    assertThat(run.err().strip().lines()).as(run.transcript()).hasSize(1);
    assertThat(run.err()).contains("did not end within", "--timeout 2.00s", "3 events").doesNotContain("Exception");
    assertThat(run.out()).doesNotContain("CLEAN");
    // Two requests 11 ms apart, each given 2 s: the run is over well before the sim's 30 s stall.
    assertThat(seconds).as(run.transcript()).isLessThan(15);
  }
}
