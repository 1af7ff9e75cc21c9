package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokenpipe.Main;
import dev.tokenpipe.cli.CommandFailedException;
import dev.tokenpipe.proc.ChildProcesses;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher's AOT-cache training workload ({@code tokenpipe aot-training}, hidden) runs every API's real
 * streaming path through a gateway on loopback, checks each response, exits by itself, and never takes an
 * upstream or a port from the environment.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AotTrainingCommandTest {
  @TempDir Path work;

  @Test
  void aRoundOfEveryApiCompletesAndTheCommandExitsZero() {
    long t0 = System.nanoTime();
    assertThat(Main.execute("aot-training", "--rounds", "2")).isZero();
    assertThat((System.nanoTime() - t0) / 1_000_000).as("ms for two rounds").isLessThan(30_000);
  }

  @Test
  void anIncompleteStreamFailsTheTrainingNamingTheRequest() {
    // The model cuts every stream after 3 tokens: no response ends as a complete one.
    assertThatThrownBy(() -> AotTrainingCommand.train("ttft=0ms itl=1ms tokens=32 drop_after=3", 1))
        .isInstanceOf(CommandFailedException.class)
        .hasMessageStartingWith("POST /v1/chat/completions: incomplete response");
  }

  @Test
  void roundsOutOfRangeAreAUsageError() {
    assertThat(Main.execute("aot-training", "--rounds", "0")).isEqualTo(64);
    assertThat(Main.execute("aot-training", "--rounds", "101")).isEqualTo(64);
  }

  @Test
  void itIsHiddenFromTheCommandList() {
    java.io.PrintStream old = System.out;
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    System.setOut(new java.io.PrintStream(out, true));
    try {
      Main.execute("--help");
    } finally {
      System.setOut(old);
    }
    assertThat(out.toString()).contains("serve").doesNotContain("aot-training");
  }

  /**
   * As a real child JVM with {@code TOKENPIPE_UPSTREAM} naming a listening port and {@code TOKENPIPE_PORT}
   * set: the training ignores both (a training run must never send a real model a request), exits 0 and
   * leaves nothing running.
   */
  @Test
  void aChildJvmIgnoresTheEnvironmentAndExitsByItself() throws Exception {
    try (ServerSocket upstream = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
      upstream.setSoTimeout(1);
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      ProcessBuilder pb = new ProcessBuilder(List.of(java, "--enable-native-access=ALL-UNNAMED", "-Xmx256m", "-cp",
          System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
          "dev.tokenpipe.Main", "aot-training", "--rounds", "1"))
          .redirectErrorStream(true).redirectOutput(work.resolve("training.log").toFile());
      pb.environment().put("TOKENPIPE_UPSTREAM", "http://127.0.0.1:" + upstream.getLocalPort());
      pb.environment().put("TOKENPIPE_PORT", String.valueOf(upstream.getLocalPort()));
      Process p = pb.start();
      try {
        assertThat(p.waitFor(90, TimeUnit.SECONDS)).as("exits by itself").isTrue();
        String log = Files.readString(work.resolve("training.log"));
        assertThat(p.exitValue()).as(log).isZero();
        assertThat(log).contains("path=/v1/messages", "path=/v1/responses", "status=200")
            .doesNotContain("127.0.0.1:" + upstream.getLocalPort());
        assertThatThrownBy(upstream::accept).as("nothing connected to the environment's upstream")
            .isInstanceOf(java.net.SocketTimeoutException.class);
        assertThat(p.descendants().count()).isZero();
      } finally {
        ChildProcesses.stopTree(p);
      }
    }
  }
}
