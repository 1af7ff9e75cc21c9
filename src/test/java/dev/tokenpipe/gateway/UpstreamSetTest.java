package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Passive health: isolated failures never take an upstream down; a run of them does, until a success. */
class UpstreamSetTest {
  final Upstream a = Upstream.parse("http://127.0.0.1:1");
  final Upstream b = Upstream.parse("http://127.0.0.1:2");

  @Test
  void anUpstreamGoesDownOnlyAfterFailuresInARowAndASuccessBringsItBack() {
    UpstreamSet set = new UpstreamSet(List.of(a), TimeUnit.SECONDS.toNanos(60));
    for (int i = 1; i < UpstreamSet.FAILURES_TO_MARK_DOWN; i++) {
      set.markFailed(a);
      assertThat(set.anyHealthy()).as("after %d failure(s) in a row", i).isTrue();
    }
    set.markHealthy(a); // a success in between: the count starts again
    for (int i = 1; i < UpstreamSet.FAILURES_TO_MARK_DOWN; i++) {
      set.markFailed(a);
    }
    assertThat(set.isHealthy(a)).isTrue();
    set.markFailed(a);
    assertThat(set.isHealthy(a)).as("down after %d in a row", UpstreamSet.FAILURES_TO_MARK_DOWN).isFalse();
    assertThat(set.anyHealthy()).isFalse();
    assertThat(set.pick(Set.of())).as("fail open: the only upstream is still tried").isEqualTo(a);
    set.markHealthy(a);
    assertThat(set.anyHealthy()).isTrue();
  }

  @Test
  void afterTheCoolDownOneMoreFailureMarksItDownAgainAtOnce() throws InterruptedException {
    UpstreamSet set = new UpstreamSet(List.of(a, b), TimeUnit.MILLISECONDS.toNanos(50));
    for (int i = 0; i < UpstreamSet.FAILURES_TO_MARK_DOWN; i++) {
      set.markFailed(a);
    }
    assertThat(set.isHealthy(a)).isFalse();
    assertThat(set.pick(Set.of())).isEqualTo(b);
    assertThat(set.pick(Set.of())).as("skipped while down").isEqualTo(b);
    Thread.sleep(80);
    assertThat(set.isHealthy(a)).as("tried again after the cool-down").isTrue();
    set.markFailed(a);
    assertThat(set.isHealthy(a)).as("still failing: down again without another full run").isFalse();
  }
}
