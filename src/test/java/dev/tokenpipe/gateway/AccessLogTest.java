package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class AccessLogTest {

  /** The line as {@code String.format} built it before it was built by hand: the format is an interface. */
  private static String formatted(AccessLog.Entry e) {
    return String.format(Locale.ROOT,
        "method=%s path=%s api=%s status=%d upstream=%s upstream_ttft_ms=%s ttft_ms=%s content_ttft_ms=%s tokens=%d duration_ms=%.1f outcome=%s hedge=%s",
        e.method(), e.path(), e.api(), e.status(), e.upstream(), millis(e.upstreamTtftNanos()), millis(e.deliveredTtftNanos()),
        millis(e.contentTtftNanos()), e.tokens(), e.durationNanos() / 1e6, e.outcome(), e.hedge());
  }

  private static String millis(long nanos) {
    return nanos < 0 ? "-" : String.format(Locale.ROOT, "%.1f", nanos / 1e6);
  }

  @Test
  void theLineIsWhatTheFormatStringPrintedForEveryMagnitudeAndRoundingBoundary() {
    SplittableRandom r = new SplittableRandom(15);
    long[] edges = {-1, 0, 1, 49_999, 50_000, 50_001, 99_999, 100_000, 149_999, 150_000, 250_000, 1_350_000,
        1_150_000, 999_950_000, 3_600_000_000_000L, -49_999, -50_000, -150_000, -2_000_000};
    for (int i = 0; i < 20_000; i++) {
      long a = i < edges.length ? edges[i] : pick(r);
      long b = pick(r);
      long c = pick(r);
      long d = i < edges.length ? edges[edges.length - 1 - i] : pick(r);
      AccessLog.Entry e = new AccessLog.Entry("POST", "/v1/chat/completions", "openai-chat", 200, "http://127.0.0.1:8000",
          a, b, c, r.nextLong(0, 100_000), d, "done", "-");
      assertThat(AccessLog.line(e)).isEqualTo(formatted(e));
    }
  }

  /** Nanoseconds from sub-millisecond to hours, often on a .x5 ms boundary, sometimes -1 (none). */
  private static long pick(SplittableRandom r) {
    return switch (r.nextInt(4)) {
      case 0 -> -1;
      case 1 -> r.nextLong(0, 10_000) * 50_000;
      case 2 -> r.nextLong(0, 2_000_000);
      default -> r.nextLong(0, 10_000_000_000_000L);
    };
  }
}
