package dev.tokenpipe.gateway;

import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The upstreams and their passive health: an upstream that refuses a connection, cuts a stream
 * before its first byte or answers 502/503/504 is skipped for {@code unhealthyNanos}, then tried
 * again by real traffic. Round-robin over the healthy ones; when none is healthy every upstream is
 * tried anyway (fail open), so an outage of all of them ends as soon as one recovers.
 *
 * <p>Thread-safe: picked from every event loop.
 */
final class UpstreamSet {
  private final List<Upstream> upstreams;
  private final long unhealthyNanos;
  /** Per upstream: System.nanoTime() until which it is considered unhealthy (0 = healthy). */
  private final AtomicLongArray unhealthyUntil;
  private final AtomicInteger next = new AtomicInteger();

  UpstreamSet(List<Upstream> upstreams, long unhealthyNanos) {
    if (upstreams.isEmpty()) {
      throw new IllegalArgumentException("no upstreams");
    }
    this.upstreams = List.copyOf(upstreams);
    this.unhealthyNanos = unhealthyNanos;
    this.unhealthyUntil = new AtomicLongArray(upstreams.size());
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

  void markFailed(Upstream u) {
    int idx = upstreams.indexOf(u);
    if (idx >= 0) {
      unhealthyUntil.set(idx, System.nanoTime() + unhealthyNanos);
    }
  }

  void markHealthy(Upstream u) {
    int idx = upstreams.indexOf(u);
    if (idx >= 0 && unhealthyUntil.get(idx) != 0) {
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
