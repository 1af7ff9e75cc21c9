package dev.tokenpipe.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.testing.SimExtension;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Doctor against tokenpipe's own sim over real sockets: the clean probe, the scheduler's token groups (burst),
 * group commit across connections, and every way a probe can fail (exit 2, one line).
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class DoctorSimTest {
  @RegisterExtension static final SimExtension sim = new SimExtension();

  String url(String path) {
    return sim.url(path);
  }

  @Test
  void simDirectIsCleanWithKnownPacing() throws Exception {
    DoctorRun run = DoctorRun.run("--probe-only", "--probe-count", "30", url("/v1/chat/completions"));

    assertThat(run.exitCode()).as(run.transcript()).isZero();
    assertThat(run.json().get("schema").asText()).isEqualTo("tokenpipe.doctor/v1");
    assertThat(run.json().get("mode").asText()).isEqualTo("probe");
    assertThat(run.json().get("probe_url").asText()).contains("/tokenpipe/probe?interval=50ms&count=30");
    assertThat(run.json().get("streams")).hasSize(2);
    assertThat(run.json().get("streams").get(0).get("events")).hasSize(31);
    assertThat(run.json().get("stats").get("hold_p50_ms").asDouble()).isBetween(0.0, 25.0);
    assertThat(run.out()).contains("verdict: CLEAN");
  }

  @Test
  void schedulerBurstsAreTokenGroupsFromTheModelServer() throws Exception {
    DoctorRun run = DoctorRun.run("--no-probe", "--max-tokens", "100", "-H", "X-Tokenpipe-Sim: ttft=50ms itl=15ms tokens=100 burst=8",
        url("/v1/chat/completions"));

    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(1);
    assertThat(run.json().get("mode").asText()).isEqualTo("endpoint");
    var groups = run.finding("token-groups");
    assertThat(groups.get("numbers").get("tokens_per_event_p50").asDouble()).isBetween(6.0, 10.0);
    assertThat(groups.get("layer").asText()).isEqualTo("model-server");
    assertThat(groups.get("fixes").get(0).get("snippet").asText()).contains("--stream-interval 1");
    assertThat(run.findingIds()).doesNotContain("group-commit", "held-until-end");
  }

  @Test
  void groupCommitShowsAsConnectionsFlushedInTheSameInstants() throws Exception {
    DoctorRun run = DoctorRun.run("--no-probe", "-c", "3", "-H", "X-Tokenpipe-Sim: ttft=20ms itl=40ms tokens=40 group_commit=200ms",
        url("/v1/chat/completions"));

    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(1);
    var gc = run.finding("group-commit");
    assertThat(gc.get("severity").asText()).isEqualTo("high");
    assertThat(gc.get("layer").asText()).isEqualTo("app");
    assertThat(gc.get("numbers").get("synced_share").asDouble()).isGreaterThan(0.6);
    assertThat(gc.get("numbers").get("flush_period_p50_ms").asDouble()).isBetween(150.0, 400.0);
    assertThat(run.findingIds()).doesNotContain("clock-bursts");
  }

  @Test
  void staggeredCleanStreamsAreNotGroupCommit() throws Exception {
    DoctorRun run = DoctorRun.run("--no-probe", "-c", "3", "-H", "X-Tokenpipe-Sim: ttft=20ms itl=40ms tokens=40",
        url("/v1/chat/completions"));

    assertThat(run.findingIds()).as(run.transcript()).doesNotContain("group-commit", "clock-bursts", "events-held");
    assertThat(run.findingIds()).contains("headers-missing");
    assertThat(run.exitCode()).isZero();
  }

  @Test
  void unreachableIsOneLineAndExit2() throws Exception {
    int closed = ProxyProcess.freePort();
    DoctorRun run = DoctorRun.run("http://127.0.0.1:" + closed + "/v1/chat/completions");

    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).isEqualTo("doctor: connection refused: 127.0.0.1:" + closed);
    assertThat(run.json()).isNull();
  }

  @Test
  void httpErrorIsExit2() throws Exception {
    DoctorRun run = DoctorRun.run("--no-probe", "--model", "no-such-model", url("/v1/chat/completions"));

    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(2);
    assertThat(run.err()).startsWith("doctor: HTTP 4").doesNotContain("Exception");
    assertThat(run.err().strip().lines()).hasSize(1);
  }

  @Test
  void withoutModelFlagUsesTheModelTheServerLists() throws Exception {
    try (dev.tokenpipe.sim.SimServer mine = dev.tokenpipe.sim.SimServer.start(new dev.tokenpipe.sim.SimConfig(
        java.util.List.of("my-model"), 1 << 20, dev.tokenpipe.sim.SimConfig.defaults().defaultProfile(), null, 0), "127.0.0.1", 0)) {
      DoctorRun run = DoctorRun.run("--no-probe", "-H", "X-Tokenpipe-Sim: ttft=20ms itl=40ms tokens=40",
          "http://127.0.0.1:" + mine.port() + "/v1/chat/completions");

      assertThat(run.exitCode()).as(run.transcript()).isIn(0, 1); // not 2: no 404 model_not_found
      assertThat(run.json().get("mode").asText()).isEqualTo("endpoint");
      assertThat(run.err()).isEmpty();
    }
  }

  @Test
  void notAStreamIsExit2() throws Exception {
    DoctorRun run = DoctorRun.run("--no-probe", "-d",
        "{\"model\":\"tokenpipe-sim\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "-H", "X-Tokenpipe-Sim: ttft=10ms itl=1ms tokens=5", url("/v1/chat/completions"));

    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(2);
    assertThat(run.err()).startsWith("doctor: not a stream: expected text/event-stream but got 'application/json");
    assertThat(run.err().strip().lines()).hasSize(1);
  }

  /** Bad usage is 64 like every command's (it was 2, doctor's "could not judge the path"). */
  @Test
  void badFlagsAreOneLineAndExit64() throws Exception {
    for (String[] args : new String[][] {
        {"--concurrency", "zero", url("/v1/chat/completions")},
        {"--idle-test", "1h", url("/v1/chat/completions")},
        {"--bogus", url("/v1/chat/completions")},
        {"ftp://example.com/"},
        {},
        {"-H", "no colon", url("/v1/chat/completions")}}) {
      DoctorRun run = DoctorRun.run(args);
      assertThat(run.exitCode()).as(String.join(" ", args) + "\n" + run.transcript()).isEqualTo(dev.tokenpipe.cli.Cli.EXIT_USAGE);
      assertThat(run.err().strip().lines()).as(run.err()).hasSize(1);
      assertThat(run.err()).startsWith("doctor: ");
    }
  }

  /** An origin without the probe route cannot run the idle test: that is the path's answer, exit 2. */
  @Test
  void idleTestWithoutProbeRouteIsExplained() throws Exception {
    try (PlainSseApp app = new PlainSseApp(10, 10)) {
      DoctorRun run = DoctorRun.run("--idle-test", "2s", "http://127.0.0.1:" + app.port() + "/v1/chat/completions");

      assertThat(run.exitCode()).as(run.transcript()).isEqualTo(2);
      assertThat(run.err()).contains("--idle-test needs tokenpipe's probe route");
    }
  }

  /** With --no-probe the flags alone say the idle test cannot run: bad usage, before anything is sent. */
  @Test
  void idleTestWithNoProbeIsBadUsage() throws Exception {
    DoctorRun run = DoctorRun.run("--no-probe", "--idle-test", "2s", url("/v1/chat/completions"));

    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(dev.tokenpipe.cli.Cli.EXIT_USAGE);
    assertThat(run.err().strip()).isEqualTo("doctor: --idle-test needs the probe route, which --no-probe does not use");
  }

  /** A base URL (no path) posts to {@code /}: the server's 404 comes with where the API is, as bench says it. */
  @Test
  void aUrlWithoutAPathSaysWhereTheApiIs() throws Exception {
    DoctorRun run = DoctorRun.run("--no-probe", url(""));

    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(2);
    assertThat(run.err().strip().lines().count()).as(run.err()).isEqualTo(1);
    assertThat(run.err()).contains("HTTP 404").contains("(the URL has no path; the openai-chat API is at "
        + url("/v1/chat/completions") + ")");
  }

  /**
   * Two streams to a model server that runs one at a time: the second waits for the first. The TTFT line said
   * only the median, which of two is the faster one (114 ms), and hid the wait; it names the slowest too.
   */
  @Test
  void theTimingLineNamesTheSlowestStreamsTtftWhenItIsFarFromTheMedian() throws Exception {
    dev.tokenpipe.sim.SimServer one = dev.tokenpipe.sim.SimServer.start(dev.tokenpipe.sim.SimConfig.defaults(), "127.0.0.1", 0);
    try {
      one.slots().capacity(1);
      DoctorRun run = DoctorRun.run("--no-probe", "-H", "X-Tokenpipe-Sim: ttft=50ms itl=10ms tokens=40",
          "http://127.0.0.1:" + one.port() + "/v1/chat/completions");

      assertThat(run.exitCode()).as(run.transcript()).isNotEqualTo(64);
      double median = run.json().at("/stats/ttft_ms").asDouble();
      double slowest = run.json().at("/stats/ttft_max_ms").asDouble();
      assertThat(slowest).as(run.transcript()).isGreaterThan(median + 300); // it waited for the other's 40 tokens
      assertThat(run.out()).containsPattern("TTFT [0-9.]+ms \\(slowest [0-9.]+ms\\)");
    } finally {
      one.close();
    }
  }
}
