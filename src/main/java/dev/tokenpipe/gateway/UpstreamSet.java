package dev.tokenpipe.gateway;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.LongSupplier;
import java.util.random.RandomGenerator;

/**
 * The upstreams, their health and the choice among them.
 *
 * <p><b>Passive health.</b> A failure is a refused connection, a failed TLS handshake, a 502/503/504
 * answer, a cut (before or after output), a protocol error, or a first-token or idle timeout (never a failure
 * of our own socket: {@link ConnectFailure}); a success is a response that ended complete. An upstream is
 * marked down only after {@value #FAILURES_TO_MARK_DOWN} failures in a row, so isolated errors of a working
 * upstream (a model server's occasional 503) neither take it out of rotation nor flap {@code /readyz}; this
 * is Envoy's outlier-detection default ({@code consecutive_5xx: 5}). A marked upstream is skipped for
 * {@code unhealthyNanos} (the cool-down), then tried again by real traffic; one success clears it and its
 * count, one more failure marks it down again at once.
 *
 * <p><b>Active health</b> (optional, {@link HealthChecker}): {@value #CHECK_FAILS_TO_EJECT} failed checks in
 * a row eject an upstream until {@value #CHECK_PASSES_TO_RETURN} pass in a row. An upstream is usable when
 * neither marks it down. One that returns, either way, gets a slow start ({@link UpstreamScores}).
 *
 * <p><b>Choice.</b> The {@link Balancer} picks among the usable upstreams the request has not tried; when
 * none is usable every upstream is tried anyway for a first attempt (fail open), so an outage of all of
 * them ends as soon as one recovers. Each attempt holds a {@link Lease}: it counts the stream in flight and
 * carries the first-token latency back to the scores.
 *
 * <p>Thread-safe: picked and marked from every event loop.
 */
final class UpstreamSet {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(UpstreamSet.class);
  /** Consecutive failures that mark an upstream down. */
  static final int FAILURES_TO_MARK_DOWN = 5;
  /** Consecutive failed active checks that eject an upstream. */
  static final int CHECK_FAILS_TO_EJECT = 3;
  /** Consecutive passed active checks that bring an ejected upstream back. */
  static final int CHECK_PASSES_TO_RETURN = 2;

  private final List<Upstream> upstreams;
  private final long unhealthyNanos;
  private final LongSupplier clock;
  private final UpstreamScores scores;
  private final Balancer balancer;
  private final Balancer.Mode mode;
  /** Per upstream: clock time until which it is considered unhealthy (0 = healthy). */
  private final AtomicLongArray unhealthyUntil;
  /** Per upstream: failures since its last success. */
  private final AtomicIntegerArray failuresInRow;
  /** Per upstream: 1 while ejected by active checks. */
  private final AtomicIntegerArray ejected;
  /** Per upstream: consecutive failed (negative) or passed (positive) active checks. */
  private final AtomicIntegerArray checkRun;
  private final AtomicLongArray picks;
  private final AtomicLongArray passiveEjections;
  private final AtomicLongArray activeEjections;
  private final AtomicLongArray checksPassed;
  private final AtomicLongArray checksFailed;

  /** Round-robin, weight 1 each, the system clock: the set as it was before balancing had a choice. */
  UpstreamSet(List<Upstream> upstreams, long unhealthyNanos) {
    this(upstreams.stream().map(u -> new UpstreamSpec(u, 1)).toList(), unhealthyNanos, Balancer.Mode.ROUND_ROBIN,
        System::nanoTime, Balancer.threadLocalRandom());
  }

