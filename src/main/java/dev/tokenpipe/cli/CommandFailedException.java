package dev.tokenpipe.cli;

/** A command failed for a reason the user can act on; the message is printed as one line. */
public class CommandFailedException extends RuntimeException {
  private final int exitCode;

  public CommandFailedException(String message, int exitCode) {
    super(message);
    this.exitCode = exitCode;
  }

  public CommandFailedException(String message) {
    this(message, Cli.EXIT_FAILURE);
  }

  public int exitCode() {
    return exitCode;
  }
}
