package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.testing.SimExtension;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** --slo (goodput, attainment) and --sweep against sims whose breaking point is known. */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class SloSweepTest {
  @RegisterExtension static final SimExtension sim = new SimExtension();
  @RegisterExtension static final SimExtension limited = new SimExtension();
  @TempDir Path dir;

  @Test
  void goodputCountsExactlyTheRequestsThatMetEveryTarget() throws Exception {
    Path json = dir.resolve("slo.json");
    // TTFT spread 40ms..400ms: about half the requests meet ttft<=80ms; e2e<=600ms cuts some more.
    BenchCli r = BenchCli.run("bench", "-n", "60", "-c", "6", "--progress", "none", "--json", json.toString(),
        "--slo", "ttft:p50<=80ms,e2e:p99<=600ms", "-H", "X-Tokenpipe-Sim: ttft=80ms/400ms itl=5ms tokens=10", sim.chatUrl());
    assertThat(r.exitCode()).as(r.err()).isZero();
    JsonNode res = BenchCli.json(json);
    long expected = 0;
    long ttftOk = 0;
    for (JsonNode row : res.path("requests")) {
      boolean t = row.path("outcome").asText().equals("ok") && row.path("ttft_ms").asDouble() >= 0 && row.path("ttft_ms").asDouble() <= 80;
      boolean e = row.path("outcome").asText().equals("ok") && row.path("e2e_ms").asDouble() <= 600;
      ttftOk += t ? 1 : 0;
      expected += t && e ? 1 : 0;
    }
    JsonNode slo = res.path("slo");
    assertThat(slo.path("requests").asLong()).isEqualTo(60);
    assertThat(slo.path("requests_met_all").asLong()).as(slo.toString()).isEqualTo(expected);
    assertThat(slo.path("targets").get(0).path("requests_met").asLong()).isEqualTo(ttftOk);
    assertThat(expected).as("the sim's spread makes some requests miss and some meet").isBetween(1L, 59L);
    double seconds = res.path("totals").path("duration_s").asDouble();
    assertThat(slo.path("goodput_per_s").asDouble()).isCloseTo(expected / seconds, org.assertj.core.data.Offset.offset(0.01));
    assertThat(slo.path("attainment").asDouble()).isCloseTo(expected / 60.0, org.assertj.core.data.Offset.offset(0.0001));
    assertThat(slo.path("targets").get(0).path("met").asBoolean()).isEqualTo(ttftOk >= 30);
    assertThat(r.out()).contains("SLO ttft:p50<=80ms,e2e:p99<=600ms").contains("goodput");
  }

  @Test
  void sweepFindsTheSimsCapacityWithinOneStep() throws Exception {
    // Capacity 4 streams; each stream ~200 ms TTFT + 20 x 20 ms. A fifth stream waits ~600 ms for a slot, so
    // at 6 streams a third of the requests see TTFT >= ~600 ms; at 4 or fewer TTFT stays near 200 ms.
    limited.server().slots().capacity(4);
    Path json = dir.resolve("sweep.json");
    Path html = dir.resolve("sweep.html");
    BenchCli r = BenchCli.run("bench", "--sweep", "concurrency:2,4,6,8", "-z", "4s", "--warmup", "1s", "--progress", "none",
        "--slo", "ttft:p90<=450ms", "--json", json.toString(), "--html", html.toString(),
        "-H", "X-Tokenpipe-Sim: ttft=200ms itl=20ms tokens=20", limited.chatUrl());
    assertThat(r.exitCode()).as(r.out() + r.err()).isZero();
    JsonNode sw = BenchCli.json(json).path("sweep");
    assertThat(sw.path("max_load_met").asDouble()).as(r.out()).isBetween(4.0, 6.0);
    assertThat(sw.path("steps").size()).isLessThanOrEqualTo(4);
    JsonNode lastStep = sw.path("steps").get(sw.path("steps").size() - 1);
    assertThat(lastStep.path("slo_met").asBoolean()).as("stopped at the first step that broke").isFalse();
    assertThat(r.out()).contains("highest load that met every target: concurrency")
        .containsPattern("\\n\\s+2 .* met\\n").contains("MISSED ttft:p90<=450ms");
    assertThat(Files.readString(html)).contains("\"sweep\"");
    String dom = BenchReportsTest.renderInChromium(html, dir);
    assertThat(dom).contains("data-rendered=\"true\"").contains("Highest load that met every target");
    BenchReportsTest.assertDrawn(dom, "sweep-latency", "sweep-throughput", "ttft-hist");
    assertThat(dom).contains("id=\"slo-table\"").contains("goodput");
  }

  /** A rate step's req/s is the completed rate, drain included; the table puts the offered rate beside it. */
  @Test
  void aRateSweepsTableShowsTheOfferedRateBesideTheCompletedOne() {
    com.fasterxml.jackson.databind.node.ObjectNode result = dev.tokenpipe.openai.Json.MAPPER.createObjectNode();
    result.putObject("config").put("method", "POST").put("url", "http://127.0.0.1:8000/v1/chat/completions");
    com.fasterxml.jackson.databind.node.ObjectNode sw = result.putObject("sweep").put("dimension", "rate").put("slo", "");
    sw.putArray("steps").addObject().put("load", 50).put("offered_rate_per_s", 52.6).put("requests_per_s", 47.9)
        .put("goodput_per_s", 47.9).put("attainment", 1.0).put("errors", 0).put("slo_met", true);
    sw.putNull("max_load_met");
    java.io.StringWriter text = new java.io.StringWriter();
    Sweep.print(result, new java.io.PrintWriter(text, true));

    assertThat(text.toString()).as(text.toString()).containsPattern("rate/s\\s+offered\\s+req/s")
        .containsPattern("\\s50\\s+52\\.60\\s+47\\.90\\s");
  }

  /**
   * Without --slo there is no target to miss: a step's goodput is its completed req/s and its attainment the share
   * of requests that succeeded. The table said "goodput 0.00, attain 0.0%" beside "met" for every step.
   */
  @Test
  void withoutTargetsEverySucceededRequestCountsAsGood() {
    com.fasterxml.jackson.databind.node.ObjectNode run = dev.tokenpipe.openai.Json.MAPPER.createObjectNode();
    run.putObject("totals").put("requests", 8).put("ok", 6).put("errors", 2).put("requests_per_s", 1.23);

    com.fasterxml.jackson.databind.node.ObjectNode step = Sweep.stepSummary(2, run);

    assertThat(step.path("goodput_per_s").asDouble()).isEqualTo(1.23);
    assertThat(step.path("attainment").asDouble()).isEqualTo(0.75);
    assertThat(step.path("slo_met").asBoolean()).isTrue();
    com.fasterxml.jackson.databind.node.ObjectNode none = dev.tokenpipe.openai.Json.MAPPER.createObjectNode();
    none.putObject("totals").put("requests", 0).put("ok", 0).put("errors", 0).put("requests_per_s", 0);
    assertThat(Sweep.stepSummary(2, none).path("attainment").asDouble()).isZero();
  }

  @Test
  void badTargetsAndSweepsAreOneLineUsageErrors() {
    assertThatThrownBy(() -> Slo.parse("ttft<=5ms")).hasMessageContaining("METRIC:pNN<=DURATION");
    assertThatThrownBy(() -> Slo.parse("foo:p99<=5ms")).hasMessageContaining("ttft, itl, tpot or e2e");
    assertThatThrownBy(() -> Slo.parse("ttft:p0<=5ms")).hasMessageContaining("percentile")
        .hasMessageContaining("above 0 and at most 100 (0 < N <= 100, e.g. p99)");
    assertThatThrownBy(() -> Slo.parse("ttft:p100.5<=5ms")).hasMessageContaining("0 < N <= 100");
    assertThat(Slo.parse("ttft:p100<=5s").targets().getFirst().percentile()).as("every request").isEqualTo(100.0);
    assertThat(Slo.parse("TTFT:p99<=0.5, itl:p99.9<=50ms").toString()).isEqualTo("ttft:p99<=500ms,itl:p99.9<=50ms");
    assertThat(Sweep.parse("concurrency:1..16").loads()).containsExactly(1.0, 2.0, 4.0, 8.0, 16.0);
    assertThatThrownBy(() -> Sweep.parse("concurrency:4,2")).hasMessageContaining("increase");
    assertThatThrownBy(() -> Sweep.parse("speed:1,2")).hasMessageContaining("rate:LIST or concurrency:LIST");
    BenchCli r = BenchCli.run("bench", "--slo", "ttft:p99<500ms", "http://127.0.0.1:1/v1/chat/completions");
    assertThat(r.exitCode()).isEqualTo(64);
    assertThat(r.err().lines().findFirst().orElse("")).contains("--slo");
  }

  @Test
  void perRequestItlUsesTheRequestsOwnGaps() {
    Slo s = Slo.parse("itl:p50<=10ms,tpot:p99<=5ms,ttft:p99<=100ms");
    int[] gaps = {5_000, 6_000, 50_000};
    assertThat(s.check(90_000, 4_000, 500_000, gaps, 3)).isEqualTo(0b111);
    assertThat(s.check(90_000, 4_000, 500_000, gaps, 3) == s.allMask()).isTrue();
    assertThat(s.check(-1, -1, 500_000, new int[0], 0)).as("no content: TTFT missed, ITL/TPOT vacuous").isEqualTo(0b011);
    assertThat(Slo.parse("itl:p99<=10ms").check(1, 1, 1, gaps, 3)).isZero();
  }
}
