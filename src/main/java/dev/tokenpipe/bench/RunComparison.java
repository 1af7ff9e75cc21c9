package dev.tokenpipe.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.cli.Cli;
import dev.tokenpipe.cli.FileProblem;
import dev.tokenpipe.openai.Json;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.HdrHistogram.Histogram;

/**
 * Two results side by side. Percentiles and ratios come from the saved summaries; the confidence intervals
 * from a bootstrap over the saved per-request rows: resample each run's requests with replacement, take the
 * median of each resample, and read the 2.5th and 97.5th percentiles of B's median minus A's. An interval
 * that excludes 0 is a statement that the medians differ, not a guess. Medians are read from histograms
 * (microsecond resolution), never by sorting samples.
 */
final class RunComparison {
  private static final String[][] ROWS = {
    {"ttft", "p50"}, {"ttft", "p90"}, {"ttft", "p99"}, {"ttft", "p99_9"},
    {"itl", "p50"}, {"itl", "p99"}, {"itl", "p99_9"},
    {"tpot", "p50"}, {"tpot", "p99"}, {"e2e", "p50"}, {"e2e", "p99"},
    {"one_way_delay", "p50"}, {"one_way_delay", "p99"}, {"tokens_per_event", "p50"},
  };

  /** One row: the label column fits the widest label, "tokens_per_event p50 (tokens)". */
  private static final String ROW = "  %-30s %12s %12s %10s%n";

  private RunComparison() {}

  static JsonNode load(Path p) {
    JsonNode n;
    try {
      n = Json.MAPPER.readTree(java.nio.file.Files.readAllBytes(p)); // nio: its exceptions name the problem
    } catch (IOException e) {
      // The files named are the command's input: one that cannot be read, or is not a result, is bad usage (64).
      String why = e instanceof com.fasterxml.jackson.core.JacksonException je ? je.getOriginalMessage() : FileProblem.reason(e);
      throw Cli.usage("cannot read " + p + ": " + String.valueOf(why).lines().findFirst().orElse(""));
    }
    if (n == null || !n.path("schema").asText().startsWith("tokenpipe.bench/")) {
      throw Cli.usage(p + " is not a tokenpipe bench result (no \"schema\": \"tokenpipe.bench/v1\")");
    }
    return n;
  }

  static void print(JsonNode a, JsonNode b, String nameA, String nameB, int resamples, long seed, PrintWriter out) {
    out.printf(Locale.ROOT, "A = %s  (%s)%nB = %s  (%s)%n%n", nameA, a.path("config").path("url").asText(), nameB,
        b.path("config").path("url").asText());
    notRunToItsEnd("A", a, out);
    noneSucceeded("A", a, out);
    notRunToItsEnd("B", b, out);
    noneSucceeded("B", b, out);
    out.printf(Locale.ROOT, ROW, "metric", "A", "B", "B/A");
    for (String[] row : ROWS) {
      JsonNode ma = a.path("metrics").path(row[0]);
      JsonNode mb = b.path("metrics").path(row[0]);
      if (ma.path("count").asLong() == 0 && mb.path("count").asLong() == 0) {
        continue;
      }
      double va = ma.path(row[1]).asDouble();
      double vb = mb.path(row[1]).asDouble();
      String unit = ma.path("unit").asText(mb.path("unit").asText("ms"));
      // A run without samples of a metric has no value for it: its 0 would read as infinitely fast.
      boolean hasA = ma.path("count").asLong() > 0;
      boolean hasB = mb.path("count").asLong() > 0;
      out.printf(Locale.ROOT, ROW, row[0] + " " + row[1].replace('_', '.') + " (" + unit + ")",
          hasA ? Summary.num(va) : "-", hasB ? Summary.num(vb) : "-", hasA && hasB ? ratio(va, vb) : "-");
    }
    for (String[] t : new String[][] {{"requests_per_s", "req/s"}, {"output_tokens_per_s", "tokens/s"}, {"error_rate", "error rate"}}) {
      double va = a.path("totals").path(t[0]).asDouble();
      double vb = b.path("totals").path(t[0]).asDouble();
      out.printf(Locale.ROOT, ROW, t[1], Summary.num(va), Summary.num(vb), ratio(va, vb));
    }
    out.println();
    SplittableRandom random = new SplittableRandom(seed);
    bootstrapLine("TTFT p50", values(a, "ttft_ms"), values(b, "ttft_ms"), resamples, random, out);
    bootstrapLine("ITL p50 (per-request mean ITL)", values(a, "itl_mean_ms"), values(b, "itl_mean_ms"), resamples, random, out);
  }

