package dev.tokenpipe.bench;

import java.io.PrintStream;
import java.util.Locale;
import java.util.Map;
import org.HdrHistogram.Histogram;

/**
 * The collector thread: once a second moves the recorders' intervals into the totals (and the HDR log), and
 * shows progress on stderr: one live line rewritten in place on a terminal, a plain line after the first
 * second and then every {@value #PLAIN_EVERY_TICKS} seconds otherwise (CI logs).
 *
 * <p>The line: a bar and percentage (requests done of {@code -n}, or time of {@code -z}), requests done,
 * errors, req/s and output tokens/s over the last interval, TTFT and ITL p50/p99 so far, ETA. A number appears
 * only once there is data behind it: no percentiles before the first successful request, no rate before the
 * first interval, no ETA while nothing is done.
 */
final class Progress implements Runnable {
  static final long TICK_MILLIS = 1000;
  static final int PLAIN_EVERY_TICKS = 5;
  static final int BAR_WIDTH = 20;

  private final Metrics metrics;
  private final LoadEngine engine;
  private final HdrLog hdr;
  private final PrintStream err;
  private final boolean live;
  private final boolean quiet;
  private final BenchConfig config;
  private volatile boolean running = true;
  private Thread thread;
  private long lastDone;
  private long lastTokens;
  private long lastPrintNanos = System.nanoTime();
  private long ticks;
  private long tickDone;
  private long tickTokens;
  private long tickErrors;
  private long tickNanos = System.nanoTime();
  private volatile String extra = "";

  Progress(BenchConfig config, Metrics metrics, LoadEngine engine, HdrLog hdr, PrintStream err, boolean live, boolean quiet) {
    this.config = config;
    this.metrics = metrics;
    this.engine = engine;
    this.hdr = hdr;
    this.err = err;
    this.live = live;
    this.quiet = quiet;
  }

  /** Text shown in front of the line (e.g. the sweep step), set by the caller. */
  void prefix(String text) {
    extra = text;
  }

  void start() {
    thread = new Thread(this, "tokenpipe-progress");
    thread.setDaemon(true);
    thread.start();
  }

  @Override
  public void run() {
    while (running) {
      try {
        Thread.sleep(TICK_MILLIS);
      } catch (InterruptedException e) {
        return;
      }
      if (running) {
        tick();
      }
    }
  }

  /** What the progress line shows, gathered on the collector thread. */
  record Snapshot(double fraction, long done, long planned, long errors, long inFlight, double reqPerS, double tokensPerS,
      boolean warmingUp, Histogram ttft, Histogram itl, double etaSeconds) {}

  private synchronized void tick() {
    Map<Metric, Histogram> intervals = metrics.collect();
    if (hdr != null) {
      hdr.write(intervals);
    }
    ticks++;
    sample();
    if (quiet || (!live && ticks != 1 && ticks % PLAIN_EVERY_TICKS != 0)) {
      return;
    }
    long ok = metrics.ok.sum();
    long done = ok + metrics.failed.sum();
    long tokens = metrics.outputTokens.sum();
    long now = System.nanoTime();
    double dt = Math.max(1, now - lastPrintNanos) / 1e9;
    double rate = (done - lastDone) / dt;
    double tokenRate = (tokens - lastTokens) / dt;
    lastDone = done;
    lastTokens = tokens;
    lastPrintNanos = now;
    long planned = engine.planned();
    double elapsed = engine.elapsedNanos() / 1e9;
    double total = (config.warmupNanos() + config.durationNanos()) / 1e9;
    boolean warming = metrics.started.sum() > 0 && done == 0 && engine.measuredStarted() == false;
    double fraction;
    double eta = -1;
    if (planned > 0) {
      fraction = (double) done / planned;
      double measured = engine.measuredNanos() / 1e9;
      if (done > 0 && measured > 0) {
        eta = (planned - done) / (done / measured);
      }
    } else if (total > 0) {
      fraction = Math.min(1, elapsed / total);
      eta = Math.max(0, total - elapsed);
    } else {
      fraction = -1;
    }
    String line = line(new Snapshot(fraction, done, planned, metrics.failed.sum(), engine.inFlight(), rate, tokenRate, warming,
        metrics.total(Metric.TTFT), metrics.total(Metric.ITL), eta));
    if (live) {
      err.print("\r\033[K" + extra + line);
    } else {
      err.println(extra + line);
    }
    err.flush();
  }

