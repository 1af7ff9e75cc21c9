package dev.tokenpipe.probe;

import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.openai.ApiException;
import dev.tokenpipe.time.DurationText;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.util.List;
import java.util.Map;

/**
 * A known-pacing probe: {@code GET /tokenpipe/probe?interval=50ms&count=40&size=64&headers=plain}.
 * The server emits {@code count} events exactly {@code interval} apart, each with {@code size}
 * bytes of data and its emission stamp, so a client can tell how long every layer in between
 * held each event.
 *
 * <p>Bounded so that the route is safe on a public port: at most {@link #MAX_BYTES} of event data
 * ({@code count x size}) and {@link #MAX_DURATION_NANOS} from the first to the last event
 * ({@code (count - 1) x interval}); anything more is a 400.
 *
 * @param intervalNanos gap between events, 1 ms .. 120 s (long enough to outlast a 15 s heartbeat)
 * @param count number of events, 1 .. 10,000
 * @param size bytes of data per event, 1 .. 65,536
 * @param safeHeaders true adds the anti-buffering headers ({@code headers=safe}); false sends
 *     only the content type, like a typical application server ({@code headers=plain}, default)
 */
public record ProbeRequest(long intervalNanos, int count, int size, boolean safeHeaders) {
  public static final String PATH = "/tokenpipe/probe";
  /** Largest {@code count x size}: 4 MiB, room for 64 KB pages to fill many times over. */
  public static final long MAX_BYTES = 4L << 20;
  /** Longest {@code (count - 1) x interval}: 5 minutes. */
  public static final long MAX_DURATION_NANOS = 300_000_000_000L;
  /** Longest interval: two minutes, so an idle test can outlast heartbeats and 60 s idle timeouts. */
  public static final long MAX_INTERVAL_NANOS = 120_000_000_000L;

  public static ProbeRequest parse(String uri) {
    Map<String, List<String>> q = new QueryStringDecoder(uri).parameters();
    try {
      long interval = DurationText.parse(first(q, "interval", "50ms")).toNanos();
      int count = Integer.parseInt(first(q, "count", "40"));
      int size = Integer.parseInt(first(q, "size", "32"));
      String headers = first(q, "headers", "plain");
      check(interval >= 1_000_000 && interval <= MAX_INTERVAL_NANOS, "interval", "must be between 1ms and 120s");
      check(count >= 1 && count <= 10_000, "count", "must be between 1 and 10000");
      check(size >= 1 && size <= 65_536, "size", "must be between 1 and 65536");
      check(headers.equals("plain") || headers.equals("safe"), "headers", "must be plain or safe");
      check((long) count * size <= MAX_BYTES, "count x size", "must be at most " + MAX_BYTES + " bytes");
      check((count - 1L) * interval <= MAX_DURATION_NANOS, "(count - 1) x interval", "must be at most 300s");
      return new ProbeRequest(interval, count, size, headers.equals("safe"));
    } catch (IllegalArgumentException e) {
      throw new ApiException(ApiError.invalidRequest("Invalid probe parameter: " + e.getMessage(), null));
    }
  }

  /** How long the probe takes when nothing holds it: first to last event. */
  public long durationNanos() {
    return (count - 1L) * intervalNanos;
  }

  private static String first(Map<String, List<String>> q, String key, String dflt) {
    List<String> v = q.get(key);
    return v == null || v.isEmpty() ? dflt : v.getFirst();
  }

  private static void check(boolean ok, String key, String rule) {
    if (!ok) {
      throw new IllegalArgumentException(key + " " + rule);
    }
  }
}
