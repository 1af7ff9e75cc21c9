package dev.tokenpipe.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokenpipe.openai.Json;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code bench --sweep rate:2,4,8,16} or {@code --sweep concurrency:1..64}: the capacity question. Runs one
 * measured step per load, in order, each on fresh connections with its own warm-up (the run's {@code --warmup},
 * else {@value #DEFAULT_WARMUP_SECONDS} s) and the run's {@code -n}/{@code -z}; stops after the first step whose
 * SLO does not hold (see {@link Slo}); reports the highest load that met every target. Latency is measured
 * exactly as in a single run (open loop: from the intended send time).
 *
 * @param dimension {@code rate} (open loop, req/s) or {@code concurrency} (closed loop, streams)
 * @param loads     the steps, ascending
 */
record Sweep(String dimension, List<Double> loads) {
  static final int DEFAULT_WARMUP_SECONDS = 1;
  static final int MAX_STEPS = 64;

  /** {@code rate:2,4,8}, {@code concurrency:1,2,4}, or {@code A..B} for A, 2A, 4A, ... up to B. */
  static Sweep parse(String spec) {
    int colon = spec.indexOf(':');
    String dim = colon < 0 ? "" : spec.substring(0, colon).strip().toLowerCase(Locale.ROOT);
    if (!dim.equals("rate") && !dim.equals("concurrency")) {
      throw new IllegalArgumentException("--sweep must be rate:LIST or concurrency:LIST, e.g. rate:2,4,8 or concurrency:1..64");
    }
    String list = spec.substring(colon + 1).strip();
    List<Double> loads = new ArrayList<>();
    try {
      if (list.contains("..")) {
        String[] ab = list.split("\\.\\.", 2);
        double a = Double.parseDouble(ab[0].strip());
        double b = Double.parseDouble(ab[1].strip());
        if (!(a > 0) || b < a) {
          throw new IllegalArgumentException("--sweep: A..B needs 0 < A <= B");
        }
        for (double x = a; x <= b * (1 + 1e-9) && loads.size() < MAX_STEPS; x *= 2) {
          loads.add(x);
        }
      } else {
        for (String s : list.split(",")) {
          loads.add(Double.parseDouble(s.strip()));
        }
      }
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--sweep: not a number in '" + list + "'");
    }
    if (loads.isEmpty() || loads.size() > MAX_STEPS) {
      throw new IllegalArgumentException("--sweep: 1 to " + MAX_STEPS + " steps");
    }
    for (int i = 0; i < loads.size(); i++) {
      double x = loads.get(i);
      if (dim.equals("rate") && Arrivals.rateProblem(x) != null) {
        throw new IllegalArgumentException("--sweep: rate steps " + Arrivals.rateProblem(x) + ", not "
            + (x == Math.rint(x) && Math.abs(x) < 1e18 ? String.valueOf((long) x) : String.valueOf(x)));
      }
      if (!(x > 0) || (dim.equals("concurrency") && x != Math.rint(x))) {
        throw new IllegalArgumentException("--sweep: " + dim + " steps must be whole numbers >= 1");
      }
      if (i > 0 && x <= loads.get(i - 1)) {
        throw new IllegalArgumentException("--sweep: steps must increase");
      }
    }
    return new Sweep(dim, List.copyOf(loads));
  }

  boolean byRate() {
    return dimension.equals("rate");
  }

  /** The run at step {@code load}: rate steps keep {@code -c} as the cap on streams in flight. */
  BenchConfig step(BenchConfig base, double load) {
    BenchConfig c = byRate() ? base.withLoad(load, base.concurrency()) : base.withLoad(0, (int) load);
    if (c.warmupNanos() == 0 && c.warmupRequests() == 0) {
      c = c.withWarmup(DEFAULT_WARMUP_SECONDS * 1_000_000_000L);
    }
    return c;
  }

  /** One step's line in the sweep table and chart. */
  static ObjectNode stepSummary(double load, JsonNode r) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("load", load);
    o.put("requests", r.path("totals").path("requests").asLong());
    o.put("ok", r.path("totals").path("ok").asLong());
    o.put("errors", r.path("totals").path("errors").asLong());
    if (r.has("refused")) {
      o.put("refused", r.path("refused").asText()); // the step stopped: its first requests were all refused
    }
    if (r.has("unreachable")) {
      o.put("unreachable", r.path("unreachable").asText()); // the step stopped: it never connected
    }
    if (r.has("overloaded")) {
      o.put("overloaded", r.path("overloaded").asText()); // the step stopped: its queue of arrivals was full
    }
    o.put("requests_per_s", r.path("totals").path("requests_per_s").asDouble());
    if (r.path("totals").has("offered_rate_per_s")) {
      o.put("offered_rate_per_s", r.path("totals").path("offered_rate_per_s").asDouble());
    }
    o.put("output_tokens_per_s", r.path("totals").path("output_tokens_per_s").asDouble());
    for (String m : List.of("ttft", "itl", "tpot", "e2e")) {
      JsonNode s = r.path("metrics").path(m);
      o.putObject(m).put("p50", s.path("p50").asDouble()).put("p90", s.path("p90").asDouble()).put("p99", s.path("p99").asDouble());
    }
    JsonNode slo = r.path("slo");
    if (slo.isMissingNode()) {
      // No target to miss: every request that succeeded met them all (the table said goodput 0, 0 % beside "met").
      long requests = r.path("totals").path("requests").asLong();
      o.put("goodput_per_s", r.path("totals").path("requests_per_s").asDouble());
      o.put("attainment", requests == 0 ? 0 : r.path("totals").path("ok").asLong() / (double) requests);
    } else {
      o.put("goodput_per_s", slo.path("goodput_per_s").asDouble());
      o.put("attainment", slo.path("attainment").asDouble());
    }
    o.put("slo_met", slo.isMissingNode() ? r.path("totals").path("ok").asLong() > 0 : slo.path("met").asBoolean());
    if (!slo.isMissingNode()) {
      o.set("targets", slo.path("targets"));
    }
    o.put("generator_bound", r.path("self_check").path("generator_bound").asBoolean());
    return o;
  }

  /**
   * Runs the steps. Returns the result of the highest step that met the SLO (else the last step run) with a
   * {@code sweep} object added: dimension, steps[], max_load_met (null if none), stopped_early.
   */
  ObjectNode run(BenchConfig base, PrintStream err, boolean live, boolean quiet, SweepControl control) throws Exception {
    ArrayNode steps = Json.MAPPER.createArrayNode();
    ObjectNode best = null;
    ObjectNode last = null;
    Double maxMet = null;
    boolean stopped = false;
    for (int i = 0; i < loads.size() && !control.interrupted(); i++) {
      double load = loads.get(i);
      BenchRun run = new BenchRun(step(base, load), err, live, quiet, null);
      run.progressPrefix(String.format(Locale.ROOT, "step %d/%d %s %s: ", i + 1, loads.size(), dimension, num(load)));
      control.current(run);
      ObjectNode r = run.run();
      control.current(null);
      if (run.interrupted()) {
        last = last == null ? r : last;
        break;
      }
      ObjectNode s = stepSummary(load, r);
      steps.add(s);
      if (!quiet) {
        err.println(String.format(Locale.ROOT, "step %d/%d %s %s: %s", i + 1, loads.size(), dimension, num(load), s.path("slo_met").asBoolean()
            ? "met every target" : "target missed, stopping"));
        err.flush();
      }
      last = r;
      if (!s.path("slo_met").asBoolean()) {
        stopped = i < loads.size() - 1;
        break;
      }
      best = r;
      maxMet = load;
    }
    ObjectNode result = best != null ? best : last;
    if (result == null) {
      result = Json.MAPPER.createObjectNode();
    }
    ObjectNode sw = result.putObject("sweep");
    sw.put("dimension", dimension);
    ArrayNode planned = sw.putArray("loads");
    loads.forEach(planned::add);
    sw.set("steps", steps);
    if (maxMet == null) {
      sw.putNull("max_load_met");
    } else {
      sw.put("max_load_met", maxMet);
    }
    sw.put("stopped_early", stopped);
    sw.put("slo", base.slo().toString());
    sw.put("step_warmup_s", BenchReport.round(step(base, loads.get(0)).warmupNanos() / 1e9, 3));
    return result;
  }

  /** The sweep table, from the result's {@code sweep} object. */
  static void print(JsonNode result, PrintWriter out) {
    JsonNode sw = result.path("sweep");
    JsonNode c = result.path("config");
    out.printf(Locale.ROOT, "tokenpipe bench sweep  %s %s  (%s steps, SLO %s)%n", c.path("method").asText(), c.path("url").asText(),
        sw.path("dimension").asText(), sw.path("slo").asText().isEmpty() ? "none" : sw.path("slo").asText());
    boolean rate = sw.path("dimension").asText().equals("rate");
    // A rate step's req/s is what completed, over the step including its drain; what was offered is beside it.
    out.printf(Locale.ROOT, "  %8s %s%8s %8s %7s %9s %9s %9s %9s %7s  %s%n", rate ? "rate/s" : "streams",
        rate ? String.format(Locale.ROOT, "%8s ", "offered") : "", "req/s", "goodput", "attain", "TTFT p50", "TTFT p99",
        "ITL p50", "ITL p99", "errors", "SLO");
    for (JsonNode s : sw.path("steps")) {
      String offered = !rate ? "" : String.format(Locale.ROOT, "%8s ", s.has("offered_rate_per_s")
          ? String.format(Locale.ROOT, "%.2f", s.path("offered_rate_per_s").asDouble()) : "-");
      out.printf(Locale.ROOT, "  %8s %s%8.2f %8.2f %6.1f%% %9s %9s %9s %9s %7d  %s%n", num(s.path("load").asDouble()),
          offered, s.path("requests_per_s").asDouble(), s.path("goodput_per_s").asDouble(), 100 * s.path("attainment").asDouble(),
          Summary.num(s.path("ttft").path("p50").asDouble()), Summary.num(s.path("ttft").path("p99").asDouble()),
          Summary.num(s.path("itl").path("p50").asDouble()), Summary.num(s.path("itl").path("p99").asDouble()),
          s.path("errors").asLong(), s.path("slo_met").asBoolean() ? "met" : "MISSED " + missed(s));
    }
    JsonNode max = sw.path("max_load_met");
    out.println(max.isNull() || max.isMissingNode()
        ? "  no step met every target"
        : String.format(Locale.ROOT, "  highest load that met every target: %s %s", sw.path("dimension").asText(), num(max.asDouble())));
  }

  /** What a step missed: its SLO's targets; without an SLO, that no request succeeded (or all were refused). */
  private static String missed(JsonNode step) {
    if (step.has("refused")) {
      return "requests refused";
    }
    if (step.has("unreachable")) {
      return "target unreachable";
    }
    List<String> out = new ArrayList<>();
    for (JsonNode t : step.path("targets")) {
      if (!t.path("met").asBoolean()) {
        out.add(t.path("target").asText());
      }
    }
    if (out.isEmpty() && step.path("ok").asLong() == 0) {
      return "no request succeeded";
    }
    return String.join(" ", out);
  }

  static String num(double v) {
    return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
  }

  /** Lets Ctrl-C stop the step in progress and the sweep. */
  static final class SweepControl {
    private volatile BenchRun current;
    private volatile boolean interrupted;

    void current(BenchRun run) {
      current = run;
      if (run != null && interrupted) {
        run.interrupt();
      }
    }

    void interrupt() {
      interrupted = true;
      BenchRun r = current;
      if (r != null) {
        r.interrupt();
      }
    }

    boolean interrupted() {
      return interrupted;
    }
  }
}
