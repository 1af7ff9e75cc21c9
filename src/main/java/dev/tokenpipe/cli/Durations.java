package dev.tokenpipe.cli;

import dev.tokenpipe.time.DurationText;
import java.time.Duration;
import picocli.CommandLine;

/**
 * The flag converter of durations ({@link DurationText}'s rule: {@code 250ms}, {@code 1.5s}, a bare number in
 * seconds), for every command's duration flags.
 */
public final class Durations implements CommandLine.ITypeConverter<Duration> {

  @Override
  public Duration convert(String value) {
    try {
      return parse(value);
    } catch (IllegalArgumentException e) {
      // picocli prints this exception's message as it is; any other as "cannot convert 'x' to Duration
      // (java.lang.IllegalArgumentException: ...)".
      throw new CommandLine.TypeConversionException(e.getMessage());
    }
  }

  /**
   * The converter of a time limit that has no "off" (the connect timeouts of serve and bench): at least 1ms.
   * Connects are timed in whole milliseconds, and below one the value meant nothing anyone asks for: serve
   * handed 0 to Netty, which reads it as no limit (a connect then waits for the kernel's, minutes long), and
   * bench raised it to 1ms.
   */
  public static final class Limit implements CommandLine.ITypeConverter<Duration> {
    @Override
    public Duration convert(String value) {
      Duration d = new Durations().convert(value);
      if (d.toMillis() < 1) {
        throw new CommandLine.TypeConversionException("must be at least 1ms, not '" + value + "'");
      }
      return d;
    }
  }

  /** {@link DurationText#parse}: @throws IllegalArgumentException with a one-line message for anything else */
  public static Duration parse(String value) {
    return DurationText.parse(value);
  }

  /** {@link DurationText#format}: compact human form, 850us, 12.3ms, 2.5s. */
  public static String format(Duration d) {
    return DurationText.format(d);
  }
}
