package dev.tokenpipe.gateway;

import dev.tokenpipe.cli.Durations;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * When a streaming request gets a second, hedged attempt ({@code --hedge-after}, {@code --hedge-budget},
 * {@code --hedge-paths}), one instance per gateway, shared by all event loops (thread-safe). It decides
 * three things and touches no socket:
 * <ul>
 *   <li><b>Eligibility</b> ({@link #eligible}): a stream request on one of the hedge paths, without
 *       {@code X-Tokenpipe-Hedge: off} and without an {@code Idempotency-Key} header.
 *   <li><b>Delay</b> ({@link #delayNanos}): a fixed delay, or a percentile of the upstream first-token
 *       latency observed by this gateway over the last {@link #WINDOW_INTERVALS} intervals of
 *       {@code intervalNanos} (60 s by default, refreshed every 5 s). Until that window holds
 *       {@link #MIN_SAMPLES} samples there is no hedging: a percentile of a handful of streams says nothing.
 *   <li><b>Budget</b> ({@link #tryHedge}): a token bucket. Every eligible request deposits {@code budget}
 *       tokens, a hedge takes one, the balance is capped at {@link #BURST} and starts at zero. So over any
 *       run of N eligible requests at most {@code budget × N + BURST} hedges start, and never one before
 *       it was earned (gRPC's retry throttling and Finagle's retry budget work the same way).
 * </ul>
 */
final class HedgePolicy {
  /** Header that keeps one request from being hedged (any value but {@code on}). */
  static final String HEADER = "X-Tokenpipe-Hedge";
  /** draft-ietf-httpapi-idempotency-key-header: a server that honours it answers a concurrent duplicate with 409. */
  static final String IDEMPOTENCY_KEY = "Idempotency-Key";
  /** Samples the window needs before a percentile delay is used. */
  static final int MIN_SAMPLES = 100;
  /** Intervals in the sliding window of first-token latencies. */
  static final int WINDOW_INTERVALS = 12;
  static final long DEFAULT_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(5);
  /** Most hedges the budget can bank while traffic needs none. */
  static final int BURST = 10;
  /** Generation endpoints, safe to ask twice: the default of {@code --hedge-paths}. */
  static final List<String> DEFAULT_PATHS = List.of("/v1/chat/completions", "/v1/completions", "/v1/messages",
      "/api/chat", "/api/generate");

  private static final long MILLI = 1000;

  /**
   * The {@code --hedge-after} setting.
   *
   * @param fixedNanos the delay when fixed, else 0
   * @param percentile in (0, 100) when the delay follows the observed first tokens, else 0
   */
  record After(boolean on, long fixedNanos, double percentile) {
    static final After OFF = new After(false, 0, 0);

    /**
     * {@code off}, a duration ({@code 300ms}, as {@link Durations}), or {@code pNN} / {@code pNN.N}.
     *
     * @throws IllegalArgumentException with a one-line message
     */
    static After parse(String spec) {
      String s = spec == null ? "" : spec.trim().toLowerCase(Locale.ROOT);
      if (s.equals("off") || s.equals("0")) {
        return OFF;
      }
      if (s.startsWith("p")) {
        double p;
        try {
          p = Double.parseDouble(s.substring(1));
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException("--hedge-after: not a percentile: '" + spec + "' (use e.g. p95)");
        }
        if (!(p > 0 && p < 100)) {
          throw new IllegalArgumentException("--hedge-after: percentile must be above 0 and below 100 (0 < N < 100,"
              + " e.g. p95), not '" + spec + "'");
        }
        return new After(true, 0, p);
      }
      long nanos;
      try {
        nanos = Durations.parse(s).toNanos();
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("--hedge-after: " + e.getMessage() + " (or off, or a percentile like p95)");
      }
      return nanos == 0 ? OFF : new After(true, nanos, 0);
    }

    @Override
    public String toString() {
      if (!on) {
        return "off";
      }
      return percentile > 0 ? "p" + (percentile == Math.rint(percentile) ? String.valueOf((long) percentile) : String.valueOf(percentile))
          : Durations.format(java.time.Duration.ofNanos(fixedNanos));
    }
  }

  /**
   * {@code --hedge-budget}: {@code 10%} or a fraction {@code 0.1}, in [0, 1].
   *
   * @throws IllegalArgumentException with a one-line message
   */
  static double parseBudget(String spec) {
    String s = spec == null ? "" : spec.trim();
    boolean percent = s.endsWith("%");
    double v;
    try {
      v = Double.parseDouble(percent ? s.substring(0, s.length() - 1).trim() : s);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--hedge-budget: not a share: '" + spec + "' (use e.g. 10%)");
    }
    if (percent) {
      v /= 100;
    }
    if (!(v >= 0 && v <= 1)) {
      throw new IllegalArgumentException("--hedge-budget: must be between 0% and 100%: '" + spec + "'");
    }
    return v;
  }

  private final After after;
  private final long depositMilli;
  private final List<String> paths;
  private final LongSupplier clock;
  private final long intervalNanos;

  /** Budget balance in thousandths of a hedge. */
  private final AtomicLong balanceMilli = new AtomicLong();
  private final Recorder recorder = new Recorder(2);
  private final Histogram[] window = new Histogram[WINDOW_INTERVALS];
  private int windowNext;
  private long nextRotateNanos;
  /** The current percentile delay, -1 while the window has too few samples. */
  private volatile long percentileNanos = -1;

  HedgePolicy(After after, double budget, List<String> paths) {
    this(after, budget, paths, System::nanoTime, DEFAULT_INTERVAL_NANOS);
  }

  HedgePolicy(After after, double budget, List<String> paths, LongSupplier clock, long intervalNanos) {
    this.after = after;
    this.depositMilli = Math.round(budget * MILLI);
    this.paths = List.copyOf(paths);
    this.clock = clock;
    this.intervalNanos = intervalNanos;
    this.nextRotateNanos = clock.getAsLong() + intervalNanos;
  }

  static HedgePolicy of(GatewayConfig c) {
    return new HedgePolicy(After.parse(c.hedgeAfter()), parseBudget(c.hedgeBudget()), c.hedgePaths());
  }

  boolean enabled() {
    return after.on();
  }

  After after() {
    return after;
  }

  /**
   * Whether this request may be hedged at all; an eligible request also earns its share of the budget.
   *
   * @param path the client's request path (a query is ignored)
   */
  boolean eligible(String path, HttpHeaders headers, boolean stream) {
    if (!after.on() || !stream) {
      return false;
    }
    String value = headers.get(HEADER);
    if (value != null && !value.trim().equalsIgnoreCase("on")) {
      return false;
    }
    if (headers.contains(IDEMPOTENCY_KEY)) {
      return false;
    }
    if (!paths.contains(Route.pathOf(path))) {
      return false;
    }
    deposit();
    return true;
  }

  private void deposit() {
    long cap = BURST * MILLI;
    long b;
    do {
      b = balanceMilli.get();
      if (b >= cap) {
        return;
      }
    } while (!balanceMilli.compareAndSet(b, Math.min(cap, b + depositMilli)));
  }

  /** Takes one hedge from the budget; false (a refusal) when the balance is short of one. */
  boolean tryHedge() {
    long b;
    do {
      b = balanceMilli.get();
      if (b < MILLI) {
        return false;
      }
    } while (!balanceMilli.compareAndSet(b, b - MILLI));
    return true;
  }

  /** How long after the request a hedge starts; -1 for none (off, or too few samples for a percentile). */
  long delayNanos() {
    if (!after.on()) {
      return -1;
    }
    if (after.percentile() <= 0) {
      return after.fixedNanos();
    }
    rotateIfDue();
    return percentileNanos;
  }

  /** One upstream first-token latency (request written → first generated event read), in nanoseconds. */
  void recordFirstToken(long nanos) {
    if (after.percentile() > 0 && nanos >= 0) {
      recorder.recordValue(Math.max(1, nanos / 1000)); // microseconds: 2 significant digits over hours
      rotateIfDue();
    }
  }

  private void rotateIfDue() {
    if (clock.getAsLong() - nextRotateNanos < 0) {
      return;
    }
    synchronized (window) {
      long now = clock.getAsLong();
      if (now - nextRotateNanos < 0) {
        return;
      }
      // After a quiet spell, every elapsed interval is one rotation (empty ones push old samples out).
      long elapsed = Math.min(WINDOW_INTERVALS, 1 + (now - nextRotateNanos) / intervalNanos);
      nextRotateNanos = now + intervalNanos;
      for (long i = 0; i < elapsed; i++) {
        Histogram h = i == 0 ? recorder.getIntervalHistogram(window[windowNext]) : null;
        if (h == null) {
          h = window[windowNext];
          if (h != null) {
            h.reset();
          }
        }
        window[windowNext] = h;
        windowNext = (windowNext + 1) % WINDOW_INTERVALS;
      }
      Histogram sum = null;
      for (Histogram h : window) {
        if (h != null) {
          if (sum == null) {
            sum = new Histogram(2);
          }
          sum.add(h);
        }
      }
      percentileNanos = sum == null || sum.getTotalCount() < MIN_SAMPLES ? -1
          : sum.getValueAtPercentile(after.percentile()) * 1000;
    }
  }
}
