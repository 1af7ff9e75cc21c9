package dev.tokenpipe.cli;

import picocli.CommandLine;

/**
 * The one place that decides how the CLI reports errors: bad flags and failed commands print one
 * line and exit non-zero; stack traces only with {@code TOKENPIPE_DEBUG=1}.
 */
public final class Cli {
  /** Exit code for bad usage (unknown flag, bad value). */
  public static final int EXIT_USAGE = 64;
  /** Exit code for a command that could not do its job (port in use, unreachable peer). */
  public static final int EXIT_FAILURE = 1;

  private Cli() {}

  public static CommandLine newCommandLine(Object command) {
    CommandLine cl = new CommandLine(command);
    cl.setCaseInsensitiveEnumValuesAllowed(true);
    HelpLayout.install(cl);
    cl.setParameterExceptionHandler(
        (ex, args) -> {
          CommandLine cmd = ex.getCommandLine();
          cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": " + withSource(ex.getMessage(), cmd,
              ex.getArgSpec() instanceof CommandLine.Model.OptionSpec o ? o : null));
          cmd.getErr().println("Try '" + cmd.getCommandSpec().qualifiedName() + " --help'.");
          return EXIT_USAGE;
        });
    cl.setExecutionExceptionHandler(
        (ex, cmd, parseResult) -> {
          if (System.getenv("TOKENPIPE_DEBUG") != null) {
            ex.printStackTrace(cmd.getErr());
          }
          String message = describe(ex);
          if (ex instanceof CommandFailedException cfe && cfe.exitCode() == EXIT_USAGE) {
            message = withSource(message, cmd, null);
          }
          cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": " + message);
          return ex instanceof CommandFailedException cfe ? cfe.exitCode() : EXIT_FAILURE;
        });
    return cl;
  }

  /**
   * A bad value found after parsing, by a check of settings rather than of one flag's syntax: one line, exit 64.
   * (A flag whose value alone is wrong fails in its converter, and picocli adds the --help hint.)
   */
  public static CommandFailedException usage(String message) {
    return new CommandFailedException(message, EXIT_USAGE);
  }

  /**
   * Runs the step of a command that turns its option values into settings, or opens what they name. Settings
   * and their parsers reject a value by throwing IllegalArgumentException with a one-line reason; in this step,
   * and only here, that is bad usage (exit 64). Anywhere else an IllegalArgumentException is a failure like any
   * other (exit 1): a bug while serving is not the user's typing.
   */
  public static <T> T fromOptions(java.util.function.Supplier<T> step) {
    try {
      return step.get();
    } catch (IllegalArgumentException e) {
      throw usage(e.getMessage());
    }
  }

  /** Server commands whose every flag may also come from the environment or a YAML file. */
  static final java.util.List<String> SERVER_COMMANDS = java.util.List.of("serve", "sim");

  /**
   * Installs {@link ConfigDefaults} on the server commands and rejects config-file keys that name
   * no option of the command being run.
   */
  public static void configureServerDefaults(CommandLine root, String[] args, java.util.Map<String, String> env) {
    if (args.length == 0 || !SERVER_COMMANDS.contains(args[0]) || !root.getSubcommands().containsKey(args[0])) {
      return;
    }
    ConfigDefaults defaults = ConfigDefaults.from(args, env);
    CommandLine sub = root.getSubcommands().get(args[0]);
    defaults.checkKeys(sub.getCommandSpec());
    sub.setDefaultValueProvider(defaults);
  }

  private static final java.util.regex.Pattern OPTION_NAME = java.util.regex.Pattern.compile("--[a-z][a-z0-9-]*");

  /**
   * A bad value's message, with where the value came from when it was not typed: the environment or the config
   * file ({@link ConfigDefaults#source}), as a bad flag names the flag. The option is the one picocli names, else
   * the first {@code --name} the message starts its sentence with; a message about a typed flag is left as it is.
   */
  static String withSource(String message, CommandLine cmd, CommandLine.Model.OptionSpec option) {
    if (!(cmd.getCommandSpec().defaultValueProvider() instanceof ConfigDefaults defaults) || message == null) {
      return message;
    }
    if (option == null) {
      java.util.regex.Matcher m = OPTION_NAME.matcher(message);
      option = m.find() ? cmd.getCommandSpec().findOption(m.group()) : null;
    }
    CommandLine.ParseResult typed = cmd.getParseResult();
    if (option == null || (typed != null && typed.hasMatchedOption(option))) {
      return message;
    }
    String source = defaults.source(option);
    return source == null ? message : message + " (from " + source + ")";
  }

  static String describe(Throwable ex) {
    Throwable t = ex;
    while (t.getCause() != null && (t.getMessage() == null || t instanceof java.util.concurrent.ExecutionException)) {
      t = t.getCause();
    }
    String msg = t.getMessage();
    return msg == null || msg.isBlank() ? t.getClass().getSimpleName() : msg;
  }
}
