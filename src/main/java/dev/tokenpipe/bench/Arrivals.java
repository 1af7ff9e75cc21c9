package dev.tokenpipe.bench;

import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Open-loop inter-arrival gaps at a mean rate. {@code constant}: every gap the same. {@code poisson}: exponential
 * gaps (coefficient of variation 1). {@code gamma}: gamma-distributed gaps with shape = {@code burstiness} and
 * the same mean, so CV = 1/sqrt(burstiness): below 1 burstier than Poisson (0.25 gives CV 2), above 1 more
 * regular; 1 is Poisson. This is the convention of vLLM's {@code --burstiness}.
 *
 * @param kind        constant, poisson or gamma
 * @param burstiness  gamma shape (> 0); 1 for poisson, ignored for constant
 */
record Arrivals(String kind, double burstiness) {

  /**
   * The highest {@code --rate} (and rate sweep step), arrivals per second: a 10 us mean gap, more streaming requests a
   * second than one bench process starts. Unbounded, {@code --rate 1e12} made the arrival thread queue a job every
   * nanosecond (its 1 ns floor): 99 million arrivals queued, 5 GB of heap, and {@code -z 3s} sending for 36 s.
   */
  static final double MAX_RATE_PER_SECOND = 100_000;

  /** The one check of a rate, for {@code --rate} and rate sweep steps; null when it is in range, else why not. */
  static String rateProblem(double rate) {
    return rate > 0 && rate <= MAX_RATE_PER_SECOND ? null
        : "must be > 0 and at most " + (long) MAX_RATE_PER_SECOND + " arrivals per second";
  }

  static Arrivals parse(String kind, Double burstiness) {
    String k = kind.toLowerCase(Locale.ROOT);
    if (!k.equals("poisson") && !k.equals("constant") && !k.equals("gamma")) {
      throw new IllegalArgumentException("--arrival must be poisson, gamma or constant");
    }
    if (burstiness != null && !(burstiness > 0 && burstiness <= 1000)) {
      throw new IllegalArgumentException("--burstiness must be > 0 (1 = Poisson, < 1 burstier)");
    }
    if (burstiness != null && !k.equals("gamma")) {
      throw new IllegalArgumentException("--burstiness needs --arrival gamma");
    }
    return new Arrivals(k, k.equals("gamma") ? (burstiness == null ? 1 : burstiness) : 1);
  }

  /** The next gap in nanoseconds for a mean of {@code meanNanos}. */
  double nextGap(double meanNanos, SplittableRandom random) {
    return switch (kind) {
      case "constant" -> meanNanos;
      case "poisson" -> exponential(random) * meanNanos;
      default -> gamma(burstiness, random) * meanNanos / burstiness;
    };
  }

  private static double exponential(SplittableRandom random) {
    return -Math.log(1 - random.nextDouble());
  }

  /** Gamma(shape, 1): Marsaglia and Tsang (2000); shape < 1 via the boost Gamma(a+1) * U^(1/a). */
  static double gamma(double shape, SplittableRandom random) {
    if (shape < 1) {
      return gamma(shape + 1, random) * Math.pow(1 - random.nextDouble(), 1 / shape);
    }
    double d = shape - 1.0 / 3;
    double c = 1 / Math.sqrt(9 * d);
    while (true) {
      double x;
      double v;
      do {
        x = normal(random);
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      double u = 1 - random.nextDouble();
      if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) {
        return d * v;
      }
    }
  }

  private static double normal(SplittableRandom random) {
    // Box-Muller; one of the pair is enough here.
    double u1 = 1 - random.nextDouble();
    double u2 = random.nextDouble();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}
