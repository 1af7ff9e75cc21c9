package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.IntToLongFunction;
import org.junit.jupiter.api.Test;

/**
 * The balancer without sockets: a fake clock, a seeded random source, and a small discrete-event model of
 * streams (arrivals at a fixed rate, each stream's first token after its upstream's latency, its end some
 * time later), so the shares below are exact for a seed and the assertions hold with wide margins.
 */
class BalancerTest {
  static final long MS = TimeUnit.MILLISECONDS.toNanos(1);
  static final long FAST = 100 * MS;
  static final long SLOW = 500 * MS;

  /** A fake monotonic clock. */
  static final class Clock {
    long now = 1_000_000_000L;
  }

  /** Streams on a set, event by event: arrivals every {@code gap}, each lasting its first-token latency plus {@code tail}. */
  static final class Model {
    final Clock clock;
    final UpstreamSet set;
    final long gap;
    final long tail;
    final PriorityQueue<long[]> events = new PriorityQueue<>((x, y) -> Long.compare(x[0], y[0]));
    final List<UpstreamSet.Lease> leases = new ArrayList<>();
    long nextArrival;

    Model(Clock clock, UpstreamSet set, long gap, long tail) {
      this.clock = clock;
      this.set = set;
      this.gap = gap;
      this.tail = tail;
      this.nextArrival = clock.now;
    }

    /** Runs {@code requests} arrivals; returns the picks per upstream index. */
    int[] run(int requests, IntToLongFunction latencyOf) {
      int[] share = new int[set.all().size()];
      for (int r = 0; r < requests; r++) {
        drainUntil(nextArrival);
        clock.now = nextArrival;
        Upstream u = set.pick(Set.of());
        int idx = set.all().indexOf(u);
        share[idx]++;
        UpstreamSet.Lease lease = set.begin(u);
        leases.add(lease);
        long latency = latencyOf.applyAsLong(idx);
        int id = leases.size() - 1;
        events.add(new long[] {clock.now + latency, id, 0, latency});
        events.add(new long[] {clock.now + latency + tail, id, 1, 0});
        nextArrival += gap;
      }
      return share;
    }

    void drainUntil(long t) {
      while (!events.isEmpty() && events.peek()[0] <= t) {
        long[] e = events.poll();
        clock.now = e[0];
        UpstreamSet.Lease lease = leases.get((int) e[1]);
        if (e[2] == 0) {
          lease.firstToken(e[3]);
        } else {
          lease.end();
        }
      }
    }

    /** Lets time pass with no arrivals (streams still running end on time). */
    void idle(long nanos) {
      drainUntil(clock.now + nanos);
      clock.now = Math.max(clock.now, nextArrival) + nanos;
      nextArrival = clock.now;
    }
  }

  static List<UpstreamSpec> specs(int... weights) {
    List<UpstreamSpec> l = new ArrayList<>();
    for (int i = 0; i < weights.length; i++) {
      l.add(new UpstreamSpec(Upstream.parse("http://127.0.0.1:" + (9000 + i)), weights[i]));
    }
    return l;
  }

  static UpstreamSet set(Balancer.Mode mode, Clock clock, long seed, int... weights) {
    return new UpstreamSet(specs(weights), TimeUnit.SECONDS.toNanos(5), mode, () -> clock.now, new Random(seed));
  }

  static double share(int[] picks, int idx) {
    int total = 0;
    for (int p : picks) {
      total += p;
    }
    return (double) picks[idx] / total;
  }

  @Test
  void aSlowUpstreamGetsAClearlySmallerShareAndItsShareBackAfterItRecovers() {
    Clock clock = new Clock();
    UpstreamSet set = set(Balancer.Mode.P2C_EWMA, clock, 42, 1, 1, 1, 1);
    // 20 streams per second, each 1 s past its first token: about 22 in flight over four upstreams.
    Model m = new Model(clock, set, 50 * MS, 1000 * MS);
    long[] latency = {FAST, FAST, FAST, SLOW};

    m.run(200, i -> latency[i]); // 10 s to learn
    int[] slowPhase = m.run(1200, i -> latency[i]); // the next minute
    assertThat(share(slowPhase, 3)).as("slow upstream's share of %s", java.util.Arrays.toString(slowPhase))
        .isLessThan(0.10);
    assertThat(share(slowPhase, 0)).isGreaterThan(0.25);

    latency[3] = FAST; // it recovers
    m.run(1200, i -> latency[i]); // a minute for its score to fade and to be tried again
    int[] recovered = m.run(1200, i -> latency[i]);
    assertThat(share(recovered, 3)).as("recovered upstream's share of %s", java.util.Arrays.toString(recovered))
        .isGreaterThan(0.18);
  }

