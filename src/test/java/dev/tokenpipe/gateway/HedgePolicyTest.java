package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokenpipe.cli.Cli;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link HedgePolicy} without sockets: parsing, eligibility, the budget's bound, the percentile window. */
class HedgePolicyTest {
  static final long MS = TimeUnit.MILLISECONDS.toNanos(1);
  static final String CHAT = "/v1/chat/completions";

  final AtomicLong now = new AtomicLong(1_000_000_000L);

  HedgePolicy policy(String after, String budget) {
    return new HedgePolicy(HedgePolicy.After.parse(after), HedgePolicy.parseBudget(budget), HedgePolicy.DEFAULT_PATHS,
        now::get, 5_000 * MS);
  }

  static HttpHeaders headers(String... nameValues) {
    HttpHeaders h = new DefaultHttpHeaders();
    for (int i = 0; i < nameValues.length; i += 2) {
      h.add(nameValues[i], nameValues[i + 1]);
    }
    return h;
  }

  @Test
  void parsesOffDurationsAndPercentiles() {
    assertThat(HedgePolicy.After.parse("off").on()).isFalse();
    assertThat(HedgePolicy.After.parse("0").on()).isFalse();
    assertThat(HedgePolicy.After.parse("300ms").fixedNanos()).isEqualTo(300 * MS);
    assertThat(HedgePolicy.After.parse("1.5s").fixedNanos()).isEqualTo(1500 * MS);
    assertThat(HedgePolicy.After.parse("p95").percentile()).isEqualTo(95.0);
    assertThat(HedgePolicy.After.parse("P99.9").percentile()).isEqualTo(99.9);
    assertThat(HedgePolicy.After.parse("p95").toString()).isEqualTo("p95");
    assertThat(HedgePolicy.After.parse("300ms").toString()).isEqualTo("300ms");
    assertThatThrownBy(() -> HedgePolicy.After.parse("p100")).hasMessageContaining("--hedge-after")
        .hasMessageContaining("above 0 and below 100 (0 < N < 100, e.g. p95)");
    assertThatThrownBy(() -> HedgePolicy.After.parse("p0")).hasMessageContaining("0 < N < 100");
    assertThatThrownBy(() -> HedgePolicy.After.parse("pfast")).hasMessageContaining("percentile");
    assertThatThrownBy(() -> HedgePolicy.After.parse("soon")).hasMessageContaining("--hedge-after");
    assertThat(HedgePolicy.parseBudget("10%")).isEqualTo(0.1);
    assertThat(HedgePolicy.parseBudget("0.25")).isEqualTo(0.25);
    assertThat(HedgePolicy.parseBudget("0%")).isZero();
    assertThatThrownBy(() -> HedgePolicy.parseBudget("150%")).hasMessageContaining("--hedge-budget");
    assertThatThrownBy(() -> HedgePolicy.parseBudget("10")).hasMessageContaining("--hedge-budget");
    assertThatThrownBy(() -> HedgePolicy.parseBudget("lots")).hasMessageContaining("--hedge-budget");
  }

  @Test
  void badValuesFailTheConfigWithTheFlagsName() {
    assertThatThrownBy(() -> GatewayConfig.defaults().withHedging("p0", "10%")).hasMessageContaining("--hedge-after");
    assertThatThrownBy(() -> GatewayConfig.defaults().withHedging("300ms", "-5%")).hasMessageContaining("--hedge-budget");
  }

  /** A hedge path is matched against request paths, which always start with /: "foo" would never match. */
  @Test
  @Timeout(value = 15, unit = TimeUnit.SECONDS) // accepted, serve would run until stopped
  void aHedgePathWithoutItsLeadingSlashIsAOneLineUsageError() {
    GatewayTlsTest.Run r = GatewayTlsTest.serve("--port", "0", "--upstream", "http://127.0.0.1:1",
        "--hedge-paths", "/v1/chat/completions,foo");
    assertThat(r.code()).as(r.err()).isEqualTo(Cli.EXIT_USAGE);
    assertThat(r.err().strip().lines().count()).as(r.err()).isEqualTo(1);
    assertThat(r.err()).contains("--hedge-paths must be paths starting with /").contains("not 'foo'");
  }

