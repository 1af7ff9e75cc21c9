package dev.tokenpipe.cli;

import picocli.CommandLine;

/**
 * A text flag that must name something (a URL, a model id, an address): empty or blank it is a bad value, from
 * the command line, the environment or a config file alike. Before, {@code serve --upstream ''} dropped the
 * entry and served the built-in simulated model, and {@code sim --model ''} served a model named "". A flag whose
 * empty value means something (off, none) does not use this converter.
 */
public final class NonEmpty implements CommandLine.ITypeConverter<String> {
  @Override
  public String convert(String value) {
    if (value == null || value.isBlank()) {
      throw new CommandLine.TypeConversionException("must not be empty");
    }
    return value;
  }
}
