package dev.tokenpipe.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.client.ClientRequest;
import dev.tokenpipe.client.HttpTarget;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A holding verdict needs doctor's own event loop on time: every read it times is as late as its loop. Under
 * load (twice as many runnable threads as cores), a plain sim on loopback was called BUFFERED, with its reads
 * late by tens of milliseconds. Pure: the verdict from a measurement whose lag is given.
 */
class CheckupLoopLagTest {
  static final Prober.Plan PLAN = new Prober.Plan(
      new ClientRequest(HttpTarget.parse("http://127.0.0.1:8080/v1/chat/completions"), "POST", List.of(),
          "{}".getBytes(StandardCharsets.UTF_8), true),
      "POST http://127.0.0.1:8080/v1/chat/completions", List.of(), Prober.Mode.ENDPOINT_ONLY,
      new Trace.Pacing(50_000_000, 60, 256), "auto", 1, 30_000_000_000L, 0);

  /** 60 events 50 ms apart, all held to the end of the response: BUFFERED on its own. */
  static Trace held() {
    StreamBuilder b = new StreamBuilder();
    b.read(2952, 9000, false);
    for (int i = 0; i < 60; i++) {
      b.event(2952, 2 + i * 50, 1);
    }
    return StreamBuilder.endpoint(b.done(2952).build());
  }

  static Checkup checkup(Trace real, double lagP99, double lagMax) {
    return Checkup.of(new Prober.Measurement(PLAN, real, null, null, "not asked (--no-probe)",
        new Prober.Lateness(lagP99, lagMax)));
  }

  @Test
  void aHoldingFindingMeasuredWhileDoctorRanLateIsNoVerdict() {
    Diagnosis d = checkup(held(), 40, 180).diagnosis();

    assertThat(d.verdict()).isEqualTo(Diagnosis.Verdict.FAILED);
    assertThat(d.verdict().exitCode()).isEqualTo(2);
    assertThat(d.reason()).startsWith("could not judge: doctor's own event loop ran late while it measured (p99 40ms,"
        + " max 180ms)").contains("what it saw:");
  }

  @Test
  void theSameFindingWithDoctorOnTimeIsBuffered() {
    assertThat(checkup(held(), 0.4, 2).diagnosis().verdict()).isEqualTo(Diagnosis.Verdict.BUFFERED);
    assertThat(checkup(held(), Checkup.LATE_LOOP_MILLIS - 0.1, 30).diagnosis().verdict())
        .isEqualTo(Diagnosis.Verdict.BUFFERED);
  }

  @Test
  void aCleanRunStaysCleanWhateverTheLag() {
    // Lag makes events look held, never on time.
    Trace clean = StreamBuilder.endpoint(AnalyzerTest.flowing().build());

    assertThat(checkup(clean, 80, 300).diagnosis().verdict()).isEqualTo(Diagnosis.Verdict.CLEAN);
  }
}
