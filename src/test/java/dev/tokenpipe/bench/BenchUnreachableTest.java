package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.SimServer;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run that never connects stops after a short grace instead of running its whole duration ({@link FailFast}):
 * before, {@code bench -z 60s} against a port nobody listens on failed 2,400 connects a second for the full
 * minute and only then said so. A run that did connect keeps measuring through a server restart.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class BenchUnreachableTest {
  @TempDir Path dir;

  private static int deadPort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void aDeadPortStopsWithinSecondsWithOneLineAndExitThree() throws Exception {
    int port = deadPort();
    Path json = dir.resolve("r.json");
    long t0 = System.nanoTime();

    BenchCli r = BenchCli.run("bench", "-z", "30s", "-c", "4", "--model", "m", "--progress", "none",
        "--json", json.toString(), "http://127.0.0.1:" + port + "/v1/chat/completions");

    long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0);
    assertThat(r.exitCode()).as(r.out() + r.err()).isEqualTo(BenchCommand.EXIT_ALL_FAILED);
    assertThat(seconds).as("stopped long before the 30 s run's end").isLessThan(15);
    assertThat(r.err().lines().filter(l -> l.startsWith("bench: ")).toList()).singleElement().asString()
        .isEqualTo("bench: stopped: no connection in the first 2 s: connection refused: 127.0.0.1:" + port);
    assertThat(r.out().lines().findFirst().orElse("")).endsWith("[STOPPED: target unreachable]");
    JsonNode result = BenchCli.json(json);
    assertThat(result.path("unreachable").asText()).isEqualTo("no connection in the first 2 s: connection refused: 127.0.0.1:" + port);
    assertThat(result.has("refused")).isFalse();
    assertThat(result.path("totals").path("ok").asLong()).isZero();
    assertThat(result.path("errors").path("connect").asLong()).isPositive();
  }

  @Test
  void aWarmUpThatNeverConnectsStopsTooAndItsFailuresAreTheRunsErrors() throws Exception {
    int port = deadPort();
    Path json = dir.resolve("w.json");

    BenchCli r = BenchCli.run("bench", "-z", "30s", "--warmup", "20s", "-c", "2", "--model", "m", "--progress", "none",
        "--json", json.toString(), "http://127.0.0.1:" + port + "/v1/chat/completions");

    assertThat(r.exitCode()).as(r.out() + r.err()).isEqualTo(BenchCommand.EXIT_ALL_FAILED);
    JsonNode result = BenchCli.json(json);
    assertThat(result.path("totals").path("errors").asLong()).isPositive();
    assertThat(result.path("errors").path("connect").asLong()).isEqualTo(result.path("totals").path("errors").asLong());
  }

  @Test
  void anOpenLoopRunAtADeadPortStopsToo() throws Exception {
    int port = deadPort();
    long t0 = System.nanoTime();

    BenchCli r = BenchCli.run("bench", "--rate", "20", "-z", "30s", "-c", "4", "--model", "m", "--progress", "none",
        "http://127.0.0.1:" + port + "/v1/chat/completions");

    assertThat(r.exitCode()).as(r.out() + r.err()).isEqualTo(BenchCommand.EXIT_ALL_FAILED);
    assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0)).isLessThan(15);
    assertThat(r.err()).contains("bench: stopped: no connection in the first 2 s");
  }

  /**
   * The other side of the policy: connects that fail after one succeeded are the target's (a restart, a crash)
   * and are measured to the end of the run, however long the outage.
   */
  @Test
  void aServerThatRestartsMidRunIsMeasuredToTheEnd() throws Exception {
    SimServer first = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0);
    int port = first.port();
    Path json = dir.resolve("restart.json");
    CompletableFuture<SimServer> second = CompletableFuture.supplyAsync(() -> {
      try {
        Thread.sleep(1_000);
        first.close(Duration.ZERO);
        Thread.sleep(3_500); // down for longer than the grace a run that never connected gets
        return SimServer.start(SimConfig.defaults(), "127.0.0.1", port);
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    });
    long t0 = System.nanoTime();
    try {
      BenchCli r = BenchCli.run("bench", "-z", "7s", "-c", "2", "--model", "tokenpipe-sim", "--progress", "none",
          "-H", "X-Tokenpipe-Sim: ttft=10ms itl=5ms tokens=5", "--json", json.toString(),
          "http://127.0.0.1:" + port + "/v1/chat/completions");

      long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0);
      assertThat(r.exitCode()).as(r.out() + r.err()).isEqualTo(BenchCommand.EXIT_SOME_FAILED);
      assertThat(seconds).as("ran its 7 s").isGreaterThanOrEqualTo(6);
      assertThat(r.err()).doesNotContain("stopped");
      JsonNode result = BenchCli.json(json);
      assertThat(result.has("unreachable")).isFalse();
      assertThat(result.path("errors").path("connect").asLong()).isPositive();
      assertThat(result.path("totals").path("ok").asLong()).isPositive();
      // Requests succeeded after the restart too: the run kept going through the outage.
      long okAfterRestart = 0;
      for (JsonNode row : result.path("requests")) {
        if (row.path("outcome").asText().equals("ok") && row.path("start_ms").asDouble() > 5_000) {
          okAfterRestart++;
        }
      }
      assertThat(okAfterRestart).isPositive();
    } finally {
      second.get(10, TimeUnit.SECONDS).close(Duration.ZERO);
    }
  }
}
