package dev.tokenpipe.gateway;

import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One line per request on the slf4j logger {@code tokenpipe.access}, as {@code key=value} pairs so that
 * both people and log pipelines can read it. Never contains credentials or bodies.
 */
final class AccessLog {
  private static final Logger log = LoggerFactory.getLogger("tokenpipe.access");

  /**
   * @param api the client's API ({@code --api} flag of its dialect, e.g. {@code anthropic-messages}); "-" when
   *     answered by the gateway itself
   * @param upstream base URL of the upstream that served it, "-" when answered by the gateway
   * @param upstreamTtftNanos request written upstream → first content event read; -1 if none
   * @param deliveredTtftNanos request received → first generated event (content, reasoning or tool call)
   *     flushed to the client; -1 if none
   * @param contentTtftNanos request received → first visible-text event read; -1 if none
   * @param tokens output tokens (usage when the upstream sent it, else content events)
   * @param outcome {@code done}, {@code cancelled}, {@code error:<kind>} or {@code local}
   * @param hedge {@code -} not hedged; {@code first} or {@code second}: the attempt that won a hedged race;
   *     {@code hedge_failed}: the hedge failed, the first attempt went on; {@code undecided}: the request
   *     ended before either delivered
   */
  record Entry(String method, String path, String api, int status, String upstream, long upstreamTtftNanos,
      long deliveredTtftNanos, long contentTtftNanos, long tokens, long durationNanos, String outcome, String hedge) {}

  private AccessLog() {}

  static void write(Entry e) {
    if (!log.isInfoEnabled()) {
      return;
    }
    log.info(String.format(Locale.ROOT,
        "method=%s path=%s api=%s status=%d upstream=%s upstream_ttft_ms=%s ttft_ms=%s content_ttft_ms=%s tokens=%d duration_ms=%.1f outcome=%s hedge=%s",
        e.method(), e.path(), e.api(), e.status(), e.upstream(), millis(e.upstreamTtftNanos()), millis(e.deliveredTtftNanos()),
        millis(e.contentTtftNanos()), e.tokens(), e.durationNanos() / 1e6, e.outcome(), e.hedge()));
  }

  static void local(String method, String path, int status, long startNanos) {
    write(new Entry(method, path, "-", status, "-", -1, -1, -1, 0, System.nanoTime() - startNanos, "local", "-"));
  }

  private static String millis(long nanos) {
    return nanos < 0 ? "-" : String.format(Locale.ROOT, "%.1f", nanos / 1e6);
  }
}
