package dev.tokenpipe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.Main;
import dev.tokenpipe.proc.ChildProcesses;
import dev.tokenpipe.testing.SimExtension;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ctrl-C (SIGINT) in the middle of {@code doctor} and {@code chat}, real processes: exit 130, as docs/doctor.md and
 * docs/chat.md say (their exit-code lists left it out: a script could not tell an interrupted doctor from any other
 * exit), the model's stream closed, and doctor writes no verdict or JSON it did not finish measuring.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class CtrlCTest {
  @RegisterExtension static final SimExtension sim = new SimExtension();
  @TempDir Path dir;

  private static Process start(Path out, String... args) throws Exception {
    // A command a non-interactive shell starts in the background (as a CI runner may start this build) inherits
    // SIGINT ignored, and the JVM then leaves it ignored: Ctrl-C's signal would not reach the child at all, and it
    // ran to its end, exit 0. env puts the default action back, as a terminal's foreground job has it.
    List<String> cmd = new ArrayList<>(List.of("env", "--default-signal=INT",
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED", "-Xmx256m",
        "-cp", System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")), Main.class.getName()));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(out.resolveSibling(out.getFileName() + ".err").toFile())
        .start();
  }

  private static int interrupt(Process p) throws Exception {
    assertThat(new ProcessBuilder("kill", "-INT", String.valueOf(p.pid())).start().waitFor()).isZero();
    assertThat(p.waitFor(20, TimeUnit.SECONDS)).as("stopped after SIGINT").isTrue();
    return p.exitValue();
  }

  private static void awaitStreams(long activeAtLeast) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (sim.metrics().count("started") < activeAtLeast && System.nanoTime() < deadline) {
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
    }
    assertThat(sim.metrics().count("started")).as("the streams began").isGreaterThanOrEqualTo(activeAtLeast);
  }

  @Test
  void doctorInterruptedExits130AndWritesNoVerdict() throws Exception {
    Path out = dir.resolve("doctor.out");
    Path json = dir.resolve("doctor.json");
    long started = sim.metrics().count("started");
    Process p = start(out, "doctor", "--no-probe", "--json", json.toString(), "-H",
        "X-Tokenpipe-Sim: ttft=10ms itl=50ms tokens=400", sim.chatUrl());
    try {
      awaitStreams(started + 2);
      assertThat(interrupt(p)).isEqualTo(130);
    } finally {
      ChildProcesses.stopTree(p);
    }
    assertThat(Files.readString(out, StandardCharsets.UTF_8)).doesNotContain("verdict");
    assertThat(json).doesNotExist();
  }

  @Test
  void chatInterruptedExits130AndTheModelStops() throws Exception {
    Path out = dir.resolve("chat.out");
    long started = sim.metrics().count("started");
    long cancelled = sim.metrics().count("cancelled");
    Process p = start(out, "chat", "--url", sim.chatUrl(), "-H", "X-Tokenpipe-Sim: ttft=10ms itl=50ms tokens=400", "hi");
    try {
      awaitStreams(started + 1);
      assertThat(interrupt(p)).isEqualTo(130);
    } finally {
      ChildProcesses.stopTree(p);
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (sim.metrics().count("cancelled") <= cancelled && System.nanoTime() < deadline) {
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
    }
    assertThat(sim.metrics().count("cancelled")).as("the model saw its client leave").isEqualTo(cancelled + 1);
  }
}
