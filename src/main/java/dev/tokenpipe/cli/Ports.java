package dev.tokenpipe.cli;

import picocli.CommandLine;

/**
 * Port numbers. A port to listen on is 0..65535 (0 = any free one), checked when the flag is parsed: out of
 * range it is a bad value like any other (exit 64), not a failure to listen (exit 1, which stays for a port
 * already in use). A port to connect to, in a URL, is 1..65535.
 */
public final class Ports implements CommandLine.ITypeConverter<Integer> {
  public static final int MAX = 65_535;

  @Override
  public Integer convert(String value) {
    int port;
    try {
      port = Integer.parseInt(value.trim());
    } catch (NumberFormatException e) {
      throw new CommandLine.TypeConversionException("not a port number: '" + value + "'");
    }
    if (port < 0 || port > MAX) {
      throw new CommandLine.TypeConversionException("port must be 0..65535 (0 = any free port), not " + value.trim());
    }
    return port;
  }

  /**
   * True for a URL's port that can be connected to: none given (-1) or 1..65535. java.net.URI takes any digits,
   * and a connect to port 0 or 99999 fails late, on an event loop (bench waited there for good).
   */
  public static boolean connectable(int urlPort) {
    return urlPort == -1 || (urlPort >= 1 && urlPort <= MAX);
  }
}
