package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.testing.SimExtension;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A target's "observed" value is the one it is judged on, so it is within the limit exactly when the target holds.
 * Before, with a quarter of the requests failed, the summary read "ttft:p99<=1s observed 10.3 ms ... MISSED": the
 * p99 of the successful requests only, while the verdict (rightly) counts failed requests as missing every target.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SloObservedTest {
  // Seeded, so which requests fail is the same on every run: unseeded, 30% of 40 failed more than half of them about
  // once in 250 runs, and then the median fell on a failed request too.
  @RegisterExtension static final SimExtension sim = new SimExtension(SimConfig.defaults().withSeed(7L));
  @TempDir Path dir;

  @Test
  void aPercentileThatFallsOnFailedRequestsIsObservedAsFailedNotAsTheSuccessesValue() throws Exception {
    Path json = dir.resolve("slo.json");

    BenchCli r = BenchCli.run("bench", "-n", "40", "-c", "4", "--progress", "none", "--json", json.toString(),
        "--slo", "ttft:p99<=1s,ttft:p50<=1s", "-H", "X-Tokenpipe-Sim: ttft=10ms itl=2ms tokens=5 error_rate=0.3", sim.chatUrl());

    JsonNode res = BenchCli.json(json);
    long ok = res.path("totals").path("ok").asLong();
    assertThat(ok).as("the sim failed some and served most").isBetween(24L, 36L);
    JsonNode p99 = res.path("slo").path("targets").get(0);
    assertThat(p99.path("met").asBoolean()).isFalse();
    assertThat(p99.path("observed_ms").isNull()).as(p99.toString()).isTrue();
    assertThat(r.out()).containsPattern("ttft:p99<=1\\.00s\\s+observed\\s+failed\\s+attainment\\s+\\d+\\.\\d+%\\s+MISSED");
    // The median falls on successful requests: observed as their TTFT, within the limit, and the target holds.
    JsonNode p50 = res.path("slo").path("targets").get(1);
    assertThat(p50.path("met").asBoolean()).isTrue();
    assertThat(p50.path("observed_ms").asDouble()).isBetween(9.0, 500.0);
  }

  /** ITL targets judge each request on its own gaps: the observed value is the percentile of those, not of all gaps pooled. */
  @Test
  void anItlTargetIsObservedOnTheRequestsOwnGaps() {
    Slo slo = Slo.parse("itl:p90<=50ms");
    Metrics metrics = new Metrics();
    int[] smooth = new int[19];
    java.util.Arrays.fill(smooth, 10_000);
    int[] stalled = smooth.clone();
    stalled[7] = 200_000;
    // A request's p90 of its 19 gaps is its 18th smallest: two stalls of 200 ms make it 200 ms. Give 2 of the 10
    // requests three stalls each.
    stalled[3] = 200_000;
    stalled[11] = 200_000;
    for (int i = 0; i < 10; i++) {
      metrics.slo(slo, slo.judged(100_000, 10_000, 300_000, i < 8 ? smooth : stalled, 19));
    }
    // Pooled gaps: 6 of 190 are stalls (3%), so the pooled p90 gap is 10 ms, within 50 ms, while 20% of the
    // requests miss the target and it does not hold (attainment 80% < 90%).
    assertThat(metrics.sloMet[0].sum()).isEqualTo(8);
    Long observed = BenchReport.observedMicros(metrics.sloJudged[0], 10, 90);
    assertThat(observed).as("the 9th of 10 requests' own p90 gaps: a stalled one").isGreaterThan(50_000L);
  }
}
