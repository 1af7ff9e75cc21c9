package dev.tokenpipe.sim;

import picocli.CommandLine.Command;

@Command(name = "sim", mixinStandardHelpOptions = true, description = "Simulated OpenAI-compatible model server.")
public final class SimCommand implements Runnable {
  @Override
  public void run() {}
}