  @Test
  void withNoTrafficForAWhileASlowScoreFadesTowardTheFleet() {
    Clock clock = new Clock();
    UpstreamSet set = set(Balancer.Mode.P2C_EWMA, clock, 7, 1, 1, 1, 1);
    UpstreamScores s = set.scores();
    for (int i = 0; i < 4; i++) {
      set.begin(set.all().get(i)).firstToken(i == 3 ? SLOW : FAST);
    }
    assertThat(s.scoreNanos(3)).isEqualTo(SLOW);
    clock.now += TimeUnit.SECONDS.toNanos(30);
    assertThat(s.scoreNanos(3)).as("after three time constants").isLessThan(FAST * 1.0);
    assertThat(s.scoreNanos(3)).as("but not below half the fleet's median").isGreaterThan(FAST * 0.5);
  }

  @Test
  void aPeakIsTakenAtOnceAndLowerSamplesBlendInByTime() {
    Clock clock = new Clock();
    UpstreamScores s = new UpstreamScores(new int[] {1}, () -> clock.now);
    s.observe(0, FAST);
    s.observe(0, SLOW);
    assertThat(s.scoreNanos(0)).as("peak").isEqualTo(SLOW);
    s.observe(0, FAST); // at the same instant: weight zero
    assertThat(s.scoreNanos(0)).isEqualTo(SLOW);
    clock.now += TimeUnit.SECONDS.toNanos(10); // one time constant
    s.observe(0, FAST);
    assertThat(s.scoreNanos(0)).isCloseTo(FAST + (SLOW - FAST) / Math.E, org.assertj.core.data.Offset.offset(1e6));
    s.observeAtLeast(0, FAST); // a censored sample below the score changes nothing
    assertThat(s.scoreNanos(0)).isGreaterThan(FAST * 1.5);
  }

  @Test
  void aNewUpstreamStartsAtTheFleetMedianAndGetsAFairShare() {
    Clock clock = new Clock();
    UpstreamSet set = set(Balancer.Mode.P2C_EWMA, clock, 3, 1, 1, 1, 1);
    UpstreamScores s = set.scores();
    assertThat(s.scoreNanos(0)).as("no samples anywhere: the prior").isEqualTo(UpstreamScores.PRIOR_MILLIS * 1e6);
    // Three upstreams learned, the fourth (a new replica) never picked yet.
    for (int i = 0; i < 3; i++) {
      set.begin(set.all().get(i)).firstToken(FAST + i * 10 * MS);
    }
    assertThat(s.scoreNanos(3)).as("median of the others").isEqualTo(FAST + 10 * MS);
    Model m = new Model(clock, set, 50 * MS, 1000 * MS);
    int[] picks = m.run(1200, i -> FAST);
    for (int i = 0; i < 4; i++) {
      assertThat(share(picks, i)).as("share of %d in %s", i, java.util.Arrays.toString(picks)).isBetween(0.15, 0.35);
    }
  }

  @Test
  void weightsAreRespectedByBothBalancers() {
    for (Balancer.Mode mode : Balancer.Mode.values()) {
      Clock clock = new Clock();
      UpstreamSet set = set(mode, clock, 11, 3, 1, 1);
      Model m = new Model(clock, set, 20 * MS, 1000 * MS);
      int[] picks = m.run(3000, i -> FAST);
      // Equally fast: the weight-3 upstream takes about three fifths.
      assertThat(share(picks, 0)).as("%s: %s", mode, java.util.Arrays.toString(picks)).isBetween(0.5, 0.72);
      assertThat(share(picks, 1)).as("%s: %s", mode, java.util.Arrays.toString(picks)).isBetween(0.14, 0.26);
    }
  }

