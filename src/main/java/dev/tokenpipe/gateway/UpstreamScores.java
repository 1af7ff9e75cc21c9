package dev.tokenpipe.gateway;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.function.LongSupplier;

/**
 * What the balancer knows about each upstream, by index: streams in flight, a peak EWMA of its observed
 * first-token latency, its configured weight and its slow-start ramp. No sockets and no clock of its own
 * (it is given one), so the scoring is testable with a fake clock.
 *
 * <p>The latency score is Finagle's peak EWMA (also Linkerd's and Envoy's {@code peak_ewma}) over
 * first-token latencies (request sent upstream → first generated event read), in nanoseconds:
 * <ul>
 *   <li>a sample above the current score replaces it at once (a replica turning slow is seen at its first
 *       slow token);
 *   <li>a lower sample is blended in with weight {@code 1 - exp(-dt / }{@value #DECAY_SECONDS}{@code  s)},
 *       {@code dt} the time since the upstream's previous sample, so the score has a memory of about ten
 *       seconds whatever the request rate;
 *   <li>between samples the score relaxes, with the same time constant, toward half the median of the
 *       other upstreams' scores (Finagle relaxes toward zero). A replica that gets no traffic because it
 *       was slow thus looks slightly better than a typical one after a while (about 22 s for one five
 *       times slower than the rest) and is tried again: that is how a recovered replica earns its share
 *       back. One still slow is measured slow again at once and drops back;
 *   <li>an upstream never observed yet scores the median of the others, or {@value #PRIOR_MILLIS} ms when
 *       none is observed: a new replica gets a fair start, neither flooded nor starved.
 * </ul>
 * The cost the balancer compares is {@code score × (in-flight + 1) / effective weight} (Finagle's
 * {@code cost × (pending + 1)}, scaled by capacity). The effective weight is the configured weight times
 * the slow-start factor: an upstream back from an ejection starts at {@value #SLOW_START_MIN_FACTOR} of
 * its weight and ramps linearly to all of it over {@value #SLOW_START_SECONDS} s (Envoy's
 * {@code slow_start_config} with aggression 1).
 *
 * <p>Thread-safe: in-flight counts are atomics; scores are read and written under this object's lock,
 * taken twice per pick and once per first token (never on the token path).
 */
final class UpstreamScores {
  static final double DECAY_SECONDS = 10;
  static final long PRIOR_MILLIS = 100;
  static final double SLOW_START_SECONDS = 10;
  static final double SLOW_START_MIN_FACTOR = 0.1;
  /** Where an idle score relaxes to, as a fraction of the other upstreams' median. */
  static final double RELAX_TO = 0.5;

  private static final double TAU_NANOS = DECAY_SECONDS * 1e9;
  private static final long SLOW_START_NANOS = (long) (SLOW_START_SECONDS * 1e9);

  private final int[] weights;
  private final LongSupplier clock;
  private final AtomicIntegerArray inFlight;
  /** Per upstream: last score in nanoseconds, NaN until its first sample. Guarded by this. */
  private final double[] ewma;
  /** Per upstream: clock time of the last sample. Guarded by this. */
  private final long[] stamp;
  /** Per upstream: clock time its slow start began; {@code slowStarting[i]} false = none. Guarded by this. */
  private final long[] slowStartAt;
  private final boolean[] slowStarting;

  /**
   * @param weights relative capacity per upstream, each 1..{@value UpstreamSpec#MAX_WEIGHT}
   * @param clock nanoseconds, monotonic ({@code System::nanoTime} in production)
   */
  UpstreamScores(int[] weights, LongSupplier clock) {
    this.weights = weights.clone();
    this.clock = clock;
    int n = weights.length;
    this.inFlight = new AtomicIntegerArray(n);
    this.ewma = new double[n];
    Arrays.fill(ewma, Double.NaN);
    this.stamp = new long[n];
    this.slowStartAt = new long[n];
    this.slowStarting = new boolean[n];
  }

