package dev.tokenpipe.gateway;

import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The upstreams and their passive health. A failure is a refused connection, a failed TLS handshake, a
 * cut before the first byte or a 502/503/504 answer (never a failure of our own socket: {@link
 * ConnectFailure}). An upstream is marked down only after {@value #FAILURES_TO_MARK_DOWN} failures in a
 * row, so isolated errors of a working upstream (a model server's occasional 503) neither take it out of
 * rotation nor flap {@code /readyz}; this is Envoy's outlier-detection default ({@code consecutive_5xx: 5}).
 * A marked upstream is skipped for {@code unhealthyNanos} (the cool-down), then tried again by real
 * traffic; one success clears it and its count, one more failure marks it down again at once.
 * Round-robin over the healthy ones; when none is healthy every upstream is tried anyway (fail open),
 * so an outage of all of them ends as soon as one recovers.
 *
 * <p>Thread-safe: picked and marked from every event loop.
 */
final class UpstreamSet {
  /** Consecutive failures that mark an upstream down. */
  static final int FAILURES_TO_MARK_DOWN = 5;

  private final List<Upstream> upstreams;
  private final long unhealthyNanos;
  /** Per upstream: System.nanoTime() until which it is considered unhealthy (0 = healthy). */
  private final AtomicLongArray unhealthyUntil;
  /** Per upstream: failures since its last success. */
  private final AtomicIntegerArray failuresInRow;
  private final AtomicInteger next = new AtomicInteger();

  UpstreamSet(List<Upstream> upstreams, long unhealthyNanos) {
    if (upstreams.isEmpty()) {
      throw new IllegalArgumentException("no upstreams");
    }
    this.upstreams = List.copyOf(upstreams);
    this.unhealthyNanos = unhealthyNanos;
    this.unhealthyUntil = new AtomicLongArray(upstreams.size());
    this.failuresInRow = new AtomicIntegerArray(upstreams.size());
  }

  List<Upstream> all() {
    return upstreams;
  }

  /** The next healthy upstream not in {@code exclude} (already tried by this request); null if none is left. */
  Upstream pick(Set<Upstream> exclude) {
    int n = upstreams.size();
    int start = Math.floorMod(next.getAndIncrement(), n);
    long now = System.nanoTime();
    Upstream fallback = null;
    for (int i = 0; i < n; i++) {
      int idx = (start + i) % n;
      Upstream u = upstreams.get(idx);
      if (exclude.contains(u)) {
        continue;
      }
      if (isHealthy(idx, now)) {
        return u;
      }
      if (fallback == null) {
        fallback = u;
      }
    }
    // Fail open only for the first attempt: a retry must not go back to a known-bad upstream.
    return exclude.isEmpty() ? fallback : null;
  }

  /** One failure of {@code u}; the {@value #FAILURES_TO_MARK_DOWN}th in a row (and each after it) marks it down. */
  void markFailed(Upstream u) {
    int idx = upstreams.indexOf(u);
    if (idx >= 0 && failuresInRow.incrementAndGet(idx) >= FAILURES_TO_MARK_DOWN) {
      unhealthyUntil.set(idx, System.nanoTime() + unhealthyNanos);
    }
  }

  /** A success of {@code u}: healthy again, its failure count back to zero. */
  void markHealthy(Upstream u) {
    int idx = upstreams.indexOf(u);
    if (idx < 0) {
      return;
    }
    if (failuresInRow.get(idx) != 0) { // plain read first: the common case writes nothing shared
      failuresInRow.set(idx, 0);
    }
    if (unhealthyUntil.get(idx) != 0) {
      unhealthyUntil.set(idx, 0);
    }
  }

  boolean anyHealthy() {
    long now = System.nanoTime();
    for (int i = 0; i < upstreams.size(); i++) {
      if (isHealthy(i, now)) {
        return true;
      }
    }
    return false;
  }

  boolean isHealthy(Upstream u) {
    int idx = upstreams.indexOf(u);
    return idx >= 0 && isHealthy(idx, System.nanoTime());
  }

  private boolean isHealthy(int idx, long now) {
    long until = unhealthyUntil.get(idx);
    return until == 0 || now - until >= 0;
  }
}
