package dev.tokenpipe.bench;

import dev.tokenpipe.net.LoopLag;
import io.netty.channel.EventLoopGroup;
import java.lang.management.ManagementFactory;
import java.util.List;

/**
 * Watches the generator itself, because a load generator that is the bottleneck measures its own lag: a
 * 10 ms timer on every event loop records how late it fires (a busy loop delays every read it owns by the
 * same amount), and the process CPU time is compared with the cores available.
 *
 * <p>The rule for the warning: lag matters in proportion to what it distorts. The loop-lag p99 is compared
 * with the smallest latency the run reports, the ITL p50 (else, when there is none or it is 0, TPOT p50, then TTFT p50, then
 * E2E p50: {@link #reference}); the generator is
 * flagged when its lag p99 exceeds {@value #LAG_SHARE_LIMIT} of that and at least
 * {@value #LAG_FLOOR_MICROS} us. 2 ms of lag is noise against 200 ms TTFTs and a 10% error on 20 ms gaps.
 * CPU use is reported, not judged: a busy generator whose loops are on time measures correctly.
 */
final class SelfCheck {
  static final long PERIOD_NANOS = 10_000_000;
  /** Loop lag p99 above this share of the smallest median measured flags the generator. */
  static final double LAG_SHARE_LIMIT = 0.10;
  /** ... but never below this (microseconds): sub-millisecond jitter is below what these metrics resolve. */
  static final long LAG_FLOOR_MICROS = 1_000;

  /** The loop-lag p99 (us) above which a run whose reference median is {@code referenceMicros} is flagged. */
  static long lagLimitMicros(long referenceMicros) {
    return Math.max(LAG_FLOOR_MICROS, Math.round(referenceMicros * LAG_SHARE_LIMIT));
  }

  /** What lag is judged against, in this order: the first of them with a median above 0. */
  static final List<Metric> REFERENCES = List.of(Metric.ITL, Metric.TPOT, Metric.TTFT, Metric.E2E);

  /**
   * The smallest latency the run reports with a median above 0, or null. A zero ITL median (events that arrive
   * several to a read: most gaps are 0) is no scale, and TTFT, the next one, is ten or a hundred times the token
   * pace: a fresh user's run through a busy gateway had ITL p50 0 and bench's lag p99 at 35 ms, judged "ok" as
   * 8% of its TTFT p50, on a 20 ms pace. TPOT, the stream's pace after its first token, is that pace.
   */
  static Metric reference(Metrics metrics) {
    for (Metric m : REFERENCES) {
      if (metrics.total(m).getTotalCount() > 0 && metrics.total(m).getValueAtPercentile(50) > 0) {
        return m;
      }
    }
    return null;
  }

  private final Metrics metrics;
  private final long cpuStartNanos;
  private final long wallStartNanos;
  private LoopLag lag;

  SelfCheck(Metrics metrics) {
    this.metrics = metrics;
    this.cpuStartNanos = processCpuNanos();
    this.wallStartNanos = System.nanoTime();
  }

  void start(EventLoopGroup group) {
    lag = LoopLag.start(group, PERIOD_NANOS, late -> metrics.recordNanosAsMicros(Metric.LOOP_LAG, late));
  }

  void stop() {
    if (lag != null) {
      lag.close();
    }
  }

  /** Process CPU used since start as a fraction of all cores' time (1.0 = every core busy). */
  double cpuShareOfCores() {
    long cpu = processCpuNanos() - cpuStartNanos;
    long wall = System.nanoTime() - wallStartNanos;
    if (cpu < 0 || wall <= 0) {
      return -1;
    }
    return (double) cpu / wall / Runtime.getRuntime().availableProcessors();
  }

  static long processCpuNanos() {
    if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
      return os.getProcessCpuTime();
    }
    return -1;
  }
}
