package dev.tokenpipe.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Nagle's algorithm meeting delayed ACKs, forced on loopback: a server writes each event in two pieces with
 * TCP_NODELAY off, behind a relay whose server-side socket keeps TCP_QUICKACK off (see {@link AckDelayingRelay}).
 * Doctor must see events split across reads with ~40 ms stalls and blame the sender's TCP options; the same
 * server with TCP_NODELAY on, behind the same relay, must pass.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NagleDoctorTest {

  @Test
  void twoWritesPerEventWithNagleOnStallOnDelayedAcks() throws Exception {
    Assumptions.assumeTrue(AckDelayingRelay.supported(), "TCP_QUICKACK is not supported on this OS");
    try (NagleServer server = new NagleServer(false, 40, 60); AckDelayingRelay relay = new AckDelayingRelay(server.port())) {
      DoctorRun run = DoctorRun.run("--api", "raw", "-c", "1", "http://127.0.0.1:" + relay.port() + "/v1/stream");

      assertThat(run.exitCode()).as(run.transcript()).isEqualTo(1);
      var nagle = run.finding("nagle-stalls");
      assertThat(nagle.get("layer").asText()).isEqualTo("tcp");
      assertThat(nagle.get("numbers").get("stall_p50_ms").asDouble()).isBetween(25.0, 120.0);
      assertThat(nagle.get("numbers").get("stalls").asDouble()).isGreaterThanOrEqualTo(8);
      assertThat(nagle.get("fixes").get(0).get("snippet").asText()).contains("TCP_NODELAY");
    }
  }

  @Test
  void sameServerWithNoDelayPasses() throws Exception {
    Assumptions.assumeTrue(AckDelayingRelay.supported(), "TCP_QUICKACK is not supported on this OS");
    try (NagleServer server = new NagleServer(true, 40, 60); AckDelayingRelay relay = new AckDelayingRelay(server.port())) {
      DoctorRun run = DoctorRun.run("--api", "raw", "-c", "1", "http://127.0.0.1:" + relay.port() + "/v1/stream");

      assertThat(run.findingIds()).as(run.transcript()).doesNotContain("nagle-stalls", "events-held", "clock-bursts");
    }
  }
}
