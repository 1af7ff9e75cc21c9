package dev.tokenpipe.sim;

import dev.tokenpipe.cli.Durations;
import java.time.Duration;
import java.util.random.RandomGenerator;

/**
 * A latency given by its median and 99th percentile. When they differ, samples follow a
 * log-normal distribution with that median and p99 (latencies of real model servers are
 * right-skewed like this); when they are equal, every sample is that value.
 *
 * @param p50Nanos median, nanoseconds, >= 0
 * @param p99Nanos 99th percentile, nanoseconds, >= p50Nanos
 */
public record LatencyDistribution(long p50Nanos, long p99Nanos) {
  /** z-score of the 99th percentile of a standard normal distribution. */
  private static final double Z99 = 2.3263478740408408;

  public LatencyDistribution {
    if (p50Nanos < 0 || p99Nanos < p50Nanos) {
      throw new IllegalArgumentException("need 0 <= p50 <= p99, got p50=" + p50Nanos + "ns p99=" + p99Nanos + "ns");
    }
  }

  public static LatencyDistribution fixed(Duration d) {
    return new LatencyDistribution(d.toNanos(), d.toNanos());
  }

  /** Parses {@code 200ms} (fixed) or {@code 200ms/900ms} (p50/p99). */
  public static LatencyDistribution parse(String spec) {
    int slash = spec.indexOf('/');
    if (slash < 0) {
      return fixed(Durations.parse(spec));
    }
    long p50 = Durations.parse(spec.substring(0, slash)).toNanos();
    long p99 = Durations.parse(spec.substring(slash + 1)).toNanos();
    if (p99 < p50) {
      throw new IllegalArgumentException("p99 must be >= p50 in '" + spec + "'");
    }
    return new LatencyDistribution(p50, p99);
  }

  public boolean isFixed() {
    return p50Nanos == p99Nanos;
  }

  public long sampleNanos(RandomGenerator random) {
    if (isFixed() || p50Nanos == 0) {
      return p50Nanos;
    }
    double sigma = Math.log((double) p99Nanos / p50Nanos) / Z99;
    return Math.round(p50Nanos * Math.exp(sigma * random.nextGaussian()));
  }

  @Override
  public String toString() {
    Duration p50 = Duration.ofNanos(p50Nanos);
    return isFixed() ? Durations.format(p50) : Durations.format(p50) + "/" + Durations.format(Duration.ofNanos(p99Nanos));
  }
}