  /** Throughput and streams in flight over the last tick, for the report's charts. */
  private void sample() {
    long now = System.nanoTime();
    long done = metrics.ok.sum() + metrics.failed.sum();
    long tokens = metrics.outputTokens.sum();
    long errors = metrics.failed.sum();
    double dt = Math.max(1, now - tickNanos) / 1e9;
    metrics.timelineSample(new double[] {BenchReport.round(engine.elapsedNanos() / 1e9, 3), BenchReport.round((done - tickDone) / dt, 2),
        BenchReport.round((tokens - tickTokens) / dt, 1), engine.inFlight(), BenchReport.round((errors - tickErrors) / dt, 2)});
    tickDone = done;
    tickTokens = tokens;
    tickErrors = errors;
    tickNanos = now;
  }

  /** One progress line; numbers without data behind them are left out. */
  static String line(Snapshot s) {
    StringBuilder b = new StringBuilder();
    if (s.fraction() >= 0) {
      int filled = (int) Math.round(Math.min(1, s.fraction()) * BAR_WIDTH);
      b.append('[').append("#".repeat(filled)).append(".".repeat(BAR_WIDTH - filled)).append(']');
      b.append(String.format(Locale.ROOT, " %3.0f%%  ", Math.min(1, s.fraction()) * 100));
    }
    b.append(s.done()).append(s.planned() > 0 ? "/" + s.planned() : "").append(" done");
    b.append(", ").append(s.errors()).append(s.errors() == 1 ? " error" : " errors");
    b.append(", ").append(s.inFlight()).append(" in flight");
    if (s.warmingUp()) {
      b.append(", warming up");
    }
    if (s.done() > 0 || s.reqPerS() > 0) {
      b.append(String.format(Locale.ROOT, ", %.1f req/s", s.reqPerS()));
    }
    if (s.tokensPerS() > 0) {
      b.append(String.format(Locale.ROOT, ", %.0f tok/s", s.tokensPerS()));
    }
    if (s.ttft() != null && s.ttft().getTotalCount() > 0) {
      b.append(", TTFT p50 ").append(ms(s.ttft(), 50)).append(" p99 ").append(ms(s.ttft(), 99)).append(" ms");
    }
    if (s.itl() != null && s.itl().getTotalCount() > 0) {
      b.append(", ITL p50 ").append(ms(s.itl(), 50)).append(" p99 ").append(ms(s.itl(), 99)).append(" ms");
    }
    if (s.etaSeconds() >= 0) {
      b.append(", ETA ").append(eta(s.etaSeconds()));
    }
    return b.toString();
  }

  private static String ms(Histogram h, double p) {
    return Summary.num(BenchReport.round(h.getValueAtPercentile(p) / 1000.0, 1));
  }

  static String eta(double seconds) {
    long s = Math.round(seconds);
    return s >= 3600 ? String.format(Locale.ROOT, "%dh%02dm", s / 3600, s % 3600 / 60)
        : s >= 60 ? String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60) : s + "s";
  }

  /** Stops ticking and collects what was recorded since the last tick (so totals are complete). */
  synchronized void finish() {
    running = false;
    if (thread != null) {
      thread.interrupt();
    }
    Map<Metric, Histogram> intervals = metrics.collect();
    if (hdr != null) {
      hdr.write(intervals);
    }
    sample();
    if (live && !quiet && ticks > 0) {
      err.print("\r\033[K");
      err.flush();
    }
  }
}
