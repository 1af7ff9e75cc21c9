package dev.tokenpipe.cli;

import picocli.CommandLine;

/**
 * Port numbers. A port to listen on is 0..65535 (0 = any free one), checked when the flag is parsed: out of
 * range it is a bad value like any other (exit 64), not a failure to listen (exit 1, which stays for a port
 * already in use). A port to connect to, in a URL, is
 * checked where URLs are parsed ({@code client.HttpTarget#connectablePort}).
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
}
