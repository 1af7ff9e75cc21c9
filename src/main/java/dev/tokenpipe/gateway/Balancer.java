package dev.tokenpipe.gateway;

import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.random.RandomGenerator;

/**
 * Chooses one upstream among the eligible ones (healthy and not yet tried by the request; {@link
 * UpstreamSet} decides which). Implementations are thread-safe and never block.
 */
interface Balancer {
  /** {@code --balance} values. */
  enum Mode {
    P2C_EWMA, ROUND_ROBIN;

    /** @throws IllegalArgumentException for anything but {@code p2c-ewma} or {@code round-robin} */
    static Mode parse(String s) {
      return switch (s == null ? "" : s.trim().toLowerCase(Locale.ROOT)) {
        case "p2c-ewma", "p2c" -> P2C_EWMA;
        case "round-robin", "rr" -> ROUND_ROBIN;
        default -> throw new IllegalArgumentException("--balance must be p2c-ewma or round-robin, not '" + s + "'");
      };
    }

    String label() {
      return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }
  }

  /**
   * The index of the chosen upstream, or -1 when no entry of {@code eligible} is true.
   *
   * @param firstAttempt a request's first attempt; a retry or a hedge (which exclude the upstreams already
   *     tried) must not move a rotation on, or every request that retries or hedges would skip a turn and
   *     the first attempts of a two-upstream rotation would all land on one upstream
   */
  int pick(boolean[] eligible, boolean firstAttempt);

  static Balancer of(Mode mode, UpstreamScores scores, RandomGenerator random) {
    return mode == Mode.ROUND_ROBIN ? new RoundRobin(scores, random) : new P2cEwma(scores, random);
  }

  /** Production randomness: each event loop thread its own generator, no shared state. */
  static RandomGenerator threadLocalRandom() {
    return () -> ThreadLocalRandom.current().nextLong();
  }

  /**
   * Power of two choices: two distinct eligible upstreams drawn at random (each with probability in
   * proportion to its effective weight), the one of lower {@link UpstreamScores#cost} wins (Mitzenmacher;
   * Finagle's and Linkerd's balancer). Comparing two random ones instead of taking the global best keeps
   * several gateways (or event loops) acting on the same stale scores from herding onto one upstream.
   */
  final class P2cEwma implements Balancer {
    private final UpstreamScores scores;
    private final RandomGenerator random;

    P2cEwma(UpstreamScores scores, RandomGenerator random) {
      this.scores = scores;
      this.random = random;
    }

    @Override
    public int pick(boolean[] eligible, boolean firstAttempt) {
      double[] weight = new double[eligible.length]; // one read per upstream and pick
      for (int i = 0; i < eligible.length; i++) {
        weight[i] = eligible[i] ? scores.effectiveWeight(i) : 0;
      }
      int a = draw(weight, -1);
      if (a < 0) {
        return -1;
      }
      int b = draw(weight, a);
      if (b < 0) {
        return a;
      }
      return scores.cost(b) < scores.cost(a) ? b : a;
    }

    /** One index with a positive weight other than {@code skip}, with probability by weight; -1 if none. */
    private int draw(double[] weight, int skip) {
      double total = 0;
      for (int i = 0; i < weight.length; i++) {
        if (i != skip) {
          total += weight[i];
        }
      }
      if (total <= 0) {
        return -1;
      }
      double r = random.nextDouble() * total;
      int last = -1;
      for (int i = 0; i < weight.length; i++) {
        if (i != skip && weight[i] > 0) {
          last = i;
          r -= weight[i];
          if (r < 0) {
            return i;
          }
        }
      }
      return last; // rounding
    }
  }

  /**
   * Weighted round-robin: a fixed rotation in which each upstream appears as often as its weight, spread
   * out (nginx's smooth weighted round-robin order); the next eligible entry wins. With all weights 1 it is
   * the plain rotation {@code serve} always had. An upstream in slow start is passed over with probability
   * {@code 1 - factor} while another is eligible.
   */
  final class RoundRobin implements Balancer {
    private final UpstreamScores scores;
    private final RandomGenerator random;
    private final int[] rotation;
    private final AtomicInteger next = new AtomicInteger();

    RoundRobin(UpstreamScores scores, RandomGenerator random) {
      this.scores = scores;
      this.random = random;
      this.rotation = smoothRotation(scores);
    }

    @Override
    public int pick(boolean[] eligible, boolean firstAttempt) {
      int len = rotation.length;
      int start = Math.floorMod(firstAttempt ? next.getAndIncrement() : next.get(), len);
      int fallback = -1;
      for (int k = 0; k < len; k++) {
        int i = rotation[(start + k) % len];
        if (!eligible[i]) {
          continue;
        }
        double f = scores.slowStartFactor(i);
        if (f >= 1 || random.nextDouble() < f) {
          return i;
        }
        if (fallback < 0) {
          fallback = i;
        }
      }
      return fallback;
    }

    /** nginx's smooth weighted round-robin, unrolled once: weights {3,1} give 0,0,1,0. */
    static int[] smoothRotation(UpstreamScores scores) {
      int n = scores.size();
      int total = 0;
      for (int i = 0; i < n; i++) {
        total += scores.weight(i);
      }
      int[] current = new int[n];
      int[] out = new int[total];
      for (int k = 0; k < total; k++) {
        int best = 0;
        for (int i = 0; i < n; i++) {
          current[i] += scores.weight(i);
          if (current[i] > current[best]) {
            best = i;
          }
        }
        current[best] -= total;
        out[k] = best;
      }
      return out;
    }
  }
}
