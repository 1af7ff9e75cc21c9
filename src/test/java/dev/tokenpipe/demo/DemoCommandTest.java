package dev.tokenpipe.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.cli.Cli;
import dev.tokenpipe.openai.Json;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code tokenpipe demo} end to end on real sockets with small numbers: the real NGINX when installed (required
 * when CI=true), and the emulation that takes its place when NGINX is missing or fails to start.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DemoCommandTest {
  /**
   * Small and fast, with a narrow TTFT spread so "before is worse" is structural, not luck: before, every first
   * token waits for the 11 after it (about 220 ms at 20 ms each, at least 150 ms); after, the slowest of 40 model
   * samples at 100ms/130ms is under 170 ms even four standard deviations out. At 100ms/300ms the slowest of 40
   * reached 415 ms in 27 runs against before's 450 ms floor, and CI once saw 777 against 449.
   */
  static final List<String> SMALL = List.of("-n", "40", "-c", "10", "--tokens", "12", "--short-tokens", "12", "--ttft", "100ms/130ms",
      "--itl", "20ms/40ms");

  @TempDir Path tmp;

  record Run(int exitCode, String out, String err, DemoCommand command) {
    String transcript() {
      return "exit " + exitCode + "\n" + out + err;
    }
  }

  static Run run(List<String> args) {
    DemoCommand command = new DemoCommand();
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cl = Cli.newCommandLine(command);
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    int code = cl.execute(args.toArray(String[]::new));
    System.out.println("[demo " + String.join(" ", args) + "] exit " + code + "\n" + out + err);
    return new Run(code, out.toString(), err.toString(), command);
  }

  private List<String> args(String... extra) {
    List<String> a = new ArrayList<>(SMALL);
    a.addAll(List.of("--html", tmp.resolve("demo.html").toString()));
    a.addAll(List.of(extra));
    return a;
  }

  @Test
  void realNginxBeforeIsBufferedAfterIsCleanAndEverythingIsStopped() throws Exception {
    boolean installed = NginxProcess.find().isPresent();
    if (!installed && "true".equals(System.getenv("CI"))) {
      fail("nginx is not installed (Debian package 'nginx') - but CI=true, where the demo must run the real NGINX");
    }
    Run run = run(args());

    assertThat(run.exitCode()).as(run.transcript()).isZero();
    assertStory(run);
    if (installed) {
      assertThat(run.command().started.emulated()).as(run.transcript()).isFalse();
      assertThat(run.out()).contains("nginx/").doesNotContain("EMULATION");
      long pid = run.command().started.nginxPid();
      assertThat(pid).isPositive();
      assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).as("nginx pid " + pid + " still alive").isFalse();
      assertThat(run.out()).contains("top finding: Whole response held until the end (NGINX)", "gzip");
    } else {
      assertThat(run.out()).contains("EMULATION");
    }
  }

  @Test
  void nginxThatFailsToStartFallsBackToTheLabelledEmulation() throws Exception {
    Run run = run(args("--nginx", "/bin/false"));

    assertThat(run.exitCode()).as(run.transcript()).isZero();
    assertThat(run.out()).contains("NGINX failed to start (nginx exited with 1 at start", "EMULATION", "EMULATED NGINX");
    assertThat(run.command().started.emulated()).isTrue();
    assertStory(run);
    assertThat(Files.readString(tmp.resolve("demo.html"))).contains("\"emulated\":true");
  }

  /**
   * The shortened demo with its default workload tells the story by the numbers: before, a median that looks fine
   * and a tail many times worse (>= 5x here, >= 10x in the full run); after, p99/p50 within 1.5x, the model's own
   * first-token spread being 1.1x. Progress is shown during each phase.
   */
  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void quickDemoShowsTheTailBeforeAndATightSpreadAfter() throws Exception {
    java.io.ByteArrayOutputStream progress = new java.io.ByteArrayOutputStream();
    java.io.PrintStream oldErr = System.err;
    System.setErr(new java.io.PrintStream(new TeeStream(progress, oldErr), true));
    Run run;
    try {
      run = run(List.of("--quick", "--html", tmp.resolve("quick.html").toString()));
    } finally {
      System.setErr(oldErr);
    }
    assertThat(run.exitCode()).as(run.transcript()).isZero();
    JsonNode t = run.command().table;
    double before = t.path("before").path("ttft_spread").asDouble();
    double after = t.path("after").path("ttft_spread").asDouble();
    assertThat(before).as(run.transcript()).isGreaterThanOrEqualTo(5.0);
    assertThat(after).as(run.transcript()).isLessThanOrEqualTo(1.5);
    assertThat(t.path("before").path("requests").asLong()).isEqualTo(200);
    assertThat(run.out()).contains("its own spread 1.10x").contains("the tail is").contains("the model's own first-token spread");
    String p = progress.toString();
    assertThat(p).contains("bench before: [").contains("bench after: [").contains("done");
  }

  /** Copies what is written to two streams (the captured progress, and the test log). */
  static final class TeeStream extends java.io.OutputStream {
    private final java.io.OutputStream a;
    private final java.io.OutputStream b;

    TeeStream(java.io.OutputStream a, java.io.OutputStream b) {
      this.a = a;
      this.b = b;
    }

    @Override
    public void write(int c) throws IOException {
      a.write(c);
      b.write(c);
    }

    @Override
    public void write(byte[] buf, int off, int len) throws IOException {
      a.write(buf, off, len);
      b.write(buf, off, len);
    }
  }

  @Test
  void badFlagsAreOneErrorLineAndExit64() {
    for (List<String> bad : List.of(List.of("-n", "0"), List.of("--bogus"), List.of("--ttft", "soon"),
        List.of("-c", "x"), List.of("--group-commit", "0ms"), List.of("--tokens", "0"),
        List.of("--html", "/etc/hostname/report.html"))) {
      Run run = run(bad);
      assertThat(run.exitCode()).as(run.transcript()).isEqualTo(64);
      assertThat(run.err().lines().filter(l -> !l.startsWith("Try ")).count()).as(run.transcript()).isEqualTo(1);
      assertThat(run.err()).startsWith("demo: ");
      if (bad.get(0).equals("--tokens")) {
        assertThat(run.err()).as("names the flag given").contains("--tokens must be at least 1");
      }
      if (bad.get(0).equals("--html")) { // before the run's minutes, not after them
        assertThat(run.err()).contains("cannot write /etc/hostname/report.html: no such directory /etc/hostname");
      }
      assertThat(run.out()).isEmpty();
      assertThat(run.command().started).isNull();
    }
  }

  /** The table, doctor's verdicts, the HTML page and the clean-up, the same on either path. */
  private void assertStory(Run run) throws IOException {
    String out = run.out();
    assertThat(out.lines().filter(l -> l.startsWith("  before ")).count()).as(out).isGreaterThanOrEqualTo(1);
    assertThat(out).containsPattern("(?m)^  before +[\\d.]+ ms +[\\d.]+ ms")
        .containsPattern("(?m)^  after +[\\d.]+ ms +[\\d.]+ ms")
        .contains("TTFT p50", "TTFT p99", "p99/p50", "ITL p99", "tokens/event", "errors", "after/before");

    JsonNode table = run.command().table;
    JsonNode before = table.get("before");
    JsonNode after = table.get("after");
    assertThat(before.get("errors").asLong()).isZero();
    assertThat(after.get("errors").asLong()).isZero();
    // Held to the end: every first token waits for the last one (12 tokens x 20 ms).
    assertThat(before.get("ttft_p99").asDouble()).as(() -> out + wayOfTheSlowest(run)).isGreaterThan(after.get("ttft_p99").asDouble());
    assertThat(before.get("ttft_p50").asDouble()).as(out).isGreaterThan(after.get("ttft_p50").asDouble() + 150);
    assertThat(before.get("delivery_p99").asDouble()).as(out).isGreaterThan(150);
    // Nothing held after: its p99 is scheduling noise (54 ms seen at load average 15 on 2 cores), far below before's.
    assertThat(after.get("delivery_p99").asDouble()).as(out).isLessThan(Math.min(150, before.get("delivery_p99").asDouble() / 3));

    assertThat(out).containsPattern("(?m)^  before +buffering found - ")
        .containsPattern("(?m)^  after +clean - ")
        .contains("top finding: ", "fix: ");

    Path html = tmp.resolve("demo.html");
    assertThat(html).exists();
    String page = Files.readString(html);
    assertThat(page).contains("\"runs\":{\"before\":{\"schema\":\"tokenpipe.bench/v1\"", "\"after\":{\"schema\":\"tokenpipe.bench/v1\"",
        "\"doctor\":{\"before\":", "uPlot");

    DemoCommand.Started started = run.command().started;
    for (int port : started.ports()) {
      assertThat(accepts(port)).as("port " + port + " still open after the demo").isFalse();
    }
    assertThat(started.tempDir()).doesNotExist();
  }

  /**
   * Where the slowest first token of each run spent its time, from bench's emission stamps: the way in
   * ({@code first_emitted}), the model's own wait ({@code ttft_emitted}) and bench's own loop stalls, so that a
   * failed comparison says which layer was slow.
   */
  private String wayOfTheSlowest(Run run) {
    StringBuilder s = new StringBuilder("\nslowest first token (max, ms):");
    try {
      String page = Files.readString(tmp.resolve("demo.html"));
      JsonNode runs = dev.tokenpipe.openai.Json.MAPPER.readTree(new java.io.StringReader(page.substring(page.indexOf("\"runs\":") + 7)));
      for (String side : List.of("before", "after")) {
        JsonNode m = runs.path(side).path("metrics");
        s.append(String.format(java.util.Locale.ROOT, "%n  %-6s ttft %.1f, emitted by the sim at %.1f, of it the way in %.1f; bench loop stall %.1f", side,
            m.path("ttft").path("max").asDouble(), m.path("ttft_emitted").path("max").asDouble(),
            m.path("first_emitted").path("max").asDouble(), m.path("loop_lag").path("max").asDouble()));
      }
    } catch (IOException | RuntimeException e) {
      s.append(" unavailable (").append(e).append(')');
    }
    return s.toString();
  }

  private static boolean accepts(int port) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 300);
      return true;
    } catch (IOException closed) {
      return false;
    }
  }

  @Test
  void failedRequestsOnEitherPathAreSaidNotHiddenBehindTheTable() {
    assertThat(DemoCommand.errorWarnings(0, 0, 200)).isEmpty();
    assertThat(DemoCommand.errorWarnings(0, 22, 200)).containsExactly(
        "  WARNING: 22 of 200 requests on the after path failed (error classes in the report);"
            + " the figures above cover only the ones that succeeded.");
    assertThat(DemoCommand.errorWarnings(3, 1, 40)).hasSize(2).first().asString().contains("3 of 40 requests on the before path");
  }

  /**
   * The text under the table tells what the numbers show and nothing more. A fresh user ran the demo with answers of
   * one length (12 and 12 tokens): before's p99/p50 was 1.07x, and the demo still printed "the median looks fine,
   * the tail is 1x the median ... the long one in 20 for all 12".
   */
  @Test
  void theStoryUnderTheTableFollowsTheNumbers() throws Exception {
    // The usual run: a short answer held a little, the long one in 20 a lot.
    JsonNode usual = DemoTable.json(DemoTableTest.bench(720, 10_800, 0.02, 9_000, 0), DemoTableTest.bench(610, 680, 24, 1.2, 0));
    assertThat(String.join("\n", DemoCommand.story(usual.path("before"), usual.path("after"), 4, 500, "50ms")))
        .contains("the median looks fine, the tail is 15x the median").contains("the long one in 20 for all 500");

    // Answers of one length: held alike, so the median moves and the tail ratio does not.
    JsonNode oneLength = DemoTable.json(DemoTableTest.bench(420, 450, 0.02, 300, 0), DemoTableTest.bench(105, 125, 24, 1.2, 0));
    String text = String.join("\n", DemoCommand.story(oneLength.path("before"), oneLength.path("after"), 12, 12, "50ms"));
    assertThat(text).contains("the median itself is held: TTFT p50 420 ms against 105 ms after")
        .contains("Every answer here is 12 tokens").doesNotContain("median looks fine").doesNotContain("the long one");

    // A fresh user's run: a 600 ms model, answers of one length, the median 240 ms later (1.39x), held p99 277 ms.
    JsonNode later = DemoTable.json(DemoTableTest.bench(856, 909, 0, 277, 0), DemoTableTest.bench(616, 658, 36.5, 14.7, 0));
    assertThat(String.join("\n", DemoCommand.story(later.path("before"), later.path("after"), 12, 12, "50ms")))
        .contains("the median itself is held: TTFT p50 856 ms against 616 ms after");

    // Tokens held but not the first ones: said, with the held p99.
    JsonNode tokensOnly = DemoTable.json(DemoTableTest.bench(620, 680, 0, 277, 0), DemoTableTest.bench(610, 670, 24, 14.7, 0));
    assertThat(DemoCommand.story(tokensOnly.path("before"), tokensOnly.path("after"), 4, 500, "50ms"))
        .singleElement().asString().contains("tokens were held (held p99 277 ms against 15 ms after)");

    // Nothing held in this run: no story, a pointer to doctor.
    JsonNode none = DemoTable.json(DemoTableTest.bench(110, 130, 24, 1, 0), DemoTableTest.bench(105, 125, 24, 1.2, 0));
    assertThat(DemoCommand.story(none.path("before"), none.path("after"), 4, 500, "50ms"))
        .singleElement().asString().contains("this run does not show the buffering").contains("doctor");

    // No successful request on a path: nothing to compare.
    JsonNode empty = Json.MAPPER.readTree("{\"totals\":{\"requests\":3,\"errors\":3},\"metrics\":{}}");
    JsonNode failed = DemoTable.json(empty, DemoTableTest.bench(105, 125, 24, 1.2, 0));
    assertThat(DemoCommand.story(failed.path("before"), failed.path("after"), 4, 500, "50ms"))
        .singleElement().asString().contains("no TTFT to compare");
  }

  /**
   * The after line says the after path's tail is the model's own spread only when the table shows it: before, a run
   * whose after p99/p50 was 3x still read "the model's own first-token spread (1.10x): every token is passed on as
   * it comes", and a path whose requests all failed "p99/p50 -1.00x".
   */
  @Test
  void theAfterLineFollowsTheNumbers() throws Exception {
    JsonNode before = DemoTableTest.bench(720, 10_800, 0.02, 9_000, 0);
    JsonNode usual = DemoTable.json(before, DemoTableTest.bench(610, 680, 24, 1.2, 0));
    assertThat(DemoCommand.afterLine(usual.path("after"), "600ms/660ms", 0))
        .isEqualTo("  after:  p99/p50 1.11x, the model's own first-token spread (1.10x): every token is passed on as it comes.");

    JsonNode wide = DemoTable.json(before, DemoTableTest.bench(610, 1_830, 24, 1.2, 0));
    assertThat(DemoCommand.afterLine(wide.path("after"), "600ms/660ms", 0))
        .startsWith("  after:  p99/p50 3.00x, wider than the model's own first-token spread (1.10x)")
        .doesNotContain("every token is passed on");
    // A model whose own spread is wide: the same 3x is its own.
    assertThat(DemoCommand.afterLine(wide.path("after"), "300ms/1500ms", 0)).contains("the model's own first-token spread (5.00x)")
        .doesNotContain("wider");

    JsonNode empty = Json.MAPPER.readTree("{\"totals\":{\"requests\":3,\"errors\":3},\"metrics\":{}}");
    JsonNode failed = DemoTable.json(before, empty);
    assertThat(DemoCommand.afterLine(failed.path("after"), "600ms/660ms", 3)).isEqualTo("  after:  no TTFT to compare (see the errors above).");
  }
}
