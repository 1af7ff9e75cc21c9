package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokenpipe.openai.Json;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

/**
 * {@code bench compare} against a run that measured nothing: before, a run whose 5 requests all failed to connect
 * compared as "ttft p50 (ms) 101.4 0 0.00x", a B that looked a hundred times faster, when it has no TTFT at all.
 */
class RunComparisonTest {
  private static ObjectNode run(long ok, long errors, double ttftP50) {
    ObjectNode r = Json.MAPPER.createObjectNode();
    r.put("schema", BenchReport.SCHEMA);
    r.putObject("config").put("url", "http://127.0.0.1:8000/v1/chat/completions");
    r.putObject("totals").put("requests", ok + errors).put("ok", ok).put("errors", errors)
        .put("requests_per_s", ok > 0 ? 10.0 : 0).put("output_tokens_per_s", ok > 0 ? 200.0 : 0)
        .put("error_rate", ok + errors == 0 ? 0 : (double) errors / (ok + errors));
    ObjectNode ttft = r.putObject("metrics").putObject("ttft").put("unit", "ms").put("count", ok);
    for (String p : new String[] {"p50", "p90", "p99", "p99_9"}) {
      ttft.put(p, ok > 0 ? ttftP50 : 0);
    }
    r.putArray("requests");
    return r;
  }

  private static String compare(ObjectNode a, ObjectNode b) {
    StringWriter out = new StringWriter();
    RunComparison.print(a, b, "a.json", "b.json", 100, 1, new PrintWriter(out, true));
    return out.toString();
  }

  @Test
  void aMetricARunDidNotMeasureIsShownAsMissingNotAsZero() {
    String out = compare(run(20, 0, 101.4), run(0, 5, 0));

    assertThat(out).as(out).containsPattern("ttft p50 \\(ms\\)\\s+101\\.4\\s+-\\s+-\\n")
        .containsPattern("req/s\\s+10\\s+0\\s+0\\.00x\\n"); // throughput was measured: none
    assertThat(out).contains("B: no request succeeded (5 of 5 failed): its latencies are missing, not zero");
    String reversed = compare(run(0, 5, 0), run(20, 0, 101.4));
    assertThat(reversed).as(reversed).containsPattern("ttft p50 \\(ms\\)\\s+-\\s+101\\.4\\s+-\\n")
        .contains("A: no request succeeded (5 of 5 failed)");
  }

  private static ObjectNode withRequests(ObjectNode run, double... ttftMs) {
    for (double ms : ttftMs) {
      ((com.fasterxml.jackson.databind.node.ArrayNode) run.get("requests")).addObject().put("outcome", "ok")
          .put("ttft_ms", ms).put("itl_mean_ms", 10.0);
    }
    return run;
  }

  @Test
  void threeRequestsAEachMakeNoConfidenceInterval() {
    String out = compare(withRequests(run(3, 0, 100), 99, 100, 101), withRequests(run(3, 0, 100), 100, 101, 102));

    assertThat(out).as(out).contains("TTFT p50: too few requests for a confidence interval (3 and 3; at least 10 each)")
        .doesNotContain("95% CI").doesNotContain("no significant difference");
  }

  @Test
  void tenRequestsEachDo() {
    double[] a = {100, 101, 99, 100, 102, 98, 100, 101, 99, 100};
    double[] b = {150, 151, 149, 150, 152, 148, 150, 151, 149, 150};
    String out = compare(withRequests(run(10, 0, 100), a), withRequests(run(10, 0, 150), b));

    assertThat(out).as(out).contains("TTFT p50 difference B-A").contains("95% CI").contains("B is slower");
  }

  @Test
  void twoMeasuredRunsStillCompareWithRatios() {
    String out = compare(run(20, 0, 100), run(20, 0, 150));

    assertThat(out).as(out).containsPattern("ttft p50 \\(ms\\)\\s+100\\s+150\\s+1\\.50x\\n")
        .doesNotContain("no request succeeded");
  }

  @Test
  void everyRowsValuesStartInTheSameColumn() {
    // "tokens_per_event p50 (tokens)" is wider than the label column was: its A and B sat 7 characters right of
    // every other row's.
    ObjectNode a = run(20, 0, 100);
    ObjectNode b = run(20, 0, 150);
    for (ObjectNode r : new ObjectNode[] {a, b}) {
      ((ObjectNode) r.get("metrics")).putObject("tokens_per_event").put("unit", "tokens").put("count", 20).put("p50", 1);
    }
    String out = compare(a, b);

    java.util.List<String> rows = out.lines().filter(l -> l.startsWith("  ") && !l.contains("confidence")).toList();
    assertThat(rows).as(out).anyMatch(l -> l.contains("tokens_per_event p50 (tokens)"));
    java.util.Set<Integer> ends = new java.util.HashSet<>();
    for (String l : rows) {
      ends.add(l.length()); // right-aligned columns: the same width, the same end
    }
    assertThat(ends).as(out).hasSize(1);
  }

  @Test
  void aRunThatDidNotRunToItsEndSaysSoAboveTheTable() {
    // An interrupted run (Ctrl-C) or one stopped for refusals compared as though it had run its course.
    ObjectNode interrupted = run(10, 0, 100).put("interrupted", true);
    ((ObjectNode) interrupted.get("totals")).put("cancelled", 10);
    ObjectNode refused = run(0, 8, 0).put("refused", "the first 8 requests were all refused: HTTP 404: Invalid URL (POST /)");
    ObjectNode unreachable = run(0, 5, 0).put("unreachable", "no connection in the first 2 s: connection refused: 127.0.0.1:8000");

    String out = compare(interrupted, run(20, 0, 100));
    assertThat(out).as(out).contains("A: interrupted: partial results (10 requests cancelled)")
        .doesNotContain("B: interrupted");
    assertThat(compare(run(20, 0, 100), refused)).contains(
        "B: stopped: the first 8 requests were all refused: HTTP 404: Invalid URL (POST /)");
    assertThat(compare(unreachable, run(20, 0, 100))).contains(
        "A: stopped: no connection in the first 2 s: connection refused: 127.0.0.1:8000");
    assertThat(compare(run(20, 0, 100), run(20, 0, 100))).doesNotContain("interrupted").doesNotContain("stopped");
  }
}
