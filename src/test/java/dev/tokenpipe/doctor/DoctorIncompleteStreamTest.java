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

  @BeforeAll
  static void start() {
    StreamProfile base = SimConfig.defaults().defaultProfile();
    cut = SimServer.start(SimConfig.defaults().withProfile(
        base.with(StreamProfile.parseOverrides("ttft=20ms itl=20ms tokens=64 drop_after=5"))), "127.0.0.1", 0);
    stalled = SimServer.start(SimConfig.defaults().withProfile(
        base.with(StreamProfile.parseOverrides("ttft=20ms itl=20ms tokens=64 stall_after=3 stall=30s"))), "127.0.0.1", 0);
  }

  @AfterAll
  static void stop() {
    cut.close();
    stalled.close();
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
