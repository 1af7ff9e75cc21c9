package dev.tokenpipe.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An upstream without emission stamps (not tokenpipe's sim or serve) whose answer is too short to time: doctor
 * cannot call the path clean from it (docs/doctor.md, "Never CLEAN without a measured stream"). One content event
 * after 300 ms was reported CLEAN, "events arrived one per read as they were sent", exit 0. The least that is
 * timed, two events read apart, is judged.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DoctorShortAnswerTest {

  @Test
  void oneUnstampedEventIsExit2AskingForALongerAnswer() throws Exception {
    try (PlainSseApp app = new PlainSseApp(1, 0, 300)) {
      DoctorRun run = DoctorRun.run("http://127.0.0.1:" + app.port() + "/v1/chat/completions");

      assertThat(run.exitCode()).as(run.transcript()).isEqualTo(2);
      assertThat(run.err().strip().lines()).as(run.transcript()).hasSize(1);
      assertThat(run.err()).contains("one content event", "ask for a longer answer", "--max-tokens");
      assertThat(run.out()).doesNotContain("CLEAN");
    }
  }

  @Test
  void twoUnstampedEventsReadApartAreJudged() throws Exception {
    try (PlainSseApp app = new PlainSseApp(2, 100, 300)) {
      DoctorRun run = DoctorRun.run("http://127.0.0.1:" + app.port() + "/v1/chat/completions");

      assertThat(run.exitCode()).as(run.transcript()).isZero();
      assertThat(run.out()).contains("verdict: CLEAN");
    }
  }
}
