package dev.tokenpipe.bench;

import static dev.tokenpipe.bench.BenchCli.metric;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.testing.SimExtension;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * bench against an in-process simulated model over real sockets: measured values agree with the configured
 * ones within loose tolerances (a noisy 2-core machine), and with the sim's own emission stamps.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BenchMeasurementTest {
  @RegisterExtension static final SimExtension sim = new SimExtension();

  @TempDir Path dir;

  @Test
  void ttftItlAndTpotMatchTheConfiguredStream() throws Exception {
    Path json = dir.resolve("r.json");
    BenchCli r = BenchCli.run("bench", "-n", "20", "-c", "5", "--warmup", "3", "--progress", "none",
        "-H", "X-Tokenpipe-Sim: ttft=200ms itl=20ms tokens=20", "--json", json.toString(), sim.chatUrl());
    assertThat(r.exitCode()).as(r.err()).isZero();
    JsonNode res = BenchCli.json(json);
    assertThat(res.path("totals").path("ok").asLong()).isEqualTo(20);
    assertThat(res.path("totals").path("warmup").asLong()).isEqualTo(3);
    assertThat(res.path("totals").path("output_tokens").asLong()).isEqualTo(20 * 20);
    assertThat(res.path("output_tokens_source").path("primary").asText()).isEqualTo("usage");
    assertThat(metric(res, "ttft", "p50")).isBetween(190.0, 320.0);
    assertThat(metric(res, "itl", "p50")).isBetween(16.0, 30.0);
    assertThat(metric(res, "itl", "count")).isEqualTo(20 * 19);
    assertThat(metric(res, "tpot", "p50")).isBetween(16.0, 30.0);
    assertThat(metric(res, "e2e", "p50")).isBetween(560.0, 900.0);
    // The assistant-role chunk arrives at once: first byte long before the first token.
    assertThat(metric(res, "ttfb", "p50")).isLessThan(100.0);
    assertThat(metric(res, "tokens_per_event", "max")).isEqualTo(1.0);
    // Ground truth from emission stamps: what bench measured is what the server emitted, plus delivery.
    assertThat(metric(res, "one_way_delay", "count")).as("one per generated token").isEqualTo(20 * 20);
    assertThat(metric(res, "one_way_delay", "p50")).isLessThan(20.0);
    assertThat(Math.abs(metric(res, "ttft", "p50") - metric(res, "ttft_emitted", "p50"))).isLessThan(20.0);
    assertThat(Math.abs(metric(res, "itl", "p50") - metric(res, "itl_emitted", "p50"))).isLessThan(5.0);
    // The sim stamps its opening chunk as the request arrives: the way in, not the model's 200 ms.
    assertThat(metric(res, "first_emitted", "count")).as("one per request").isEqualTo(20);
    assertThat(metric(res, "first_emitted", "p50")).isLessThan(50.0);
    assertThat(metric(res, "ttft_emitted", "p50") - metric(res, "first_emitted", "p50")).isBetween(180.0, 320.0);
    assertThat(r.out()).contains("first emission").contains("TTFT").contains("AIPerf / GenAI-Perf ITL").contains("self-check");
  }

  @Test
  void burstsShowAsTokensPerEventAndWiderGaps() throws Exception {
    Path json = dir.resolve("burst.json");
    BenchCli r = BenchCli.run("bench", "-n", "10", "-c", "5", "--progress", "none",
        "-H", "X-Tokenpipe-Sim: ttft=50ms itl=10ms tokens=41 burst=4", "--json", json.toString(), sim.chatUrl());
    assertThat(r.exitCode()).as(r.err()).isZero();
    JsonNode res = BenchCli.json(json);
    // First token alone, then 10 events of 4 tokens every 4 intervals.
    assertThat(metric(res, "tokens_per_event", "p90")).isBetween(3.0, 5.0);
    assertThat(metric(res, "itl", "p50")).isBetween(32.0, 60.0);
    assertThat(metric(res, "itl", "count")).isEqualTo(10 * 10);
    // TPOT spreads the burst over its tokens: back near one interval.
    assertThat(metric(res, "tpot", "p50")).isBetween(8.0, 16.0);
  }

  @Test
  void tokenApiWithoutUsageCountsWithTheTokenizer() throws Exception {
    Path json = dir.resolve("stream.json");
    BenchCli r = BenchCli.run("bench", "-n", "5", "-c", "5", "--progress", "none",
        "-H", "X-Tokenpipe-Sim: ttft=20ms itl=5ms tokens=12", "--json", json.toString(),
        "http://127.0.0.1:" + sim.port() + "/v1/stream");
    assertThat(r.exitCode()).as(r.err()).isZero();
    JsonNode res = BenchCli.json(json);
    assertThat(res.path("config").path("api").asText()).isEqualTo("stream");
    assertThat(res.path("output_tokens_source").path("primary").asText()).isEqualTo("tokenizer");
    assertThat(res.path("totals").path("content_events").asLong()).isEqualTo(5 * 12);
    assertThat(res.path("totals").path("output_tokens").asLong()).isBetween(5 * 10L, 5 * 14L);
  }

  @Test
  void openLoopMeasuresFromTheIntendedStartSoQueueingShowsInTtft() throws Exception {
    // One connection, 100 ms per stream, arrivals every 50 ms: requests queue behind each other.
    String profile = "X-Tokenpipe-Sim: ttft=100ms itl=5ms tokens=3";
    Path open = dir.resolve("open.json");
    BenchCli r = BenchCli.run("bench", "-n", "16", "-c", "1", "--rate", "20", "--arrival", "constant",
        "--progress", "none", "-H", profile, "--json", open.toString(), sim.chatUrl());
    assertThat(r.exitCode()).as(r.err()).isZero();
    JsonNode o = BenchCli.json(open);
    Path closed = dir.resolve("closed.json");
    BenchCli r2 = BenchCli.run("bench", "-n", "8", "-c", "1", "--progress", "none", "-H", profile,
        "--json", closed.toString(), sim.chatUrl());
    assertThat(r2.exitCode()).as(r2.err()).isZero();
    JsonNode c = BenchCli.json(closed);
    // Closed loop hides the queue: every request is measured from its own (late) send.
    assertThat(metric(c, "ttft", "p99")).isLessThan(250.0);
    // Open loop: the 16th arrival waits ~15 x (110 - 50) ms; measured from its intended start.
    assertThat(metric(o, "ttft", "max")).isGreaterThan(600.0);
    assertThat(metric(o, "dispatch_lag", "max")).isGreaterThan(500.0);
    assertThat(metric(o, "dispatch_lag", "count")).isEqualTo(16);
    assertThat(o.path("config").path("mode").asText()).isEqualTo("open");
    // TTFT >= service TTFT + the queueing the request saw.
    assertThat(metric(o, "ttft", "max")).isGreaterThan(metric(o, "dispatch_lag", "max") + 80);
  }
}
