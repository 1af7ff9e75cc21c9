package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.testing.SimExtension;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * An open-loop run says what it offered and what completed, each over its own window. Before, `bench --rate 50
 * -z 5s` printed only "41.6 req/s": requests completed divided by the run including its drain, which reads as a
 * target (or generator) that could not keep up with 50 req/s when every arrival went out on time.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class OfferedRateTest {
  @RegisterExtension static final SimExtension sim = new SimExtension();
  @TempDir Path dir;

  /** Streams of about 1 s (200 ms to the first token, 20 more 40 ms apart): the drain is a quarter of a 4 s run. */
  private static final String ONE_SECOND_STREAMS = "X-Tokenpipe-Sim: ttft=200ms itl=40ms tokens=20";

  @Test
  void openLoopReportsTheOfferedRateOverTheSendingWindowBesideTheCompletedThroughput() throws Exception {
    Path json = dir.resolve("open.json");
    Path html = dir.resolve("open.html");

    BenchCli r = BenchCli.run("bench", "--rate", "20", "--arrival", "constant", "-z", "4s", "-c", "40", "--progress",
        "none", "--json", json.toString(), "--html", html.toString(), "-H", ONE_SECOND_STREAMS, sim.chatUrl());

    assertThat(r.exitCode()).as(r.out() + r.err()).isZero();
    JsonNode t = BenchCli.json(json).path("totals");
    assertThat(t.path("sent").asLong()).isBetween(79L, 81L);
    assertThat(t.path("send_window_s").asDouble()).isCloseTo(4.0, within(0.05));
    assertThat(t.path("offered_rate_per_s").asDouble()).as("every arrival went out").isCloseTo(20.0, within(0.5));
    // The completed throughput is over the measured time, drain included: about 80 / 5 s.
    assertThat(t.path("duration_s").asDouble()).isGreaterThan(4.7);
    assertThat(t.path("requests_per_s").asDouble()).isLessThan(17.5);
    assertThat(r.out()).containsPattern("\\n  offered   \\d+ sent in 4\\.0\\d s, (19\\.\\d|20\\.\\d) req/s \\(--rate 20\\.0 constant\\)\\n")
        .containsPattern("\\n  requests  \\d+ ok, 0 errors \\(0\\.0%\\) in \\d\\.\\d\\d s \\(sending 4\\.0\\d s \\+ drain \\d\\.\\d\\d s\\), 1\\d\\.\\d req/s succeeded\\n");
    assertThat(Files.readString(html)).contains("offered_rate_per_s", "req/s offered");
  }

  /**
   * Arrivals that find no free stream wait in a queue, which had no bound: at a rate far above what the target
   * serves with {@code -c}, it grew for the whole run (the run above the old, unbounded --rate held 99 million
   * queued arrivals, 5 GB, in 36 s). Now the run stops at {@link LoadEngine#MAX_PENDING} queued arrivals with one
   * line saying so, its numbers so far reported, well before {@code -z}.
   */
  @Test
  void anOpenLoopRunWhoseQueueOfArrivalsOutgrowsItsBoundStopsWithOneLine() throws Exception {
    Path json = dir.resolve("overloaded.json");
    long started = System.nanoTime();

    BenchCli r = BenchCli.run("bench", "--rate", "100000", "--arrival", "constant", "-z", "60s", "-c", "2",
        "--progress", "none", "--json", json.toString(), "-H", ONE_SECOND_STREAMS, sim.chatUrl());

    assertThat((System.nanoTime() - started) / 1e9).as("stopped long before -z 60s").isLessThan(30);
    assertThat(r.exitCode()).as(r.out() + r.err()).isEqualTo(BenchCommand.EXIT_SOME_FAILED);
    assertThat(r.err().lines().filter(l -> l.startsWith("bench: stopped: ")).toList()).as(r.err())
        .containsExactly("bench: stopped: " + LoadEngine.MAX_PENDING + " arrivals waiting for a free stream (-c 2):"
            + " the target ends far fewer requests a second than --rate 100000.0; lower --rate or raise -c");
    JsonNode result = BenchCli.json(json);
    assertThat(result.path("overloaded").asText()).startsWith(LoadEngine.MAX_PENDING + " arrivals waiting");
    assertThat(r.out()).contains("[STOPPED: arrivals queued]");
  }

  @Test
  void aClosedLoopRunHasNoOfferedRate() throws Exception {
    Path json = dir.resolve("closed.json");

    BenchCli r = BenchCli.run("bench", "-n", "6", "-c", "2", "--progress", "none", "--json", json.toString(),
        "-H", "X-Tokenpipe-Sim: ttft=5ms itl=1ms tokens=3", sim.chatUrl());

    assertThat(r.exitCode()).as(r.out() + r.err()).isZero();
    assertThat(BenchCli.json(json).path("totals").has("offered_rate_per_s")).isFalse();
    assertThat(r.out()).doesNotContain("offered").containsPattern("\\n  requests  6 ok, 0 errors \\(0\\.0%\\) in \\d+\\.\\d\\d s, \\d+\\.\\d req/s succeeded\\n");
  }
}