  /**
   * @param clock nanoseconds, monotonic; health cool-downs, scores and slow start all read it
   * @param random for the balancer's draws (thread-safe)
   */
  UpstreamSet(List<UpstreamSpec> specs, long unhealthyNanos, Balancer.Mode mode, LongSupplier clock,
      RandomGenerator random) {
    if (specs.isEmpty()) {
      throw new IllegalArgumentException("no upstreams");
    }
    // The same URL twice adds up its weights (listing an upstream twice was the way to weight it before).
    List<Upstream> list = new ArrayList<>();
    List<Integer> weightList = new ArrayList<>();
    for (UpstreamSpec spec : specs) {
      int at = list.indexOf(spec.upstream());
      if (at >= 0) {
        weightList.set(at, Math.min(UpstreamSpec.MAX_WEIGHT, weightList.get(at) + spec.weight()));
      } else {
        list.add(spec.upstream());
        weightList.add(spec.weight());
      }
    }
    int[] weights = weightList.stream().mapToInt(Integer::intValue).toArray();
    int n = list.size();
    this.upstreams = List.copyOf(list);
    this.unhealthyNanos = unhealthyNanos;
    this.clock = clock;
    this.mode = mode;
    this.scores = new UpstreamScores(weights, clock);
    this.balancer = Balancer.of(mode, scores, random);
    this.unhealthyUntil = new AtomicLongArray(n);
    this.failuresInRow = new AtomicIntegerArray(n);
    this.ejected = new AtomicIntegerArray(n);
    this.checkRun = new AtomicIntegerArray(n);
    this.picks = new AtomicLongArray(n);
    this.passiveEjections = new AtomicLongArray(n);
    this.activeEjections = new AtomicLongArray(n);
    this.checksPassed = new AtomicLongArray(n);
    this.checksFailed = new AtomicLongArray(n);
  }

  List<Upstream> all() {
    return upstreams;
  }

  Balancer.Mode mode() {
    return mode;
  }

  UpstreamScores scores() {
    return scores;
  }

  /**
   * A usable upstream not in {@code exclude} (already tried by this request), chosen by the balancer; null
   * if none is left. Choosing counts nothing: the attempt that follows takes a {@link #begin lease}.
   */
  Upstream pick(Set<Upstream> exclude) {
    int n = upstreams.size();
    long now = clock.getAsLong();
    boolean[] eligible = new boolean[n];
    boolean any = false;
    for (int i = 0; i < n; i++) {
      eligible[i] = !exclude.contains(upstreams.get(i)) && isHealthy(i, now);
      any |= eligible[i];
    }
    if (!any) {
      // Fail open only for the first attempt: a retry must not go back to a known-bad upstream.
      if (!exclude.isEmpty()) {
        return null;
      }
      java.util.Arrays.fill(eligible, true);
    }
    int idx = balancer.pick(eligible, exclude.isEmpty());
    return idx < 0 ? null : upstreams.get(idx);
  }

  /** An attempt on {@code u} starts: counted as a pick, and in flight until {@link Lease#end()}. */
  Lease begin(Upstream u) {
    int idx = upstreams.indexOf(u);
    if (idx < 0) {
      return Lease.NONE;
    }
    picks.incrementAndGet(idx);
    scores.started(idx);
    return new Lease(this, idx);
  }

  /** One failure of {@code u}; the {@value #FAILURES_TO_MARK_DOWN}th in a row (and each after it) marks it down. */
  void markFailed(Upstream u) {
    int idx = upstreams.indexOf(u);
    if (idx >= 0 && failuresInRow.incrementAndGet(idx) >= FAILURES_TO_MARK_DOWN) {
      long now = clock.getAsLong();
      long before = unhealthyUntil.getAndSet(idx, now + unhealthyNanos);
      if (before == 0 || now - before >= 0) {
        passiveEjections.incrementAndGet(idx);
        LOG.warn("upstream {} marked down after {} failures in a row; skipped for {} s", u.name(),
            failuresInRow.get(idx), unhealthyNanos / 1_000_000_000L);
      }
    }
  }

  /** A success of {@code u}: healthy again, its failure count back to zero; back from a mark, it starts slowly. */
  void markHealthy(Upstream u) {
    int idx = upstreams.indexOf(u);
    if (idx < 0) {
      return;
    }
    if (failuresInRow.get(idx) != 0) { // plain read first: the common case writes nothing shared
      failuresInRow.set(idx, 0);
    }
    if (unhealthyUntil.get(idx) != 0 && unhealthyUntil.getAndSet(idx, 0) != 0 && ejected.get(idx) == 0) {
      scores.beginSlowStart(idx);
      LOG.info("upstream {} is back (a complete response); its share ramps up", u.name());
    }
  }