  @Test
  void onlyStreamsOnHedgePathsWithoutAnOptOutAreEligible() {
    HedgePolicy p = policy("200ms", "10%");
    assertThat(p.eligible(CHAT, headers(), true)).isTrue();
    assertThat(p.eligible(CHAT + "?x=1", headers(), true)).as("a query changes nothing").isTrue();
    assertThat(p.eligible(CHAT, headers(), false)).as("not a stream").isFalse();
    assertThat(p.eligible("/v1/responses", headers(), true)).as("not a hedge path").isFalse();
    assertThat(p.eligible(CHAT, headers("X-Tokenpipe-Hedge", "off"), true)).as("opted out").isFalse();
    assertThat(p.eligible(CHAT, headers("x-tokenpipe-hedge", "no"), true)).as("any value but on").isFalse();
    assertThat(p.eligible(CHAT, headers("X-Tokenpipe-Hedge", "on"), true)).isTrue();
    assertThat(p.eligible(CHAT, headers("Idempotency-Key", "abc"), true)).as("an idempotency key").isFalse();
    assertThat(policy("off", "10%").eligible(CHAT, headers(), true)).as("hedging off").isFalse();
    assertThat(policy("off", "10%").delayNanos()).isEqualTo(-1);
    assertThat(p.delayNanos()).isEqualTo(200 * MS);
  }

  @Test
  void theBudgetAllowsAtMostItsShareOfEligibleRequestsAndNothingUnearned() {
    HedgePolicy p = policy("200ms", "10%");
    assertThat(p.tryHedge()).as("nothing earned yet").isFalse();
    int started = 0;
    int refused = 0;
    for (int i = 0; i < 1000; i++) {
      p.eligible(CHAT, headers(), true);
      if (p.tryHedge()) { // every request asks for a hedge: the worst case
        started++;
      } else {
        refused++;
      }
    }
    assertThat(started).isEqualTo(100);
    assertThat(refused).isEqualTo(900);
  }

  @Test
  void aQuietSpellBanksAtMostTheBurst() {
    HedgePolicy p = policy("200ms", "10%");
    for (int i = 0; i < 10_000; i++) {
      p.eligible(CHAT, headers(), true); // nobody needed a hedge
    }
    int started = 0;
    while (p.tryHedge()) {
      started++;
    }
    assertThat(started).isEqualTo(HedgePolicy.BURST);
  }

  @Test
  void aZeroBudgetNeverHedges() {
    HedgePolicy p = policy("200ms", "0%");
    for (int i = 0; i < 100; i++) {
      p.eligible(CHAT, headers(), true);
    }
    assertThat(p.tryHedge()).isFalse();
  }

  @Test
  void thePercentileDelayWaitsForEnoughSamplesThenFollowsTheWindow() {
    HedgePolicy p = policy("p90", "10%");
    for (int i = 1; i <= HedgePolicy.MIN_SAMPLES - 1; i++) {
      p.recordFirstToken(i * MS);
    }
    now.addAndGet(5_000 * MS);
    assertThat(p.delayNanos()).as("99 samples: no hedging yet").isEqualTo(-1);

    for (int i = 1; i <= 1000; i++) { // 1..1000 ms, uniform
      p.recordFirstToken(i * MS);
    }
    assertThat(p.delayNanos()).as("not refreshed before the interval ends").isEqualTo(-1);
    now.addAndGet(5_000 * MS);
    long d = p.delayNanos();
    assertThat(d).as("p90 of ~1100 samples, 2 significant digits").isBetween(880 * MS, 920 * MS);

    // A minute of slow first tokens pushes the old ones out of the window.
    for (int interval = 0; interval < HedgePolicy.WINDOW_INTERVALS; interval++) {
      for (int i = 0; i < 50; i++) {
        p.recordFirstToken(3000 * MS);
      }
      now.addAndGet(5_000 * MS);
      p.delayNanos();
    }
    assertThat(p.delayNanos()).isBetween(2900 * MS, 3100 * MS);

    // Then silence: after a whole window without samples there is too little to go by.
    now.addAndGet(5_000 * MS * (HedgePolicy.WINDOW_INTERVALS + 1));
    assertThat(p.delayNanos()).isEqualTo(-1);
  }
}
