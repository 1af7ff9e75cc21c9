package dev.tokenpipe.testing;

import dev.tokenpipe.proc.ChildProcesses;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A tokenpipe command ({@code dev.tokenpipe.Main} on this test's classpath) as a real child JVM on a free
 * loopback port, started when it logged {@code listening on}; its output goes to a file in {@code dir}.
 */
public record CliProcess(Process process, int port, Path log) implements AutoCloseable {

  public static CliProcess start(Path dir, String... args) throws Exception {
    return start(dir, List.of("-Xmx512m"), args);
  }

  /** @param jvmOptions options of the child JVM (heap, GC), before the class path */
  public static CliProcess start(Path dir, List<String> jvmOptions, String... args) throws Exception {
    int port = ChildProcesses.freeLoopbackPort();
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED"));
    cmd.addAll(jvmOptions);
    cmd.addAll(List.of("-cp", System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
        "dev.tokenpipe.Main"));
    cmd.addAll(List.of(args));
    cmd.addAll(List.of("--port", String.valueOf(port)));
    Path log = dir.resolve(args[0] + "-" + port + ".log");
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    CliProcess child = new CliProcess(p, port, log);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!Files.readString(log).contains("listening on")) {
      if (!p.isAlive() || System.nanoTime() > deadline) {
        child.close();
        throw new AssertionError("did not start: " + Files.readString(log));
      }
      Thread.sleep(50);
    }
    return child;
  }

  public String logText() throws IOException {
    return Files.readString(log);
  }

  @Override
  public void close() {
    ChildProcesses.stopTree(process);
  }
}
