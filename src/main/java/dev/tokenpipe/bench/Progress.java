package dev.tokenpipe.bench;

import java.io.PrintStream;
import java.util.Locale;
import java.util.Map;
import org.HdrHistogram.Histogram;

/**
 * The collector thread: once a second moves the recorders' intervals into the totals (and the HDR log), and
 * shows progress on stderr: one live line rewritten in place on a terminal, a plain line every
 * {@value #PLAIN_EVERY_TICKS} seconds otherwise (CI logs).
 */
final class Progress implements Runnable {
  static final long TICK_MILLIS = 1000;
  static final int PLAIN_EVERY_TICKS = 5;

  private final Metrics metrics;
  private final LoadEngine engine;
  private final HdrLog hdr;
  private final PrintStream err;
  private final boolean live;
  private final boolean quiet;
  private volatile boolean running = true;
  private Thread thread;
  private long lastOk;
  private long lastPrintNanos = System.nanoTime();
  private long ticks;

  Progress(Metrics metrics, LoadEngine engine, HdrLog hdr, PrintStream err, boolean live, boolean quiet) {
    this.metrics = metrics;
    this.engine = engine;
    this.hdr = hdr;
    this.err = err;
    this.live = live;
    this.quiet = quiet;
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

  private synchronized void tick() {
    Map<Metric, Histogram> intervals = metrics.collect();
    if (hdr != null) {
      hdr.write(intervals);
    }
    ticks++;
    if (quiet || (!live && ticks % PLAIN_EVERY_TICKS != 0)) {
      return;
    }
    long ok = metrics.ok.sum();
    long done = ok + metrics.failed.sum();
    long now = System.nanoTime();
    double rate = (ok - lastOk) * 1e9 / Math.max(1, now - lastPrintNanos);
    lastOk = ok;
    lastPrintNanos = now;
    Histogram ttft = metrics.total(Metric.TTFT);
    long planned = engine.planned();
    String line = String.format(Locale.ROOT, "%5.0fs  %d%s done, %d in flight, %.1f req/s, TTFT p50 %s ms p99 %s ms, %d errors",
        engine.elapsedNanos() / 1e9, done, planned > 0 ? "/" + planned : "", engine.inFlight(), rate,
        Summary.num(ttft.getValueAtPercentile(50) / 1000.0), Summary.num(ttft.getValueAtPercentile(99) / 1000.0),
        metrics.failed.sum());
    if (live) {
      err.print("\r\033[K" + line);
    } else {
      err.println(line);
    }
    err.flush();
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
    if (live && !quiet && ticks > 0) {
      err.print("\r\033[K");
      err.flush();
    }
  }
}
