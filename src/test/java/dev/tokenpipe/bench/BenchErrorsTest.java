package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.cli.Cli;
import dev.tokenpipe.testing.SimExtension;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Every error class is counted under its own key, results are still written, and exit codes say what happened. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BenchErrorsTest {
  @RegisterExtension static final SimExtension sim = new SimExtension();

  @TempDir Path dir;

  private JsonNode run(int expectedExit, String... args) throws Exception {
    Path json = dir.resolve("r" + System.nanoTime() + ".json");
    String[] all = new String[args.length + 4];
    all[0] = "bench";
    all[1] = "--progress";
    all[2] = "none";
    all[3] = "--json=" + json;
    System.arraycopy(args, 0, all, 4, args.length);
    BenchCli r = BenchCli.run(all);
    assertThat(r.exitCode()).as(r.out() + r.err()).isEqualTo(expectedExit);
    assertThat(Files.exists(json)).as("results are written even when requests fail").isTrue();
    return BenchCli.json(json);
  }

  @Test
  void connectionRefused() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    JsonNode r = run(BenchCommand.EXIT_ALL_FAILED, "-n", "3", "-c", "1", "http://127.0.0.1:" + port + "/v1/chat/completions");
    assertThat(r.path("errors").path("connect").asLong()).isEqualTo(3);
    assertThat(r.path("error_samples").path("connect").asText()).contains("connection refused");
  }

  @Test
  void stalledStreamTimesOut() throws Exception {
    JsonNode r = run(BenchCommand.EXIT_ALL_FAILED, "-n", "2", "-c", "2", "-t", "600ms",
        "-H", "X-Tokenpipe-Sim: ttft=10ms itl=5ms tokens=10 stall_after=2 stall=5s", sim.chatUrl());
    assertThat(r.path("errors").path("timeout").asLong()).isEqualTo(2);
  }

  @Test
  void httpStatusIsCountedByCode() throws Exception {
    JsonNode r = run(BenchCommand.EXIT_ALL_FAILED, "-n", "4", "-c", "2",
        "-H", "X-Tokenpipe-Sim: error_rate=1 error_status=503", sim.chatUrl());
    assertThat(r.path("errors").path("http_503").asLong()).isEqualTo(4);
    assertThat(r.path("error_samples").path("http_503").asText()).contains("Injected fault");
  }

  @Test
  void droppedStreamIsTruncated() throws Exception {
    JsonNode r = run(BenchCommand.EXIT_ALL_FAILED, "-n", "3", "-c", "3",
        "-H", "X-Tokenpipe-Sim: ttft=10ms itl=5ms tokens=10 drop_after=3", sim.chatUrl());
    assertThat(r.path("errors").path("truncated").asLong()).isEqualTo(3);
  }

  @Test
  void nonStreamingResponseIsNotAStream() throws Exception {
    JsonNode r = run(BenchCommand.EXIT_ALL_FAILED, "-n", "2", "-c", "1",
        "-d", "{\"model\":\"tokenpipe-sim\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "-H", "X-Tokenpipe-Sim: ttft=5ms itl=1ms tokens=3", sim.chatUrl());
    assertThat(r.path("errors").path("not_stream").asLong()).isEqualTo(2);
  }

  @Test
  void mixedRunReportsPartialFailureWithExitTwo() throws Exception {
    // Half the requests fail (at random): ok and errors add up, the exit code says "some failed".
    Path prompts = dir.resolve("p.jsonl");
    Files.writeString(prompts, "\"ok prompt\"\n\"another\"\n");
    JsonNode r = run(BenchCommand.EXIT_SOME_FAILED, "-n", "20", "-c", "2",
        "-H", "X-Tokenpipe-Sim: ttft=5ms itl=1ms tokens=5 error_rate=0.5", "--prompts-file", prompts.toString(), sim.chatUrl());
    long ok = r.path("totals").path("ok").asLong();
    long errors = r.path("errors").path("http_503").asLong();
    assertThat(ok + errors).isEqualTo(20);
    assertThat(r.path("config").path("prompts").asInt()).isEqualTo(2);
  }

  @Test
  void badFlagsAreOneLineUsageErrors() {
    BenchCli r = BenchCli.run("bench", "-c", "0", sim.chatUrl());
    assertThat(r.exitCode()).isEqualTo(Cli.EXIT_USAGE);
    assertThat(r.err()).contains("-c must be at least 1");
    BenchCli r2 = BenchCli.run("bench", "ftp://x/y");
    assertThat(r2.exitCode()).isEqualTo(Cli.EXIT_USAGE);
    assertThat(r2.err()).contains("http://");
    BenchCli r3 = BenchCli.run("bench", "--rate", "abc", sim.chatUrl());
    assertThat(r3.exitCode()).isEqualTo(Cli.EXIT_USAGE);
  }
}
