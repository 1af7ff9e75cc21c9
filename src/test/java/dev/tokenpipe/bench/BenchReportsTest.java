package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.testing.SimExtension;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The outputs: JSON schema, HDR logs and merge, compare, and the HTML report as a real browser draws it. */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class BenchReportsTest {
  static final String CHROMIUM = "/usr/bin/chromium";
  @RegisterExtension static final SimExtension sim = new SimExtension();

  @TempDir Path dir;

  private BenchCli bench(String simSpec, String... extra) {
    String[] base = {"bench", "-n", "12", "-c", "4", "--progress", "none", "-H", "X-Tokenpipe-Sim: " + simSpec};
    String[] all = new String[base.length + extra.length + 1];
    System.arraycopy(base, 0, all, 0, base.length);
    System.arraycopy(extra, 0, all, base.length, extra.length);
    all[all.length - 1] = sim.chatUrl();
    BenchCli r = BenchCli.run(all);
    assertThat(r.exitCode()).as(r.err()).isZero();
    return r;
  }

  @Test
  void jsonFollowsTheVersionedSchema() throws Exception {
    Path json = dir.resolve("r.json");
    bench("ttft=30ms itl=5ms tokens=10", "--json", json.toString());
    JsonNode r = BenchCli.json(json);
    assertThat(r.path("schema").asText()).isEqualTo("tokenpipe.bench/v1");
    assertThat(r.path("tool").path("transport").asText()).isIn("epoll", "nio");
    for (String f : List.of("url", "method", "api", "mode", "concurrency", "requests", "rate_per_s", "timeout_s", "tokenizer")) {
      assertThat(r.path("config").has(f)).as("config.%s", f).isTrue();
    }
    for (String f : List.of("requests", "ok", "errors", "error_rate", "duration_s", "requests_per_s", "output_tokens",
        "output_tokens_per_s", "content_events")) {
      assertThat(r.path("totals").has(f)).as("totals.%s", f).isTrue();
    }
    for (String m : List.of("ttfb", "ttft", "ttft_reasoning", "itl", "tpot", "e2e", "e2e_per_token", "tokens_per_event",
        "output_tokens", "one_way_delay", "parse_delay", "first_emitted", "ttft_emitted", "itl_emitted", "connect", "dispatch_lag", "loop_lag")) {
      JsonNode s = r.path("metrics").path(m);
      for (String k : List.of("unit", "count", "mean", "min", "p50", "p90", "p95", "p99", "p99_9", "max")) {
        assertThat(s.has(k)).as("metrics.%s.%s", m, k).isTrue();
      }
    }
    assertThat(r.path("metrics").path("ttft").path("unit").asText()).isEqualTo("ms");
    assertThat(r.path("distributions").path("ttft").path("cdf").size()).isPositive();
    assertThat(r.path("distributions").path("itl").path("histogram").path("counts").size()).isEqualTo(60);
    assertThat(r.path("requests").size()).isEqualTo(12);
    assertThat(r.path("requests").get(0).has("ttft_ms")).isTrue();
    assertThat(r.path("self_check").has("generator_bound")).isTrue();
    assertThat(r.path("self_check").path("cpu_share_of_cores").asDouble()).isBetween(0.0, 1.0);
    assertThat(r.path("equivalents").path("aiperf_itl").path("tokenpipe_metric").asText()).isEqualTo("tpot");
    assertThat(r.path("metrics").path("loop_lag").path("count").asLong()).isPositive();
  }

  @Test
  void apiKeyComesFromTheEnvironmentAndIsNeverWritten() throws Exception {
    Path json = dir.resolve("k.json");
    bench("ttft=5ms itl=1ms tokens=2", "--api-key-env", "PATH", "--json", json.toString());
    String text = Files.readString(json);
    assertThat(text).doesNotContain(System.getenv("PATH"));
  }

  @Test
  void hdrLogsMergeAndCompareShowsRatiosWithConfidenceIntervals() throws Exception {
    Path a = dir.resolve("a.json");
    Path b = dir.resolve("b.json");
    Path ha = dir.resolve("a.hdr");
    Path hb = dir.resolve("b.hdr");
    bench("ttft=30ms itl=5ms tokens=8", "--json", a.toString(), "--hdr", ha.toString());
    bench("ttft=120ms itl=5ms tokens=8", "--json", b.toString(), "--hdr", hb.toString());

    Path merged = dir.resolve("m.hdr");
    BenchCli m = BenchCli.run("bench", "merge", ha.toString(), hb.toString(), "-o", merged.toString());
    assertThat(m.exitCode()).as(m.err()).isZero();
    assertThat(m.out()).contains("ttft").contains("itl");
    Map<String, Histogram> h = HdrLog.read(merged.toFile());
    assertThat(h.get("ttft").getTotalCount()).isEqualTo(24);
    assertThat(h.get("itl").getTotalCount()).isEqualTo(24 * 7);
    // TTFT median of the merge lies between the two runs.
    assertThat(h.get("ttft").getValueAtPercentile(90) / 1000.0).isGreaterThan(100.0);
    assertThat(HdrLog.read(ha.toFile()).get("ttft").getTotalCount()).isEqualTo(12);

    BenchCli c = BenchCli.run("bench", "compare", a.toString(), b.toString());
    assertThat(c.exitCode()).as(c.err()).isZero();
    assertThat(c.out()).contains("B/A").contains("ttft p50");
    Matcher ratio = Pattern.compile("ttft p50 \\(ms\\)\\s+\\S+\\s+\\S+\\s+(\\d+\\.\\d+)x").matcher(c.out());
    assertThat(ratio.find()).as(c.out()).isTrue();
    assertThat(Double.parseDouble(ratio.group(1))).isBetween(2.0, 6.0);
    assertThat(c.out()).contains("TTFT p50 difference B-A").contains("95% CI").contains("B is slower");

    BenchCli bad = BenchCli.run("bench", "compare", a.toString(), ha.toString());
    assertThat(bad.exitCode()).as(bad.err()).isEqualTo(64); // an input that is not a result: bad usage
    assertThat(bad.err().strip().lines().count()).isEqualTo(1);
  }

  @Test
  void htmlReportDrawsItsChartsInAHeadlessBrowser() throws Exception {
    Path html = dir.resolve("report.html");
    bench("ttft=40ms itl=20ms tokens=60 burst=2", "--html", html.toString());
    String page = Files.readString(html);
    assertThat(page).doesNotContain("http://cdn").doesNotContain("<script src=").contains("tokenpipe.bench/v1");
    String dom = renderInChromium(html, dir);
    assertThat(dom).as("page rendered (see chromium.err)").contains("data-rendered=\"true\"").contains("data-charts=\"7\"");
    assertThat(dom).as("run configuration table").contains("connect_batch").contains("timeout_s").contains("cl100k_base");
    assertDrawn(dom, "ttft-hist", "ttft-cdf", "itl-hist", "itl-cdf", "timeline", "throughput", "active");
    assertThat(dom).contains("id=\"timeline\"").contains("data-series=\"3\"");
    Matcher throughput = Pattern.compile("id=\"throughput\"[^>]*").matcher(dom);
    assertThat(throughput.find()).isTrue();
    assertThat(throughput.group()).contains("data-series=\"3\"");
  }

  /** Each chart drew and painted pixels. */
  static void assertDrawn(String dom, String... ids) {
    for (String id : ids) {
      Matcher mm = Pattern.compile("id=\"" + id + "\"[^>]*").matcher(dom);
      assertThat(mm.find()).as(id).isTrue();
      String tag = mm.group();
      assertThat(tag).as(id).contains("data-drawn=\"true\"");
      Matcher painted = Pattern.compile("data-painted=\"(\\d+)\"").matcher(tag);
      assertThat(painted.find()).as(tag).isTrue();
      assertThat(Integer.parseInt(painted.group(1))).as("non-blank pixels of %s", id).isGreaterThan(50);
    }
  }

  /** The page's DOM after headless Chromium ran its scripts; skips (fails in CI) without chromium. */
  static String renderInChromium(Path html, Path dir) throws Exception {
    File chromium = new File(CHROMIUM);
    if (!chromium.canExecute()) {
      assertThat("true".equals(System.getenv("CI"))).as("chromium is required in CI: apt-get install -y chromium").isFalse();
      assumeTrue(false, "chromium not installed (apt-get install -y chromium); skipping the browser check");
    }
    Path profile = Files.createDirectories(dir.resolve("chromium-profile"));
    Process p = new ProcessBuilder(CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
        "--user-data-dir=" + profile, "--window-size=1100,3000", "--virtual-time-budget=5000", "--dump-dom",
        html.toUri().toString())
        .redirectError(dir.resolve("chromium.err").toFile())
        .redirectOutput(dir.resolve("dom.html").toFile()) // a pipe would fill up and block chromium
        .start();
    assertThat(p.waitFor(90, TimeUnit.SECONDS)).as("chromium finished").isTrue();
    return Files.readString(dir.resolve("dom.html"), StandardCharsets.UTF_8);
  }
}
