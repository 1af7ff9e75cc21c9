package dev.tokenpipe.cli;

import dev.tokenpipe.bench.BenchCommand;
import dev.tokenpipe.chat.ChatCommand;
import dev.tokenpipe.demo.DemoCommand;
import dev.tokenpipe.doctor.DoctorCommand;
import dev.tokenpipe.gateway.AotTrainingCommand;
import dev.tokenpipe.gateway.GatewayCommand;
import dev.tokenpipe.log.Logs;
import dev.tokenpipe.sim.SimCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point: one picocli command per tool, each with its own {@code --help}. */
@Command(
    name = "tokenpipe",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = {
      "Zero-buffer streaming for LLM APIs: relay every token the moment it arrives, and prove it.",
      ""
    },
    subcommands = {
      GatewayCommand.class,
      SimCommand.class,
      BenchCommand.class,
      DoctorCommand.class,
      ChatCommand.class,
      DemoCommand.class,
      CommandLine.HelpCommand.class,
      AotTrainingCommand.class
    })
public final class Main implements Runnable {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    int code = execute(args);
    Logs.flush();
    System.exit(code);
  }

  /** Runs the CLI and returns its exit code; tests call this instead of {@link #main}. */
  public static int execute(String... args) {
    CommandLine cl = Cli.newCommandLine(new Main());
    try {
      Cli.configureServerDefaults(cl, args, System.getenv());
    } catch (IllegalArgumentException e) {
      cl.getErr().println("tokenpipe: " + e.getMessage());
      return Cli.EXIT_USAGE;
    }
    return cl.execute(args);
  }

  /**
   * No command: the usage on stderr and exit 64, as for any other usage error. It was the usage on stdout and exit 0,
   * so a script that lost its command word "succeeded" having run nothing. {@code tokenpipe --help} still prints
   * it on stdout with 0.
   */
  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getErr());
    throw Cli.usage("no command given");
  }
}
