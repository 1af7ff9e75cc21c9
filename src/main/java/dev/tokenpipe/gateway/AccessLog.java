package dev.tokenpipe.gateway;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One line per request on the slf4j logger {@code tokenpipe.access}, as {@code key=value} pairs so that
 * both people and log pipelines can read it. Never contains credentials or bodies.
 *
 * <p>Every line goes through the {@link GatewayContext#accessLog()} of the connection's gateway: {@link #ON} for
 * clients, {@link #OFF} for the start-up warm-up's own connections ({@link Warmup}), which no log shows.
 */
final class AccessLog {
  private static final Logger log = LoggerFactory.getLogger("tokenpipe.access");
  static final AccessLog ON = new AccessLog(true);
  static final AccessLog OFF = new AccessLog(false);

  private final boolean on;

  private AccessLog(boolean on) {
    this.on = on;
  }

  /**
   * @param api the client's API ({@code --api} flag of its dialect, e.g. {@code anthropic-messages}); "-" when
   *     answered by the gateway itself
   * @param upstream base URL of the upstream that served it, "-" when answered by the gateway
   * @param upstreamTtftNanos request written upstream → first content event read; -1 if none
   * @param deliveredTtftNanos request received → first generated event (content, reasoning or tool call)
   *     flushed to the client; -1 if none
   * @param contentTtftNanos request received → first visible-text event read; -1 if none
   * @param tokens output tokens (usage when the upstream sent it, else content events); -1 unknown (a whole
   *     answer whose usage could not be read), written {@code -}
   * @param outcome {@code done}, {@code cancelled}, {@code error:<kind>} (also the probe route's stream), or
 *     {@code local} (any other answer of the gateway's own)
   * @param hedge {@code -} not hedged; {@code first} or {@code second}: the attempt that won a hedged race;
   *     {@code hedge_failed}: the hedge failed, the first attempt went on; {@code undecided}: the request
   *     ended before either delivered
   */
  record Entry(String method, String path, String api, int status, String upstream, long upstreamTtftNanos,
      long deliveredTtftNanos, long contentTtftNanos, long tokens, long durationNanos, String outcome, String hedge) {}

  void write(Entry e) {
    if (!on || !log.isInfoEnabled()) {
      return;
    }
    log.info(line(e));
  }

  /**
   * The line for {@code e}. Built by hand: {@code String.format} parsed its pattern and boxed every field on each
   * request, about a quarter of what the gateway allocated per request (JFR, docs/benchmarks.md "Per request").
   * Milliseconds have one decimal, rounded half up, as {@code %.1f} printed them.
   */
  static String line(Entry e) {
    StringBuilder b = new StringBuilder(256);
    b.append("method=").append(e.method()).append(" path=").append(e.path()).append(" api=").append(e.api())
        .append(" status=").append(e.status()).append(" upstream=").append(e.upstream()).append(" upstream_ttft_ms=");
    millis(b, e.upstreamTtftNanos());
    b.append(" ttft_ms=");
    millis(b, e.deliveredTtftNanos());
    b.append(" content_ttft_ms=");
    millis(b, e.contentTtftNanos());
    b.append(" tokens=");
    if (e.tokens() >= 0) {
      b.append(e.tokens());
    } else {
      b.append('-');
    }
    b.append(" duration_ms=");
    tenths(b, e.durationNanos());
    return b.append(" outcome=").append(e.outcome()).append(" hedge=").append(e.hedge()).toString();
  }

  /** A request the gateway answered itself, at once: its line, timed from {@code startNanos} to now. */
  void local(String method, String path, int status, long startNanos) {
    local(method, path, status, startNanos, "local");
  }

  /**
   * A stream the gateway served itself (the probe), when it ended: timed from {@code startNanos} to now.
   *
   * @param outcome how it ended, in a proxied stream's words: {@code done}, {@code cancelled}, {@code error:<kind>}
   */
  void local(String method, String path, int status, long startNanos, String outcome) {
    write(new Entry(method, path, "-", status, "-", -1, -1, -1, 0, System.nanoTime() - startNanos, outcome, "-"));
  }

  private static void millis(StringBuilder b, long nanos) {
    if (nanos < 0) {
      b.append('-');
    } else {
      tenths(b, nanos);
    }
  }

  /** {@code nanos} as milliseconds with one decimal, half up; a negative duration keeps its sign ({@code -0.0}). */
  private static void tenths(StringBuilder b, long nanos) {
    long t = (Math.abs(nanos) + 50_000) / 100_000;
    if (nanos < 0) {
      b.append('-');
    }
    b.append(t / 10).append('.').append(t % 10);
  }
}
