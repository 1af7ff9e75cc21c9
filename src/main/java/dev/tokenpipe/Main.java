package dev.tokenpipe;

import dev.tokenpipe.bench.BenchCommand;
import dev.tokenpipe.cli.Cli;
import dev.tokenpipe.cli.VersionProvider;
import dev.tokenpipe.chat.ChatCommand;
import dev.tokenpipe.demo.DemoCommand;
import dev.tokenpipe.doctor.DoctorCommand;
import dev.tokenpipe.gateway.AotTrainingCommand;
import dev.tokenpipe.gateway.GatewayCommand;
import dev.tokenpipe.log.Logs;
import dev.tokenpipe.sim.SimCommand;
import java.io.BufferedWriter;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * Entry point: one picocli command per tool, each with its own {@code --help}. The one class that knows every
 * command, so it sits above them all; the {@code cli} package it uses is core, and imports none of them.
 */
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
    int code = execute(processStdout(), args);
    Logs.flush();
    System.exit(code);
  }

  /** Runs the CLI and returns its exit code; tests call this instead of {@link #main}. */
  public static int execute(String... args) {
    return execute(null, args);
  }

  /** {@link #execute(String...)} writing standard output to {@code out}, or to picocli's default when null. */
  private static int execute(PrintWriter out, String... args) {
    CommandLine cl = Cli.newCommandLine(new Main());
    if (out != null) {
      cl.setOut(out);
    }
    try {
      Cli.configureServerDefaults(cl, args, System.getenv());
    } catch (IllegalArgumentException e) {
      cl.getErr().println("tokenpipe: " + e.getMessage());
      return Cli.EXIT_USAGE;
    }
    return cl.execute(args);
  }

  /**
   * The process's standard output, as picocli builds it but on the file descriptor itself. Picocli's default
   * writes through {@code System.out}, a PrintStream that swallows a failed write (EPIPE: {@code chat ... | head}),
   * so the writer's {@code checkError()} never saw the reader leave and chat streamed the whole answer into the
   * closed pipe, exit 0. Here the failure reaches the writer, whose {@code checkError()} says so. Not for tests
   * ({@link #execute(String...)}): the test JVM's standard output is not theirs to write raw.
   */
  private static PrintWriter processStdout() {
    return new PrintWriter(new BufferedWriter(new OutputStreamWriter(new FileOutputStream(FileDescriptor.out),
        System.out.charset())), true);
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
