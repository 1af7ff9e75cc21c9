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

  /** The same 60 events without emission stamps (a model server that does not stamp): no hold is measured. */
  static Trace heldUnstamped() {
    StreamBuilder b = new StreamBuilder();
    b.read(2952, 9000, false);
    for (int i = 0; i < 60; i++) {
      b.event(2952, -1, 1);
    }
    return StreamBuilder.endpoint(b.done(2952).build());
  }

  /** 60 events 50 ms apart, each in its own read {@code holdMs} after its emission: events-held. */
  static Trace heldBy(double holdMs) {
    StreamBuilder b = new StreamBuilder();
    for (int i = 0; i < 60; i++) {
      b.eventRead(2 + i * 50 + holdMs, 2 + i * 50, 150);
    }
    return StreamBuilder.endpoint(b.done(2 + 59 * 50 + holdMs).build());
  }

  static Checkup checkup(Trace real, double lagP99, double lagMax) {
    return Checkup.of(new Prober.Measurement(PLAN, real, null, null, "not asked (--no-probe)",
        new Prober.Lateness(lagP99, lagMax)));
  }

  @Test
  void aHoldingFindingMeasuredWhileDoctorRanLateIsNoVerdict() {
    // Events held about as long as doctor's loop was late: the lag alone could have made them look held.
    Diagnosis d = checkup(heldBy(140), 40, 180).diagnosis();
    assertThat(Analyzer.analyze(heldBy(140), -1).verdict()).as("held on its own").isEqualTo(Diagnosis.Verdict.BUFFERED);

    assertThat(d.verdict()).isEqualTo(Diagnosis.Verdict.FAILED);
    assertThat(d.verdict().exitCode()).isEqualTo(2);
    assertThat(d.reason()).startsWith("could not judge: doctor's own event loop ran late while it measured (p99 40ms,"
        + " max 180ms)").contains("what it saw:");
  }

  @Test
  void holdsFarLongerThanDoctorWasEverLateAreBufferedWhateverTheLag() {
    // NGINX gzipping the stream on a busy machine: whole responses held 1.5 s, hold p50 666 ms, while doctor's
    // loop ran late by p99 12.2 ms, max 134 ms. A reader late by at most 134 ms cannot make a 1.5 s hold.
    Diagnosis d = checkup(held(), 12.2, 134).diagnosis();

    assertThat(d.verdict()).as(d.reason()).isEqualTo(Diagnosis.Verdict.BUFFERED);
    assertThat(d.reason()).contains("held until the end")
        .contains("doctor's own event loop ran late, p99 12.2ms, max 134ms: far less than these holds");
    // A loop stalled about as long as the response could have held it all to the end.
    assertThat(checkup(held(), 40, 3_000).diagnosis().verdict()).isEqualTo(Diagnosis.Verdict.FAILED);
  }

  /**
   * Without emission stamps no hold is measured per event, but a finding's own time scale can still outlast the
   * lag: 60 events arriving in one read at the end of a 2.95 s response were held at least 2.9 s before it, which
   * a reader late by at most 134 ms cannot do. On a busy machine (the doctor tests run beside two others') an
   * unstamped stream held to its end was "could not judge" at lag p99 10 ms, max 28.5 ms.
   */
  @Test
  void withoutEmissionStampsAFindingsOwnTimeScaleRulesTheLagOut() {
    assertThat(checkup(heldUnstamped(), 0.4, 2).diagnosis().verdict()).isEqualTo(Diagnosis.Verdict.BUFFERED);
    Diagnosis d = checkup(heldUnstamped(), 12.2, 134).diagnosis();
    assertThat(d.verdict()).as(d.reason()).isEqualTo(Diagnosis.Verdict.BUFFERED);
    assertThat(d.reason()).contains("held until the end").contains("far less than these holds");
    // A loop stalled about as long as the response could have gathered it all into the last read.
    assertThat(checkup(heldUnstamped(), 40, 3_000).diagnosis().verdict()).isEqualTo(Diagnosis.Verdict.FAILED);
  }

  /** Unstamped events released in bursts of 5 every 250 ms: the first of each burst waited about 200 ms. */
  static Trace clockBurstsUnstamped() {
    return StreamBuilder.endpoint(AnalyzerTest.clockBursts(false).done(3001).build());
  }

  @Test
  void burstsOnAClockFarSlowerThanTheLagAreAVerdict() {
    // Seen at load 4: "could not judge ... (p99 12.2ms, max 69ms) ... (what it saw: Events released in bursts
    // every ~251.8ms (~5 events each))". A reader late by at most 69 ms merges events at most 69 ms apart; these
    // bursts gather events 200 ms apart.
    assertThat(Analyzer.analyze(clockBurstsUnstamped(), -1).findings()).extracting(Finding::problem)
        .contains(Problem.CLOCK_BURSTS);
    Diagnosis d = checkup(clockBurstsUnstamped(), 12.2, 69).diagnosis();
    assertThat(d.verdict()).as(d.reason()).isEqualTo(Diagnosis.Verdict.BUFFERED);
    assertThat(d.reason()).startsWith("Events released in bursts every ~");
    // A loop late by up to 155 ms could have made these bursts itself.
    assertThat(checkup(clockBurstsUnstamped(), 18.8, 155).diagnosis().verdict()).isEqualTo(Diagnosis.Verdict.FAILED);
  }

  @Test
  void aQuietStreamCutIsAVerdictWhateverTheLag() {
    // --idle-test: the path closed the probe's quiet stream after 2 s. A late reader cannot cut a stream; on a
    // busy machine that was "could not judge ... a late reader looks like a held event".
    Trace.Response idle = new StreamBuilder().eventRead(1, 0, 100).failed("truncated",
        "connection closed mid-stream after 1 events", 2001).build();
    Trace probe = new Trace("u", "p", new Trace.Pacing(50_000_000, 60, 256), List.of(AnalyzerTest.flowing().build()),
        idle, 4_000_000_000L);
    Trace clean = StreamBuilder.endpoint(AnalyzerTest.flowing().build());

    Diagnosis d = Checkup.of(new Prober.Measurement(PLAN, clean, probe, new Prober.Route("sim", -1), null,
        new Prober.Lateness(40, 180))).diagnosis();

    assertThat(d.verdict()).as(d.reason()).isEqualTo(Diagnosis.Verdict.BUFFERED);
    assertThat(d.reason()).startsWith("The stream was cut after");

    // With holds the lag could have made beside it: the cut stands, the holds are not judged, and it says so.
    Diagnosis both = Checkup.of(new Prober.Measurement(PLAN, heldBy(140), probe, new Prober.Route("sim", -1), null,
        new Prober.Lateness(40, 180))).diagnosis();
    assertThat(both.verdict()).as(both.reason()).isEqualTo(Diagnosis.Verdict.BUFFERED);
    assertThat(both.reason()).startsWith("The stream was cut after").contains("not judged, doctor's own event loop ran"
        + " late, p99 40ms, max 180ms");
    assertThat(both.findings()).noneMatch(f -> f.holdsTokens() && f.problem() != Problem.IDLE_CUT);
  }

  @Test
  void eachEventHeldOneBehindIsAVerdictWhateverTheLag() {
    // HAProxy gzipping the stream with http-no-delay, on this 2-core machine: every event one interval (20 ms) late,
    // 41 of 58 one behind, while doctor's loop ran late by p99 12.2 ms, max 27.8 ms: "could not judge ... a late
    // reader looks like a held event", exit 2. A late reader cannot make it: reading after the next event's
    // emission, it finds that event in the same read, and one behind needs each event in a read of its own.
    Trace oneBehind = StreamBuilder.endpoint(AnalyzerTest.oneBehind(0.4), AnalyzerTest.oneBehind(0.6));

    Diagnosis d = checkup(oneBehind, 12.2, 27.8).diagnosis();

    assertThat(d.verdict()).as(d.reason()).isEqualTo(Diagnosis.Verdict.BUFFERED);
    assertThat(d.reason()).startsWith("Each event held until the next one was sent");
    assertThat(d.findings().getFirst().layer()).isEqualTo(Layer.HAPROXY);
    // Holds of the same length without the one-behind mark stay unjudged.
    assertThat(checkup(heldBy(140), 40, 180).diagnosis().verdict()).isEqualTo(Diagnosis.Verdict.FAILED);
  }

  @Test
  void tokensGroupedInEventsAreAVerdictWhateverTheLag() {
    // `sim --burst 8` on a busy machine: every event carried 8 tokens, held 1.7 ms (p50), while doctor's loop ran
    // late by p99 14.5 ms, max 73 ms; that was "could not judge ... a late reader looks like a held event". The
    // tokens per event are counted in each event's text: no late reader can put 8 tokens into one event.
    StreamBuilder b = new StreamBuilder();
    b.eventRead(212, 210, 100);
    for (int i = 1; i <= 8; i++) {
      b.read(212 + i * 160 + (i % 3) * 6, 300, false).event(212 + i * 160 + (i % 3) * 6, 210 + i * 160, 8);
    }
    Trace grouped = StreamBuilder.endpoint(b.header("Cache-Control", "no-cache, no-transform").done(1700).build());
    assertThat(Analyzer.analyze(grouped, -1).findings()).extracting(Finding::problem).contains(Problem.TOKEN_GROUPS);

    Diagnosis d = checkup(grouped, 14.5, 73).diagnosis();

    assertThat(d.verdict()).as(d.reason()).isEqualTo(Diagnosis.Verdict.BUFFERED);
    assertThat(d.reason()).startsWith("Tokens arrive in groups of ~8 per event");
    assertThat(d.findings()).extracting(Finding::problem).contains(Problem.TOKEN_GROUPS);
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
