package dev.tokenpipe.bench;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * The run's measurements. Event loops record concurrently into one HdrHistogram {@link Recorder} per
 * metric; a single collector thread ({@link #collect}) moves interval snapshots into the cumulative
 * histograms, which only that thread reads. Latencies are in microseconds (3 significant digits, so
 * a 250 ms TTFT is resolved to 0.25 ms and a 2 ms gap to 2 us).
 */
final class Metrics {
  /** Per-request rows kept for the timeline and for bootstrap comparisons (reservoir sample beyond this). */
  static final int MAX_REQUEST_ROWS = 20_000;

  private final Map<Metric, Recorder> recorders = new EnumMap<>(Metric.class);
  private final Map<Metric, Histogram> totals = new EnumMap<>(Metric.class);
  private final Map<Metric, Histogram> spare = new EnumMap<>(Metric.class);

  final LongAdder started = new LongAdder();
  final LongAdder ok = new LongAdder();
  final LongAdder failed = new LongAdder();
  final LongAdder warmup = new LongAdder();
  final LongAdder cancelled = new LongAdder();
  final LongAdder outputTokens = new LongAdder();
  final LongAdder contentEvents = new LongAdder();
  final LongAdder bytesRead = new LongAdder();
  final LongAdder heartbeats = new LongAdder();
  final Map<String, LongAdder> tokenSources = new ConcurrentHashMap<>();
  final Map<String, LongAdder> errors = new ConcurrentHashMap<>();
  final Map<String, String> errorSamples = new ConcurrentHashMap<>();
  /** Per SLO target: measured successful requests that met it; and those that met every target. */
  final LongAdder[] sloMet = new LongAdder[Slo.MAX_TARGETS];
  final LongAdder sloMetAll = new LongAdder();
  /** Per SLO target: the values successful requests were judged on ({@link Slo#judged}), those that can be had. */
  final org.HdrHistogram.ConcurrentHistogram[] sloJudged = new org.HdrHistogram.ConcurrentHistogram[Slo.MAX_TARGETS];

  /** Samples kept for the throughput-over-time charts; beyond this every other one is dropped and the stride doubles. */
  static final int MAX_TIMELINE = 4096;
  private final List<double[]> timeline = new ArrayList<>();
  private int timelineStride = 1;
  private long timelineTicks;

  private final List<RequestRow> rows = new ArrayList<>();
  private long rowsSeen;

  Metrics() {
    for (int i = 0; i < sloMet.length; i++) {
      sloMet[i] = new LongAdder();
      sloJudged[i] = new org.HdrHistogram.ConcurrentHistogram(3);
    }
    for (Metric m : Metric.values()) {
      recorders.put(m, new Recorder(3));
      Histogram h = new Histogram(3);
      totals.put(m, h);
    }
  }

  void record(Metric m, long value) {
    recorders.get(m).recordValue(Math.max(0, value));
  }

  void recordNanosAsMicros(Metric m, long nanos) {
    record(m, nanos / 1000);
  }

  void error(String key, String message) {
    failed.increment();
    errors.computeIfAbsent(key, k -> new LongAdder()).increment();
    errorSamples.putIfAbsent(key, message);
  }

  /** Counts one successful measured request's SLO result: the values it was judged on ({@link Slo#judged}). */
  void slo(Slo slo, long[] judged) {
    int mask = slo.mask(judged);
    for (int i = 0; i < judged.length; i++) {
      if ((mask & (1 << i)) != 0) {
        sloMet[i].increment();
      }
      if (judged[i] != Slo.NEVER) {
        sloJudged[i].recordValue(judged[i]);
      }
    }
    if (mask == slo.allMask()) {
      sloMetAll.increment();
    }
  }

  void tokenSource(String source) {
    tokenSources.computeIfAbsent(source, k -> new LongAdder()).increment();
  }

  /** Reservoir sampling (Algorithm R): every finished request has the same chance to be kept. */
  synchronized void row(RequestRow row) {
    rowsSeen++;
    if (rows.size() < MAX_REQUEST_ROWS) {
      rows.add(row);
    } else {
      long j = ThreadLocalRandom.current().nextLong(rowsSeen);
      if (j < MAX_REQUEST_ROWS) {
        rows.set((int) j, row);
      }
    }
  }

  /**
   * One collector tick: {t_s since start, requests done per s, output tokens per s, streams in flight, errors per s}.
   * Bounded: at most {@link #MAX_TIMELINE} samples, thinned evenly as the run grows.
   */
  synchronized void timelineSample(double[] sample) {
    if (timelineTicks++ % timelineStride != 0) {
      return;
    }
    timeline.add(sample);
    if (timeline.size() >= MAX_TIMELINE) {
      for (int i = timeline.size() - 1; i >= 0; i -= 2) {
        timeline.remove(i);
      }
      timelineStride *= 2;
    }
  }

  synchronized List<double[]> timeline() {
    return new ArrayList<>(timeline);
  }

  synchronized List<RequestRow> rows() {
    return new ArrayList<>(rows);
  }

  synchronized boolean rowsSampled() {
    return rowsSeen > rows.size();
  }

  /**
   * Moves what was recorded since the last call into the totals and returns those intervals (valid until the
   * next call). Collector thread only.
   */
  synchronized Map<Metric, Histogram> collect() {
    Map<Metric, Histogram> out = new EnumMap<>(Metric.class);
    for (Metric m : Metric.values()) {
      Histogram interval = recorders.get(m).getIntervalHistogram(spare.get(m));
      spare.put(m, interval);
      totals.get(m).add(interval);
      out.put(m, interval);
    }
    return out;
  }

  /** The cumulative histogram of {@code m}; read only on the collector thread or after the run. */
  Histogram total(Metric m) {
    return totals.get(m);
  }

  Map<String, Long> errorCounts() {
    Map<String, Long> out = new TreeMap<>();
    errors.forEach((k, v) -> out.put(k, v.sum()));
    return out;
  }

  /**
   * One finished request, for the timeline and bootstrap comparisons. Times in ms; -1 when not measured.
   *
   * @param startMs intended start relative to the start of measurement
   */
  record RequestRow(double startMs, double ttftMs, double e2eMs, double tpotMs, double itlMeanMs,
      int outputTokens, int events, String outcome) {}
}