  @Test
  void retriesAndHedgesDoNotMoveTheRotationOn() {
    UpstreamSet set = set(Balancer.Mode.ROUND_ROBIN, new Clock(), 5, 1, 1);
    List<Integer> firsts = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      Upstream first = set.pick(Set.of());
      firsts.add(set.all().indexOf(first));
      Upstream second = set.pick(Set.of(first)); // a hedge's (or a retry's) pick, refused or not
      assertThat(second).isNotEqualTo(first);
    }
    assertThat(firsts).as("first attempts still alternate (each used to skip a turn)").containsExactly(0, 1, 0, 1, 0, 1);
  }

  @Test
  void roundRobinIsTheRotationItWasAndIgnoresLatency() {
    Clock clock = new Clock();
    UpstreamSet set = set(Balancer.Mode.ROUND_ROBIN, clock, 5, 1, 1, 1, 1);
    List<Integer> order = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      order.add(set.all().indexOf(set.pick(Set.of())));
    }
    assertThat(order).containsExactly(0, 1, 2, 3, 0, 1, 2, 3);
    Model m = new Model(clock, set, 50 * MS, 1000 * MS);
    int[] picks = m.run(1200, i -> i == 3 ? SLOW : FAST);
    assertThat(picks).containsExactly(300, 300, 300, 300);
    assertThat(Balancer.RoundRobin.smoothRotation(new UpstreamScores(new int[] {3, 1}, () -> 0))).containsExactly(0, 0, 1, 0);
  }

  @Test
  void aReturnedUpstreamRampsUpOverTheSlowStartWindow() {
    Clock clock = new Clock();
    UpstreamSet set = set(Balancer.Mode.P2C_EWMA, clock, 9, 1, 1);
    Upstream a = set.all().get(0);
    for (int i = 0; i < UpstreamSet.FAILURES_TO_MARK_DOWN; i++) {
      set.markFailed(a);
    }
    assertThat(set.isHealthy(a)).isFalse();
    assertThat(set.passiveEjections(0)).isEqualTo(1);
    clock.now += TimeUnit.SECONDS.toNanos(6); // the cool-down ran out: tried again by traffic
    set.markHealthy(a);
    assertThat(set.scores().slowStartFactor(0)).isEqualTo(UpstreamScores.SLOW_START_MIN_FACTOR);
    Model m = new Model(clock, set, 50 * MS, 1000 * MS);
    int[] early = m.run(40, i -> FAST); // the first 2 s
    clock.now += TimeUnit.SECONDS.toNanos(10);
    m.idle(0);
    int[] late = m.run(400, i -> FAST);
    assertThat(share(early, 0)).as("ramping: %s", java.util.Arrays.toString(early)).isLessThan(0.3);
    assertThat(share(late, 0)).as("ramped: %s", java.util.Arrays.toString(late)).isBetween(0.35, 0.65);
    assertThat(set.scores().slowStartFactor(0)).isEqualTo(1.0);
  }

  @Test
  void activeChecksEjectAfterFailuresInARowAndReturnAfterPassesInARow() {
    Clock clock = new Clock();
    UpstreamSet set = set(Balancer.Mode.P2C_EWMA, clock, 1, 1, 1);
    Upstream a = set.all().get(0);
    for (int i = 1; i < UpstreamSet.CHECK_FAILS_TO_EJECT; i++) {
      set.checkResult(a, false);
    }
    set.checkResult(a, true); // a pass in between: the run starts again
    for (int i = 1; i < UpstreamSet.CHECK_FAILS_TO_EJECT; i++) {
      set.checkResult(a, false);
    }
    assertThat(set.isHealthy(a)).isTrue();
    set.checkResult(a, false);
    assertThat(set.isHealthy(a)).isFalse();
    assertThat(set.activeEjections(0)).isEqualTo(1);
    for (int i = 0; i < 20; i++) {
      assertThat(set.pick(Set.of())).isEqualTo(set.all().get(1));
    }
    set.markHealthy(a); // real traffic does not bring back what the checks ejected
    assertThat(set.isHealthy(a)).isFalse();
    set.checkResult(a, true);
    assertThat(set.isHealthy(a)).isFalse();
    set.checkResult(a, true);
    assertThat(set.isHealthy(a)).isTrue();
    assertThat(set.scores().slowStartFactor(0)).isLessThan(1.0);
    assertThat(set.checksFailed(0)).isEqualTo(2L * UpstreamSet.CHECK_FAILS_TO_EJECT - 1);
  }

  @Test
  void weightsParseAfterTheUrlAndOldValuesKeepTheirMeaning() {
    assertThat(UpstreamSpec.parse("http://a:8000/v1=3")).isEqualTo(new UpstreamSpec(Upstream.parse("http://a:8000/v1"), 3));
    assertThat(UpstreamSpec.parse("http://a:8000/v1").weight()).isEqualTo(1);
    assertThat(UpstreamSpec.parse(" https://api.openai.com/v1 ").upstream().name()).isEqualTo("https://api.openai.com:443");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> UpstreamSpec.parse("http://a:8000=0"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1..100");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> UpstreamSpec.parse("http://a:8000=1000"))
        .isInstanceOf(IllegalArgumentException.class);
    for (String bad : new String[] {"http://a:8000=abc", "http://a:8000=", "http://a:8000=1.5", "http://a:8000=-2"}) {
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> UpstreamSpec.parse(bad)).as(bad)
          .hasMessageContaining("the weight after '=' must be a whole number").hasMessageNotContaining("no host");
    }
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Balancer.Mode.parse("random"))
        .hasMessageContaining("p2c-ewma or round-robin");
    // The same URL twice adds up (the old way of weighting one).
    UpstreamSet twice = new UpstreamSet(List.of(UpstreamSpec.parse("http://a:1"), UpstreamSpec.parse("http://a:1"),
        UpstreamSpec.parse("http://b:1")), 1, Balancer.Mode.ROUND_ROBIN, System::nanoTime, new Random(1));
    assertThat(twice.all()).hasSize(2);
    assertThat(twice.scores().weight(0)).isEqualTo(2);
  }
}