  /**
   * One line above the table for a run that stopped before its end (Ctrl-C, or refused or unreachable from the
   * start): its numbers are partial, which the table alone does not show.
   */
  private static void notRunToItsEnd(String name, JsonNode run, PrintWriter out) {
    if (run.path("interrupted").asBoolean(false)) {
      out.printf(Locale.ROOT, "%s: interrupted: partial results (%d requests cancelled)%n", name,
          run.path("totals").path("cancelled").asLong());
    }
    for (String stop : new String[] {"refused", "unreachable", "overloaded"}) {
      if (run.hasNonNull(stop)) {
        out.printf(Locale.ROOT, "%s: stopped: %s%n", name, run.path(stop).asText());
      }
    }
  }

  /** One line above the table for a run with no successful request: its latency rows are empty, not zero. */
  private static void noneSucceeded(String name, JsonNode run, PrintWriter out) {
    JsonNode t = run.path("totals");
    if (t.path("ok").asLong() == 0) {
      out.printf(Locale.ROOT, "%s: no request succeeded (%d of %d failed): its latencies are missing, not zero%n", name,
          t.path("errors").asLong(), t.path("requests").asLong());
    }
  }

  private static String ratio(double a, double b) {
    return a == 0 ? "-" : String.format(Locale.ROOT, "%.2fx", b / a);
  }

  /** The non-negative values of {@code field} over successful requests, in microseconds. */
  static long[] values(JsonNode run, String field) {
    List<Long> v = new ArrayList<>();
    for (JsonNode r : run.path("requests")) {
      double ms = r.path(field).asDouble(-1);
      if (r.path("outcome").asText().equals("ok") && ms >= 0) {
        v.add(Math.round(ms * 1000));
      }
    }
    return v.stream().mapToLong(Long::longValue).toArray();
  }

  /**
   * Requests each run needs for a confidence interval. A bootstrap of a median resamples the run's own values: with 3
   * requests there are a handful of possible medians, and the interval they make says nothing (bench compare of two
   * 3-request runs printed a CI and "no significant difference").
   */
  static final int MIN_SAMPLES = 10;

  private static void bootstrapLine(String what, long[] a, long[] b, int resamples, SplittableRandom random, PrintWriter out) {
    if (a.length < MIN_SAMPLES || b.length < MIN_SAMPLES) {
      out.printf(Locale.ROOT, "  %s: too few requests for a confidence interval (%d and %d; at least %d each)%n", what,
          a.length, b.length, MIN_SAMPLES);
      return;
    }
    double[] ci = bootstrapMedianDifference(a, b, resamples, random);
    String verdict = ci[1] > 0 ? "B is slower" : ci[2] < 0 ? "B is faster" : "no significant difference";
    out.printf(Locale.ROOT, "  %s difference B-A: %s ms, 95%% CI [%s, %s] ms -> %s%n", what, Summary.num(ci[0]),
        Summary.num(ci[1]), Summary.num(ci[2]), verdict);
  }

  /** {observed difference, CI low, CI high} of median(B) - median(A), in ms. */
  static double[] bootstrapMedianDifference(long[] a, long[] b, int resamples, SplittableRandom random) {
    Histogram ha = new Histogram(3);
    Histogram hb = new Histogram(3);
    Histogram diffs = new Histogram(3);
    Histogram negDiffs = new Histogram(3);
    long medianA = median(a, ha);
    double observed = median(b, hb) - medianA;
    for (int i = 0; i < resamples; i++) {
      long ma = resampleMedian(a, ha, random);
      long mb = resampleMedian(b, hb, random);
      long d = mb - ma;
      if (d >= 0) {
        diffs.recordValue(d);
      } else {
        negDiffs.recordValue(-d);
      }
    }
    return new double[] {observed / 1000.0, quantile(diffs, negDiffs, 0.025) / 1000.0, quantile(diffs, negDiffs, 0.975) / 1000.0};
  }

  private static long median(long[] v, Histogram h) {
    h.reset();
    for (long x : v) {
      h.recordValue(x);
    }
    return h.getValueAtPercentile(50);
  }

  private static long resampleMedian(long[] v, Histogram h, SplittableRandom random) {
    h.reset();
    for (int i = 0; i < v.length; i++) {
      h.recordValue(v[random.nextInt(v.length)]);
    }
    return h.getValueAtPercentile(50);
  }

  /** The q-quantile of a signed distribution kept as a histogram of non-negative and one of negated negative values. */
  private static double quantile(Histogram pos, Histogram neg, double q) {
    long total = pos.getTotalCount() + neg.getTotalCount();
    double negShare = (double) neg.getTotalCount() / total;
    if (q < negShare) {
      // among the negatives, ordered from most negative: the (q/negShare) quantile from the top of |neg|
      double inNeg = 1 - q / negShare;
      return -neg.getValueAtPercentile(Math.max(0, Math.min(100, inNeg * 100)));
    }
    double inPos = (q - negShare) / (1 - negShare);
    return pos.getValueAtPercentile(Math.max(0, Math.min(100, inPos * 100)));
  }
}
