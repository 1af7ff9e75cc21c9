package dev.tokenpipe.bench;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The human summary, printed from the JSON result so a saved run prints the same way. */
final class Summary {
  private static final List<String[]> ROWS = List.of(
      new String[] {"ttfb", "TTFB"},
      new String[] {"ttft", "TTFT"},
      new String[] {"ttft_reasoning", "TTFT reasoning"},
      new String[] {"itl", "ITL (gaps)"},
      new String[] {"tpot", "TPOT"},
      new String[] {"e2e", "E2E"},
      new String[] {"one_way_delay", "delivery delay"},
      new String[] {"first_emitted", "first emission"},
      new String[] {"ttft_emitted", "TTFT at server"},
      new String[] {"itl_emitted", "ITL at server"},
      new String[] {"dispatch_lag", "dispatch lag"},
      new String[] {"connect", "connect"});

  private Summary() {}

  /** The streams a closed-loop run keeps open: {@code -c}, or fewer when {@code -n} is smaller (then it says so). */
  static String closedLoopStreams(JsonNode config) {
    int c = config.path("concurrency").asInt();
    long n = config.path("requests").asLong();
    if (n > 0 && n < c) {
      return n + (n == 1 ? " stream" : " streams") + " (-n " + n + " < -c " + c + ")";
    }
    return c + (c == 1 ? " stream" : " streams");
  }

  static void print(JsonNode r, PrintWriter out) {
    JsonNode c = r.path("config");
    JsonNode t = r.path("totals");
    String mode = c.path("mode").asText().equals("open")
        ? String.format(Locale.ROOT, "open loop %.1f req/s %s, max %d streams", c.path("rate_per_s").asDouble(),
            c.path("arrival").asText() + (c.path("arrival").asText().equals("gamma") ? " burstiness " + num(c.path("burstiness").asDouble()) : ""),
            c.path("concurrency").asInt())
        : "closed loop, " + closedLoopStreams(c);
    out.printf(Locale.ROOT, "tokenpipe bench  %s %s  (%s, %s)%s%n", c.path("method").asText(), c.path("url").asText(),
        mode, r.path("tool").path("transport").asText(), r.path("interrupted").asBoolean() ? "  [INTERRUPTED: partial results]"
            : r.has("refused") ? "  [STOPPED: requests refused]"
            : r.has("unreachable") ? "  [STOPPED: target unreachable]"
            : r.has("overloaded") ? "  [STOPPED: arrivals queued]" : "");
    if (c.hasNonNull("model")) {
      String source = c.path("model_source").asText("");
      String api = c.path("api").asText("");
      out.printf(Locale.ROOT, "  model     %s%s%s%n", c.path("model").asText(), source.isEmpty() ? "" : " (" + source + ")",
          api.isEmpty() ? "" : ", api " + api);
    }
    long reqs = t.path("requests").asLong();
    boolean offered = t.has("offered_rate_per_s");
    // Open loop: the measured time is the sending window plus the drain of the streams still running when sending
    // stopped, so the completed rate is below the offered one even when every arrival went out on time.
    String window = offered ? String.format(Locale.ROOT, " (sending %.2f s + drain %.2f s)", t.path("send_window_s").asDouble(),
        Math.max(0, t.path("duration_s").asDouble() - t.path("send_window_s").asDouble())) : "";
    out.printf(Locale.ROOT, "  requests  %d ok, %d errors (%.1f%%)%s in %.2f s%s, %.1f req/s succeeded%n",
        t.path("ok").asLong(), t.path("errors").asLong(), reqs == 0 ? 0 : 100.0 * t.path("errors").asLong() / reqs,
        t.path("cancelled").asLong() > 0 ? ", " + t.path("cancelled").asLong() + " cancelled" : "",
        t.path("duration_s").asDouble(), window, t.path("requests_per_s").asDouble());
    if (offered) {
      String arrival = c.path("arrival").asText();
      out.printf(Locale.ROOT, "  offered   %d sent in %.2f s, %.1f req/s (--rate %.1f %s)%n", t.path("sent").asLong(),
          t.path("send_window_s").asDouble(), t.path("offered_rate_per_s").asDouble(), c.path("rate_per_s").asDouble(), arrival);
    }
    if (t.path("ok").asLong() == 0) {
      // Nothing succeeded: no token line, no latency table, no comparisons, no self-check; the errors are the story.
      printErrors(r, out);
      printSlo(r, out);
      return;
    }
    JsonNode tpe = r.path("metrics").path("tokens_per_event");
    out.printf(Locale.ROOT, "  tokens    %d output tokens (source: %s), %.1f tokens/s, tokens per event p50 %s max %s%n",
        t.path("output_tokens").asLong(), r.path("output_tokens_source").path("primary").asText(),
        t.path("output_tokens_per_s").asDouble(), num(tpe.path("p50").asDouble()), num(tpe.path("max").asDouble()));
    out.println();
    out.printf(Locale.ROOT, "  %-15s %9s %9s %9s %9s %9s %9s %9s %8s%n", "(ms)", "p50", "p90", "p95", "p99", "p99.9", "max", "mean", "count");
    for (String[] row : ROWS) {
      JsonNode m = r.path("metrics").path(row[0]);
      if (m.path("count").asLong() == 0) {
        continue;
      }
      out.printf(Locale.ROOT, "  %-15s %9s %9s %9s %9s %9s %9s %9s %8d%n", row[1], ms(m, "p50"), ms(m, "p90"), ms(m, "p95"),
          ms(m, "p99"), ms(m, "p99_9"), ms(m, "max"), ms(m, "mean"), m.path("count").asLong());
    }
    printErrors(r, out);
    printSlo(r, out);
    boolean header = false;
    for (Map.Entry<String, JsonNode> entry : r.path("equivalents").properties()) {
      JsonNode e = entry.getValue();
      if (e.path("p50").asDouble() == 0 && e.path("p99").asDouble() == 0) {
        continue;
      }
      if (!header) {
        out.println();
        out.println("  same run in other tools' terms (p50 / p99 ms):");
        header = true;
      }
      out.printf(Locale.ROOT, "    %-72s %s / %s%n", e.path("meaning").asText(), num(e.path("p50").asDouble()),
          num(e.path("p99").asDouble()));
    }
    JsonNode s = r.path("self_check");
    out.println();
    out.printf(Locale.ROOT, "  self-check: event-loop lag p99 %s ms (max %s), CPU %.0f%% of %d cores -> %s%n",
        num(s.path("loop_lag_p99_ms").asDouble()), num(s.path("loop_lag_max_ms").asDouble()),
        100 * Math.max(0, s.path("cpu_share_of_cores").asDouble()), s.path("cores").asInt(),
        s.path("generator_bound").asBoolean()
            ? "WARNING: the generator may be the bottleneck (" + join(s.path("reasons")) + ")"
            : s.has("reference_metric")
                ? String.format(Locale.ROOT, "ok (%.1f%% of the %s p50, warns above %.0f%%)",
                    100 * s.path("lag_share_of_reference").asDouble(), s.path("reference_metric").asText().toUpperCase(Locale.ROOT),
                    SelfCheck.LAG_SHARE_LIMIT * 100)
                : "ok");
  }

