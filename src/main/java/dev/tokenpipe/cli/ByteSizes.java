package dev.tokenpipe.cli;

import java.util.Locale;
import picocli.CommandLine;

/**
 * Parses sizes such as {@code 1048576}, {@code 64KiB}, {@code 1MB}, {@code 2m}. As a flag's converter it takes
 * only sizes above zero: every size flag is a limit ({@code --max-body}), and a limit of 0 bytes refuses every
 * request with a body, a server that answers 413 to all its work.
 */
public final class ByteSizes implements CommandLine.ITypeConverter<Integer> {
  @Override
  public Integer convert(String value) {
    int bytes;
    try {
      bytes = parse(value);
    } catch (IllegalArgumentException e) {
      // picocli prints this exception's message as it is (see Durations).
      throw new CommandLine.TypeConversionException(e.getMessage());
    }
    if (bytes < 1) {
      throw new CommandLine.TypeConversionException("must be at least 1 byte, not '" + value + "'");
    }
    return bytes;
  }

  public static int parse(String value) {
    String s = value.trim().toLowerCase(Locale.ROOT);
    int i = 0;
    while (i < s.length() && Character.isDigit(s.charAt(i))) {
      i++;
    }
    if (i == 0) {
      throw new IllegalArgumentException("not a size: '" + value + "' (use e.g. 65536, 64KiB, 1MiB)");
    }
    if (i > 12) { // beyond any int count of bytes, and beyond what Long.parseLong takes for a long run of digits
      throw new IllegalArgumentException("size too large: '" + value + "'");
    }
    long n = Long.parseLong(s.substring(0, i));
    long unit = switch (s.substring(i).trim()) {
      case "", "b" -> 1;
      case "k", "kb", "kib" -> 1024;
      case "m", "mb", "mib" -> 1024 * 1024;
      default -> throw new IllegalArgumentException("unknown unit in size '" + value + "' (use B, KiB or MiB)");
    };
    long bytes = n * unit;
    if (bytes > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("size too large: '" + value + "'");
    }
    return (int) bytes;
  }
}
