package dev.tokenpipe.bench;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokenpipe.cli.VersionProvider;
import dev.tokenpipe.net.Transport;
import dev.tokenpipe.openai.Json;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;

/**
 * Builds the versioned JSON result ({@value #SCHEMA}), documented field by field in docs/bench.md. Adding a
 * field keeps the version; renaming or removing one, or changing a unit, bumps it. Everything else (the
 * human summary, the HTML report, {@code compare}) reads this document, so a saved file can be rendered or
 * compared later exactly like a fresh run.
 */
final class BenchReport {
  static final String SCHEMA = "tokenpipe.bench/v1";
  /** Distributions drawn in the HTML report. */
  static final List<Metric> PLOTTED = List.of(Metric.TTFT, Metric.ITL, Metric.TPOT, Metric.E2E);
  static final double[] PERCENTILES = {50, 90, 95, 99, 99.9};
  static final String[] PERCENTILE_KEYS = {"p50", "p90", "p95", "p99", "p99_9"};

  private BenchReport() {}

  static ObjectNode build(BenchConfig config, Metrics metrics, LoadEngine engine, SelfCheck self,
      Instant startedAt, boolean interrupted) {
    ObjectNode root = Json.MAPPER.createObjectNode();
    root.put("schema", SCHEMA);
    root.putObject("tool").put("name", "tokenpipe").put("version", VersionProvider.version())
        .put("transport", Transport.get().name()).put("jvm", Runtime.version().toString());
    root.put("started_at", startedAt.toString());
    root.put("interrupted", interrupted);
    if (engine.refused() != null) {
      root.put("refused", engine.refused());
    }
    if (engine.unreachable() != null) {
      root.put("unreachable", engine.unreachable());
    }
    if (engine.overloaded() != null) {
      root.put("overloaded", engine.overloaded());
    }
    root.set("config", config(config));

    double seconds = engine.measuredNanos() / 1e9;
    long ok = metrics.ok.sum();
    long failed = metrics.failed.sum();
    long tokens = metrics.outputTokens.sum();
    ObjectNode totals = root.putObject("totals");
    totals.put("requests", ok + failed);
    totals.put("ok", ok);
    totals.put("errors", failed);
    totals.put("error_rate", ok + failed == 0 ? 0 : round((double) failed / (ok + failed), 4));
    totals.put("cancelled", metrics.cancelled.sum());
    totals.put("warmup", metrics.warmup.sum());
    totals.put("duration_s", round(seconds, 3));
    totals.put("requests_per_s", seconds > 0 ? round(ok / seconds, 2) : 0);
    double sendSeconds = engine.sendWindowNanos() / 1e9;
    if (config.openLoop() && sendSeconds > 0) {
      // What was offered, over the window it was offered in: requests_per_s is over the drain too.
      totals.put("sent", engine.measuredSent());
      totals.put("send_window_s", round(sendSeconds, 3));
      totals.put("offered_rate_per_s", round(engine.measuredSent() / sendSeconds, 2));
    }
    totals.put("output_tokens", tokens);
    totals.put("output_tokens_per_s", seconds > 0 ? round(tokens / seconds, 1) : 0);
    totals.put("content_events", metrics.contentEvents.sum());
    totals.put("bytes_read", metrics.bytesRead.sum());
    totals.put("heartbeats", metrics.heartbeats.sum());

    ObjectNode sources = root.putObject("output_tokens_source");
    String primary = "none";
    long best = -1;
    for (String s : List.of("usage", "tokenizer", "events")) {
      long n = metrics.tokenSources.containsKey(s) ? metrics.tokenSources.get(s).sum() : 0;
      sources.put(s, n);
      if (n > best && n > 0) {
        best = n;
        primary = s;
      }
    }
    sources.put("primary", primary);

    ObjectNode errors = root.putObject("errors");
    metrics.errorCounts().forEach(errors::put);
    ObjectNode samples = root.putObject("error_samples");
    new TreeMap<>(metrics.errorSamples).forEach(samples::put);

    ObjectNode ms = root.putObject("metrics");
    for (Metric m : Metric.values()) {
      ms.set(m.key, stats(m, metrics.total(m)));
    }
    root.set("equivalents", equivalents(ms));

    if (!config.slo().isEmpty()) {
      root.set("slo", slo(config.slo(), metrics, ok + failed, seconds));
    }

    ObjectNode dist = root.putObject("distributions");
    for (Metric m : PLOTTED) {
      dist.set(m.key, distribution(metrics.total(m)));
    }

    ObjectNode sc = root.putObject("self_check");
    Histogram lag = metrics.total(Metric.LOOP_LAG);
    double cpu = self.cpuShareOfCores();
    sc.put("loop_lag_p99_ms", round(lag.getValueAtPercentile(99) / 1000.0, 3));
    sc.put("loop_lag_max_ms", round(lag.getMaxValue() / 1000.0, 3));
    sc.put("cpu_share_of_cores", round(cpu, 3));
    sc.put("cores", Runtime.getRuntime().availableProcessors());
    sc.put("event_loops", config.threads());
    ArrayNode reasons = sc.putArray("reasons");
    Metric reference = SelfCheck.reference(metrics);
    if (reference != null) {
      long refMicros = metrics.total(reference).getValueAtPercentile(50);
      long lagMicros = lag.getTotalCount() > 0 ? lag.getValueAtPercentile(99) : 0;
      sc.put("reference_metric", reference.key);
      sc.put("reference_p50_ms", round(refMicros / 1000.0, 3));
      sc.put("lag_share_of_reference", refMicros > 0 ? round((double) lagMicros / refMicros, 4) : 0);
      sc.put("lag_limit_ms", round(SelfCheck.lagLimitMicros(refMicros) / 1000.0, 3));
      if (lagMicros > SelfCheck.lagLimitMicros(refMicros)) {
        reasons.add(String.format(java.util.Locale.ROOT,
            "event-loop lag p99 %.1f ms is %.0f%% of the %s p50 (%.1f ms; limit %.0f%%): timestamps may be late by that much",
            lagMicros / 1000.0, refMicros > 0 ? 100.0 * lagMicros / refMicros : 100, reference.key.toUpperCase(java.util.Locale.ROOT),
            refMicros / 1000.0, SelfCheck.LAG_SHARE_LIMIT * 100));
      }
    }
    sc.put("generator_bound", !reasons.isEmpty());

    ObjectNode ts = root.putObject("timeseries");
    ArrayNode tS = ts.putArray("t_s");
    ArrayNode rps = ts.putArray("requests_per_s");
    ArrayNode tps = ts.putArray("output_tokens_per_s");
    ArrayNode active = ts.putArray("active_streams");
    ArrayNode eps = ts.putArray("errors_per_s");
    for (double[] v : metrics.timeline()) {
      tS.add(v[0]);
      rps.add(v[1]);
      tps.add(v[2]);
      active.add((long) v[3]);
      eps.add(v[4]);
    }

    root.put("requests_sampled", metrics.rowsSampled());
    ArrayNode rows = root.putArray("requests");
    for (Metrics.RequestRow r : metrics.rows()) {
      ObjectNode o = rows.addObject();
      o.put("start_ms", round(r.startMs(), 3));
      o.put("ttft_ms", round(r.ttftMs(), 3));
      o.put("e2e_ms", round(r.e2eMs(), 3));
      o.put("tpot_ms", round(r.tpotMs(), 4));
      o.put("itl_mean_ms", round(r.itlMeanMs(), 4));
      o.put("output_tokens", r.outputTokens());
      o.put("events", r.events());
      o.put("outcome", r.outcome());
    }
    return root;
  }