  /**
   * One active check's result: {@value #CHECK_FAILS_TO_EJECT} failures in a row eject, {@value
   * #CHECK_PASSES_TO_RETURN} passes in a row bring back (with a slow start).
   */
  void checkResult(Upstream u, boolean passed) {
    checkResult(u, passed, null);
  }

  /** @param why what the check found when it failed (said in the warning of an ejection), or null */
  void checkResult(Upstream u, boolean passed, String why) {
    int idx = upstreams.indexOf(u);
    if (idx < 0) {
      return;
    }
    if (passed) {
      checksPassed.incrementAndGet(idx);
      int run = checkRun.updateAndGet(idx, r -> r > 0 ? r + 1 : 1);
      if (run >= CHECK_PASSES_TO_RETURN && ejected.compareAndSet(idx, 1, 0)) {
        scores.beginSlowStart(idx);
        LOG.info("upstream {} is back ({} health checks passed); its share ramps up", u.name(), run);
      }
    } else {
      checksFailed.incrementAndGet(idx);
      int run = checkRun.updateAndGet(idx, r -> r < 0 ? r - 1 : -1);
      if (-run >= CHECK_FAILS_TO_EJECT && ejected.compareAndSet(idx, 0, 1)) {
        activeEjections.incrementAndGet(idx);
        LOG.warn("upstream {} ejected: {} health checks failed in a row{}", u.name(), -run,
            why == null ? "" : ", the last: " + why);
      }
    }
  }

  boolean anyHealthy() {
    return usableCount() > 0;
  }

  /** Upstreams usable now (neither marked down by traffic nor ejected by checks). */
  int usableCount() {
    long now = clock.getAsLong();
    int k = 0;
    for (int i = 0; i < upstreams.size(); i++) {
      if (isHealthy(i, now)) {
        k++;
      }
    }
    return k;
  }

  boolean isHealthy(Upstream u) {
    int idx = upstreams.indexOf(u);
    return idx >= 0 && isHealthy(idx, clock.getAsLong());
  }

  private boolean isHealthy(int idx, long now) {
    if (ejected.get(idx) != 0) {
      return false;
    }
    long until = unhealthyUntil.get(idx);
    return until == 0 || now - until >= 0;
  }

  // ---------------------------------------------------------------- for /metrics, by index into all()

  long picks(int i) {
    return picks.get(i);
  }

  long passiveEjections(int i) {
    return passiveEjections.get(i);
  }

  long activeEjections(int i) {
    return activeEjections.get(i);
  }

  long checksPassed(int i) {
    return checksPassed.get(i);
  }

  long checksFailed(int i) {
    return checksFailed.get(i);
  }

  boolean isHealthy(int i) {
    return isHealthy(i, clock.getAsLong());
  }

  /**
   * One attempt on one upstream, from its start to its end: in flight meanwhile, and the way its first
   * token's latency reaches the scores. Used on the exchange's event loop; {@link #end()} is idempotent.
   */
  static class Lease {
    /** For an upstream the set does not know (never happens in the gateway): reports nothing. */
    static final Lease NONE = new Lease(null, -1);

    private final UpstreamSet set;
    private final int idx;
    private boolean ended;
    private boolean observed;

    private Lease(UpstreamSet set, int idx) {
      this.set = set;
      this.idx = idx;
    }

    /** The attempt's first generated event came {@code nanos} after its request was sent. Once per lease. */
    void firstToken(long nanos) {
      if (set != null && !observed) {
        observed = true;
        set.scores.observe(idx, nanos);
      }
    }

    /**
     * No generated event came within {@code nanos} of the request (a first-token timeout, or an attempt
     * cancelled for another): its latency is at least that much.
     */
    void noTokenAfter(long nanos) {
      if (set != null && !observed) {
        observed = true;
        set.scores.observeAtLeast(idx, nanos);
      }
    }

    /** The attempt is over (done, failed, cancelled or replaced): no longer in flight. */
    void end() {
      if (set != null && !ended) {
        ended = true;
        set.scores.ended(idx);
      }
    }
  }
}