  static void printSlo(JsonNode r, PrintWriter out) {
    JsonNode slo = r.path("slo");
    if (slo.isMissingNode()) {
      return;
    }
    out.println();
    out.printf(Locale.ROOT, "  SLO %s -> %s%n", slo.path("spec").asText(), slo.path("met").asBoolean() ? "MET" : "NOT MET");
    for (JsonNode t : slo.path("targets")) {
      // No observed value: the target's percentile falls on failed requests, which meet no target.
      out.printf(Locale.ROOT, "    %-22s observed %12s  attainment %6.2f%%  %s%n", t.path("target").asText(),
          t.path("observed_ms").isNumber() ? num(t.path("observed_ms").asDouble()) + " ms" : "failed",
          100 * t.path("attainment").asDouble(), t.path("met").asBoolean() ? "ok" : "MISSED");
    }
    out.printf(Locale.ROOT, "  goodput   %.2f req/s met every target (%d of %d requests, %.2f%%)%n", slo.path("goodput_per_s").asDouble(),
        slo.path("requests_met_all").asLong(), slo.path("requests").asLong(), 100 * slo.path("attainment").asDouble());
  }

  private static void printErrors(JsonNode r, PrintWriter out) {
    JsonNode errors = r.path("errors");
    if (errors.size() > 0) {
      out.println();
      out.println("  errors:");
      for (Map.Entry<String, JsonNode> e : errors.properties()) {
        out.printf(Locale.ROOT, "    %-14s %6d  e.g. %s%n", e.getKey(), e.getValue().asLong(),
            r.path("error_samples").path(e.getKey()).asText());
      }
    }
  }

  private static String join(JsonNode arr) {
    StringBuilder b = new StringBuilder();
    for (JsonNode n : arr) {
      b.append(b.isEmpty() ? "" : "; ").append(n.asText());
    }
    return b.toString();
  }

  private static String ms(JsonNode m, String key) {
    return num(m.path(key).asDouble());
  }

  static String num(double v) {
    if (v == Math.rint(v) && Math.abs(v) < 1e6) {
      return String.valueOf((long) v);
    }
    if (Math.abs(v) >= 100) {
      return String.format(Locale.ROOT, "%.1f", v);
    }
    if (Math.abs(v) >= 1) {
      return String.format(Locale.ROOT, "%.2f", v);
    }
    return String.format(Locale.ROOT, "%.3f", v);
  }
}