  /** Targets, attainment and goodput, as defined in {@link Slo}. */
  private static ObjectNode slo(Slo slo, Metrics metrics, long measured, double seconds) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("spec", slo.toString());
    ArrayNode ts = o.putArray("targets");
    boolean all = measured > 0;
    for (int i = 0; i < slo.targets().size(); i++) {
      Slo.Target t = slo.targets().get(i);
      long met = metrics.sloMet[i].sum();
      double attainment = measured == 0 ? 0 : (double) met / measured;
      boolean holds = measured > 0 && attainment * 100 >= t.percentile() - 1e-9;
      all &= holds;
      ObjectNode target = ts.addObject()
          .put("target", t.text())
          .put("metric", t.metric().key)
          .put("percentile", t.percentile())
          .put("limit_ms", round(t.limitMicros() / 1000.0, 3));
      Long observed = observedMicros(metrics.sloJudged[i], measured, t.percentile());
      if (observed == null) {
        target.putNull("observed_ms"); // the percentile falls on requests that could not meet it: failed ones
      } else {
        target.put("observed_ms", round(observed / 1000.0, 3));
      }
      target.put("requests_met", met)
          .put("attainment", round(attainment, 4))
          .put("met", holds);
    }
    long good = metrics.sloMetAll.sum();
    o.put("requests", measured);
    o.put("requests_met_all", good);
    o.put("attainment", measured == 0 ? 0 : round((double) good / measured, 4));
    o.put("goodput_per_s", seconds > 0 ? round(good / seconds, 3) : 0);
    o.put("met", all);
    return o;
  }

  /**
   * The value at a target's percentile over all {@code measured} requests, on the same per-request values the
   * target is judged on ({@link Slo#judged}), failed requests (and those without the value) counted as infinitely
   * slow; null when the percentile falls among those. So the observed value is within the limit exactly when the
   * target holds (up to the histogram's 3 significant digits). Before, it was the percentile of the successful
   * requests' pooled metric: "observed 105.7 ms" under a 150 ms limit, MISSED, with 25% of requests failed; for
   * ITL the pooled gaps, not the requests' own.
   */
  static Long observedMicros(Histogram judged, long measured, double percentile) {
    long rank = (long) Math.ceil(percentile / 100.0 * measured);
    if (measured == 0 || rank > judged.getTotalCount()) {
      return null;
    }
    return judged.getValueAtPercentile(100.0 * Math.max(1, rank) / judged.getTotalCount());
  }

  private static ObjectNode config(BenchConfig c) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("url", c.url());
    o.put("method", c.method());
    o.put("api", c.api().flag());
    o.put("model", c.model());
    o.put("model_source", c.modelSource());
    o.put("max_tokens", c.maxTokens());
    o.put("mode", c.openLoop() ? "open" : "closed");
    o.put("concurrency", c.concurrency());
    o.put("requests", c.requests());
    o.put("duration_s", round(c.durationNanos() / 1e9, 3));
    o.put("rate_per_s", c.ratePerSecond());
    o.put("arrival", c.openLoop() ? c.arrivals().kind() : "closed");
    o.put("burstiness", c.arrivals().burstiness());
    o.put("warmup_requests", c.warmupRequests());
    o.put("warmup_s", round(c.warmupNanos() / 1e9, 3));
    o.put("timeout_s", round(c.timeoutNanos() / 1e9, 3));
    o.put("prompts", c.bodies().size());
    o.put("tokenizer", c.countTokens() ? "cl100k_base" : "none");
    o.put("slo", c.slo().toString());
    o.put("threads", c.threads());
    o.put("connect_batch", c.connectBatch());
    o.put("connect_timeout_ms", c.connectTimeoutMillis());
    ArrayNode h = o.putArray("headers");
    c.headers().forEach(e -> h.add(e.getKey())); // names only: values may hold secrets
    return o;
  }

  /** Percentiles of one histogram, in ms for latencies (3 decimals = microseconds) and plain for counts. */
  static ObjectNode stats(Metric m, Histogram h) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    double scale = m.micros ? 1000.0 : 1.0;
    o.put("unit", m.micros ? "ms" : m == Metric.TOKENS_PER_EVENT || m == Metric.OUTPUT_TOKENS ? "tokens" : "count");
    o.put("count", h.getTotalCount());
    boolean any = h.getTotalCount() > 0;
    o.put("mean", any ? round(h.getMean() / scale, 3) : 0);
    o.put("min", any ? round(h.getMinValue() / scale, 3) : 0);
    for (int i = 0; i < PERCENTILES.length; i++) {
      o.put(PERCENTILE_KEYS[i], any ? round(h.getValueAtPercentile(PERCENTILES[i]) / scale, 3) : 0);
    }
    o.put("max", any ? round(h.getMaxValue() / scale, 3) : 0);
    o.put("stddev", any ? round(h.getStdDeviation() / scale, 3) : 0);
    return o;
  }

  /** CDF points and a linear histogram (0..p99.9, overflow in the last bin), for the report's charts. */
  private static ObjectNode distribution(Histogram h) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    ArrayNode cdf = o.putArray("cdf");
    if (h.getTotalCount() == 0) {
      o.putObject("histogram").put("bin_ms", 0).putArray("counts");
      return o;
    }
    double lastPct = -1;
    for (HistogramIterationValue v : h.percentiles(5)) {
      double pct = v.getPercentileLevelIteratedTo();
      if (pct - lastPct < 0.01 && pct < 100) {
        continue;
      }
      lastPct = pct;
      cdf.addArray().add(round(v.getValueIteratedTo() / 1000.0, 3)).add(round(pct, 4));
      if (pct >= 100) {
        break;
      }
    }
    int bins = 60;
    long top = Math.max(1, h.getValueAtPercentile(99.9));
    double width = Math.max(1, Math.ceil((double) top / bins));
    long[] counts = new long[bins];
    for (HistogramIterationValue v : h.recordedValues()) {
      int bin = (int) Math.min(bins - 1, v.getValueIteratedTo() / width);
      counts[bin] += v.getCountAtValueIteratedTo();
    }
    ObjectNode hist = o.putObject("histogram");
    hist.put("bin_ms", round(width / 1000.0, 4));
    ArrayNode c = hist.putArray("counts");
    for (long n : counts) {
      c.add(n);
    }
    return o;
  }

  /** The same run in the vocabulary of other tools (see docs/metrics.md for the sources). */
  private static ObjectNode equivalents(ObjectNode ms) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    Map<String, String[]> map = new java.util.LinkedHashMap<>();
    map.put("vllm_bench_itl", new String[] {"itl", "vLLM bench_serving ITL (pooled gaps) = tokenpipe ITL"});
    map.put("vllm_bench_tpot", new String[] {"tpot", "vLLM bench_serving TPOT (excludes TTFT) = tokenpipe TPOT"});
    map.put("aiperf_itl", new String[] {"tpot", "AIPerf / GenAI-Perf ITL (one average per request) = tokenpipe TPOT"});
    map.put("guidellm_tpot", new String[] {"e2e_per_token", "guidellm TPOT (includes TTFT) = tokenpipe E2E per token"});
    map.put("llmperf_inter_token_latency", new String[] {"e2e_per_token", "LLMPerf inter_token_latency (includes TTFT) = tokenpipe E2E per token"});
    map.put("hey_total", new String[] {"e2e", "hey / wrk response time = tokenpipe E2E"});
    map.forEach((k, v) -> {
      ObjectNode e = o.putObject(k);
      e.put("tokenpipe_metric", v[0]);
      e.put("meaning", v[1]);
      e.put("p50", ms.get(v[0]).get("p50").asDouble());
      e.put("p99", ms.get(v[0]).get("p99").asDouble());
    });
    return o;
  }

  static double round(double v, int digits) {
    if (Double.isNaN(v) || Double.isInfinite(v)) {
      return 0;
    }
    double f = Math.pow(10, digits);
    return Math.round(v * f) / f;
  }
}