  int size() {
    return weights.length;
  }

  long now() {
    return clock.getAsLong();
  }

  int weight(int i) {
    return weights[i];
  }

  void started(int i) {
    inFlight.incrementAndGet(i);
  }

  void ended(int i) {
    inFlight.decrementAndGet(i);
  }

  int inFlight(int i) {
    return Math.max(0, inFlight.get(i));
  }

  /** A first token came {@code nanos} after the request was sent: the peak EWMA rule. */
  synchronized void observe(int i, long nanos) {
    long now = clock.getAsLong();
    double sample = Math.max(0, nanos);
    if (Double.isNaN(ewma[i])) {
      ewma[i] = sample;
    } else {
      double current = current(i, now);
      if (sample > current) {
        ewma[i] = sample;
      } else {
        double w = Math.exp(-Math.max(0, now - stamp[i]) / TAU_NANOS);
        ewma[i] = current * w + sample * (1 - w);
      }
    }
    stamp[i] = now;
  }

  /**
   * No first token came within {@code nanos} (a first-token timeout, a cancelled attempt): its latency is
   * at least that, so the score rises to it when it is lower, and is left alone otherwise.
   */
  synchronized void observeAtLeast(int i, long nanos) {
    if (Double.isNaN(ewma[i]) || nanos > current(i, clock.getAsLong())) {
      observe(i, nanos);
    }
  }

  /** The latency score now, in nanoseconds (decayed; the fleet's median or the prior when unobserved). */
  synchronized double scoreNanos(int i) {
    return current(i, clock.getAsLong());
  }

  /** What the balancer compares: lower is better. */
  synchronized double cost(int i) {
    long now = clock.getAsLong();
    return current(i, now) * (inFlight(i) + 1) / effectiveWeight(i, now);
  }

  /** Weight times the slow-start factor, now. */
  synchronized double effectiveWeight(int i) {
    return effectiveWeight(i, clock.getAsLong());
  }

  /** Share of its weight an upstream gets now: 1, or less while it ramps up after a return. */
  synchronized double slowStartFactor(int i) {
    return slowStartFactor(i, clock.getAsLong());
  }

  /** The upstream came back from an ejection: ramp its share up from {@value #SLOW_START_MIN_FACTOR}. */
  synchronized void beginSlowStart(int i) {
    slowStarting[i] = true;
    slowStartAt[i] = clock.getAsLong();
  }

  private double effectiveWeight(int i, long now) {
    return weights[i] * slowStartFactor(i, now);
  }

  private double slowStartFactor(int i, long now) {
    if (!slowStarting[i]) {
      return 1;
    }
    long since = now - slowStartAt[i];
    if (since >= SLOW_START_NANOS) {
      slowStarting[i] = false;
      return 1;
    }
    return Math.max(SLOW_START_MIN_FACTOR, (double) Math.max(0, since) / SLOW_START_NANOS);
  }

  private double current(int i, long now) {
    double others = medianOfOthers(i);
    if (Double.isNaN(ewma[i])) {
      return Double.isNaN(others) ? PRIOR_MILLIS * 1e6 : others;
    }
    if (Double.isNaN(others)) {
      return ewma[i];
    }
    double target = others * RELAX_TO;
    double w = Math.exp(-Math.max(0, now - stamp[i]) / TAU_NANOS);
    return target + (ewma[i] - target) * w;
  }

  /** Median of the other observed upstreams' last scores (not decayed: no recursion), NaN if none. */
  private double medianOfOthers(int i) {
    double[] v = new double[ewma.length];
    int k = 0;
    for (int j = 0; j < ewma.length; j++) {
      if (j != i && !Double.isNaN(ewma[j])) {
        v[k++] = ewma[j];
      }
    }
    if (k == 0) {
      return Double.NaN;
    }
    Arrays.sort(v, 0, k);
    return k % 2 == 1 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
  }
}
