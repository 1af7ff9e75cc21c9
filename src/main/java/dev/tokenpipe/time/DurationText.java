package dev.tokenpipe.time;

import java.time.Duration;
import java.util.Locale;

/**
 * Durations the way users type them: {@code 250ms}, {@code 1.5s}, {@code 2m}, {@code 800us}, {@code 1h}; a bare
 * number means <b>seconds</b>, as in {@code hey -t}, {@code curl --max-time} and NGINX; and their compact printed
 * form. One rule for every command's duration flags, config-file values, environment variables, the sim's
 * per-request overrides and the probe route's query (a core class: the probe route and the commands share it;
 * {@code cli.Durations} is its flag converter).
 */
public final class DurationText {
  private DurationText() {}

  /** @throws IllegalArgumentException with a one-line message for anything else */
  public static Duration parse(String value) {
    String s = value == null ? "" : value.trim().toLowerCase(Locale.ROOT);
    if (s.isEmpty()) {
      throw new IllegalArgumentException("empty duration");
    }
    int i = 0;
    if (s.startsWith("-")) {
      throw new IllegalArgumentException("negative duration: '" + value + "'");
    }
    while (i < s.length() && (Character.isDigit(s.charAt(i)) || s.charAt(i) == '.')) {
      i++;
    }
    double number;
    try {
      number = Double.parseDouble(s.substring(0, i));
      if (Double.isInfinite(number) || number * 3600e9 > Long.MAX_VALUE) {
        throw new IllegalArgumentException("duration too long: '" + value + "'");
      }
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not a duration: '" + value + "' (use e.g. 250ms, 1.5s, 2m)");
    }
    double nanosPerUnit =
        switch (s.substring(i).trim()) {
          case "ms" -> 1e6;
          case "us", "µs" -> 1e3;
          case "ns" -> 1;
          case "", "s", "sec" -> 1e9;
          case "m", "min" -> 60e9;
          case "h" -> 3600e9;
          default -> throw new IllegalArgumentException(
              "unknown unit in duration '" + value + "' (use ns, us, ms, s, m or h)");
        };
    return Duration.ofNanos(Math.round(number * nanosPerUnit));
  }

  /** Compact human form: 850us, 12.3ms, 2.5s. */
  public static String format(Duration d) {
    long nanos = d.toNanos();
    if (nanos < 1_000_000) {
      return String.format(Locale.ROOT, "%dus", nanos / 1000);
    }
    if (nanos < 10_000_000_000L) {
      double ms = nanos / 1e6;
      return ms >= 1000 ? String.format(Locale.ROOT, "%.2fs", ms / 1000) : trim(String.format(Locale.ROOT, "%.1fms", ms));
    }
    return String.format(Locale.ROOT, "%.1fs", nanos / 1e9);
  }

  private static String trim(String s) {
    return s.replace(".0ms", "ms");
  }
}
