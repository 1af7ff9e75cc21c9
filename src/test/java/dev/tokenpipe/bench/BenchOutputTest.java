package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.testing.SimExtension;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** What bench prints follows the situation: a failed run, the progress line, the self-check, paths written. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BenchOutputTest {
  @RegisterExtension static final SimExtension sim = new SimExtension();
  @TempDir Path dir;

  @Test
  void unreachableTargetPrintsOneLineFirstAndNoEmptyTables() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    BenchCli r = BenchCli.run("bench", "-n", "3", "-c", "1", "--progress", "none", "http://127.0.0.1:" + port + "/v1/chat/completions");
    assertThat(r.exitCode()).isEqualTo(BenchCommand.EXIT_ALL_FAILED);
    assertThat(r.err().lines().findFirst().orElse(""))
        .startsWith("bench: no request succeeded (3 of 3 failed): connection refused");
    // docs/bench.md: the model lookup failed to connect too, but its fallback note would point at --model, which
    // cannot help; the connection error is the one line.
    assertThat(r.err().strip().lines()).as(r.err()).hasSize(1);
    assertThat(r.err()).doesNotContain("/v1/models").doesNotContain("--model");
    assertThat(r.out()).contains("connect").doesNotContain("p50").doesNotContain("same run")
        .doesNotContain("self-check").doesNotContain("bottleneck").doesNotContain("tokens/s");
  }

  /** {@code -n 1} with the default {@code -c 50} runs one stream; the header said "50 streams". */
  @Test
  void theHeaderSaysHowManyStreamsRanNotTheFlag() throws Exception {
    BenchCli one = BenchCli.run("bench", "-n", "1", "--progress", "none", "-H", "X-Tokenpipe-Sim: ttft=5ms itl=1ms tokens=3",
        sim.chatUrl());
    assertThat(one.exitCode()).as(one.err()).isZero();
    assertThat(one.out().lines().findFirst().orElse("")).contains("(closed loop, 1 stream (-n 1 < -c 50), ");

    BenchCli two = BenchCli.run("bench", "-n", "4", "-c", "2", "--progress", "none", "-H",
        "X-Tokenpipe-Sim: ttft=5ms itl=1ms tokens=3", sim.chatUrl());
    assertThat(two.out().lines().findFirst().orElse("")).contains("(closed loop, 2 streams, ");
  }

  @Test
  void anOutputPathThatCannotBeWrittenIsAUsageErrorBeforeAnyLoad() throws Exception {
    long t0 = System.nanoTime();
    // No server at this port: a run that started would fail on connects, a usage error comes first.
    BenchCli r = BenchCli.run("bench", "-n", "3", "-c", "1", "--progress", "none",
        "--json", "/nonexistent-dir-tokenpipe/x.json", "http://127.0.0.1:9/v1/chat/completions");
    assertThat(r.exitCode()).as(r.err()).isEqualTo(64);
    assertThat(r.err()).contains("cannot write /nonexistent-dir-tokenpipe/x.json: no such directory");
    assertThat((System.nanoTime() - t0) / 1_000_000).isLessThan(5_000);
  }

  /**
   * {@code --json -} prints the JSON on stdout, as doctor's does: bench wrote it to a file named "-" in the working
   * directory and printed the text summary. {@code --html -} and {@code --hdr -} are usage errors, not files named "-".
   */
  @Test
  void jsonDashPrintsTheResultOnStdoutAndWritesNoFileNamedDash() throws Exception {
    Path dash = Path.of("-");
    java.nio.file.Files.deleteIfExists(dash);
    try {
      BenchCli r = BenchCli.run("bench", "-n", "2", "-c", "1", "--progress", "none", "--json", "-", "-H",
          "X-Tokenpipe-Sim: ttft=5ms itl=1ms tokens=3", sim.chatUrl());

      assertThat(r.exitCode()).as(r.err()).isZero();
      assertThat(java.nio.file.Files.exists(dash)).as("a file named '-'").isFalse();
      JsonNode json = dev.tokenpipe.openai.Json.MAPPER.readTree(r.out());
      assertThat(json.path("schema").asText()).isEqualTo(BenchReport.SCHEMA);
      assertThat(json.path("totals").path("ok").asLong()).isEqualTo(2);

      for (String flag : new String[] {"--html", "--hdr"}) {
        BenchCli bad = BenchCli.run("bench", "-n", "1", "--progress", "none", flag, "-", "http://127.0.0.1:9/v1/chat/completions");
        assertThat(bad.exitCode()).as(flag + ": " + bad.err()).isEqualTo(64);
        assertThat(bad.err()).contains(flag + " -: ").contains("only --json - prints to standard output");
        assertThat(java.nio.file.Files.exists(dash)).as("a file named '-'").isFalse();
      }
    } finally {
      java.nio.file.Files.deleteIfExists(dash);
    }
  }

  /** {@code -n} with {@code -z}: the run ends at whichever comes first (hey ignores -n then; the doc did not say). */
  @Test
  void withBothNAndZTheRunEndsAtWhicheverComesFirst() throws Exception {
    Path json = dir.resolve("nz.json");
    long t0 = System.nanoTime();
    BenchCli r = BenchCli.run("bench", "-n", "5", "-z", "60s", "-c", "2", "--progress", "none", "--json", json.toString(),
        "-H", "X-Tokenpipe-Sim: ttft=5ms itl=1ms tokens=3", sim.chatUrl());

    assertThat(r.exitCode()).as(r.err()).isZero();
    assertThat(BenchCli.json(json).path("totals").path("requests").asLong()).isEqualTo(5);
    assertThat((System.nanoTime() - t0) / 1_000_000_000.0).isLessThan(30);
  }

  @Test
  void successfulRunSaysWhereResultsWentAndSelfCheckFollowsItsRule() throws Exception {
    Path json = dir.resolve("ok.json");
    Path html = dir.resolve("ok.html");
    BenchCli r = BenchCli.run("bench", "-n", "30", "-c", "2", "--progress", "none", "--json", json.toString(),
        "--html", html.toString(), "-H", "X-Tokenpipe-Sim: ttft=50ms itl=20ms tokens=8", sim.chatUrl());
    assertThat(r.exitCode()).as(r.err()).isZero();
    assertThat(r.out()).contains("wrote " + json + ", " + html);
    JsonNode sc = BenchCli.json(json).path("self_check");
    assertThat(sc.path("reference_metric").asText()).isEqualTo("itl");
    double lag = sc.path("loop_lag_p99_ms").asDouble();
    double limit = Math.max(1.0, 0.1 * sc.path("reference_p50_ms").asDouble());
    assertThat(sc.path("generator_bound").asBoolean()).as(sc.toString()).isEqualTo(lag > limit + 0.001);
    assertThat(sc.path("lag_limit_ms").asDouble()).isCloseTo(limit, org.assertj.core.data.Offset.offset(0.01));
    // Loopback connects after the warm-up cost a fraction of a millisecond; before it they measured 245-464 ms
    // (class loading on the event loop). Generous margin for a busy 2-core machine.
    assertThat(BenchCli.metric(BenchCli.json(json), "connect", "p50")).isLessThan(150);
  }

  @Test
  void lagLimitIsATenthOfTheReferenceWithAOneMillisecondFloor() {
    assertThat(SelfCheck.lagLimitMicros(20_000)).isEqualTo(2_000);
    assertThat(SelfCheck.lagLimitMicros(300_000)).isEqualTo(30_000);
    assertThat(SelfCheck.lagLimitMicros(2_000)).isEqualTo(1_000);
  }

  /**
   * Lag is judged against the token pace when the gaps' median is 0. A fresh user's run (ITL p50 0, TPOT p50 about
   * 20 ms, lag p99 35 ms) was judged against its TTFT p50 and said "ok (8.3% of the TTFT p50)".
   */
  @Test
  void aZeroGapMedianIsJudgedAgainstTheTokenPaceNotTheFirstToken() {
    Metrics m = new Metrics();
    for (int i = 0; i < 100; i++) {
      m.record(Metric.TTFT, 420_000);
      m.record(Metric.TPOT, 20_000);
      m.record(Metric.ITL, i % 4 == 0 ? 80_000 : 0); // four events to a read: three gaps in four are 0
    }
    m.collect(); // the totals, as after a run
    assertThat(SelfCheck.reference(m)).isEqualTo(Metric.TPOT);
    assertThat(SelfCheck.lagLimitMicros(m.total(Metric.TPOT).getValueAtPercentile(50))).as("35 ms of lag is over it")
        .isLessThan(35_000);

    Metrics paced = new Metrics();
    paced.record(Metric.ITL, 20_000);
    paced.record(Metric.TPOT, 20_000);
    paced.record(Metric.TTFT, 420_000);
    paced.collect();
    assertThat(SelfCheck.reference(paced)).isEqualTo(Metric.ITL);

    Metrics oneToken = new Metrics();
    oneToken.record(Metric.TTFT, 420_000); // one-token answers: no gaps, no pace
    oneToken.collect();
    assertThat(SelfCheck.reference(oneToken)).isEqualTo(Metric.TTFT);
    assertThat(SelfCheck.reference(new Metrics())).isNull();
  }

  @Test
  void progressLineShowsNothingBeforeThereIsData() {
    String empty = Progress.line(new Progress.Snapshot(0, 0, 200, 0, 50, 0, 0, false, new Histogram(3), new Histogram(3), -1));
    assertThat(empty).startsWith("[....................]   0%").contains("0/200 done", "0 errors", "50 in flight")
        .doesNotContain("TTFT").doesNotContain("ITL").doesNotContain("req/s").doesNotContain("tok/s").doesNotContain("ETA");
    Histogram ttft = new Histogram(3);
    Histogram itl = new Histogram(3);
    for (int i = 1; i <= 100; i++) {
      ttft.recordValue(200_000 + i * 1000);
      itl.recordValue(20_000);
    }
    String some = Progress.line(new Progress.Snapshot(0.5, 100, 200, 2, 50, 25, 1600, false, ttft, itl, 4));
    assertThat(some).startsWith("[##########..........]  50%")
        .contains("100/200 done", "2 errors", "25.0 req/s", "1600 tok/s", "TTFT p50 250", "p99 299", "ITL p50 20", "ETA 4s");
  }
}
