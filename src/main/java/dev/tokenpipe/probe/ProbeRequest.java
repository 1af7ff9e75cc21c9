package dev.tokenpipe.probe;

import dev.tokenpipe.cli.Durations;
import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.openai.ApiException;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.util.List;
import java.util.Map;

/**
 * A known-pacing probe: {@code GET /tokenpipe/probe?interval=50ms&count=40&size=64&headers=plain}.
 * The server emits {@code count} events exactly {@code interval} apart, each with {@code size}
 * bytes of data and its emission stamp, so a client can tell how long every layer in between
 * held each event.
 *
 * @param intervalNanos gap between events, 1 ms .. 10 s
 * @param count number of events, 1 .. 10,000
 * @param size bytes of data per event, 1 .. 65,536
 * @param safeHeaders true adds the anti-buffering headers ({@code headers=safe}); false sends
 *     only the content type, like a typical application server ({@code headers=plain}, default)
 */
public record ProbeRequest(long intervalNanos, int count, int size, boolean safeHeaders) {
  public static final String PATH = "/tokenpipe/probe";

  public static ProbeRequest parse(String uri) {
    Map<String, List<String>> q = new QueryStringDecoder(uri).parameters();
    try {
      long interval = Durations.parse(first(q, "interval", "50ms")).toNanos();
      int count = Integer.parseInt(first(q, "count", "40"));
      int size = Integer.parseInt(first(q, "size", "32"));
      String headers = first(q, "headers", "plain");
      check(interval >= 1_000_000 && interval <= 10_000_000_000L, "interval", "must be between 1ms and 10s");
      check(count >= 1 && count <= 10_000, "count", "must be between 1 and 10000");
      check(size >= 1 && size <= 65_536, "size", "must be between 1 and 65536");
      check(headers.equals("plain") || headers.equals("safe"), "headers", "must be plain or safe");
      return new ProbeRequest(interval, count, size, headers.equals("safe"));
    } catch (IllegalArgumentException e) {
      throw new ApiException(ApiError.invalidRequest("Invalid probe parameter: " + e.getMessage(), null));
    }
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
