package dev.tokenpipe.bench;

import static dev.tokenpipe.bench.BenchCli.metric;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * bench uses the shared definition of a generated token (docs/metrics.md): a stream whose only output is a
 * tool call, or reasoning followed by a tool call, has a TTFT and counted tokens. The model is a real HTTP
 * server on loopback that writes and flushes each event on its own, at known times.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BenchGeneratedKindsTest {
  private static final String HEAD = "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,";

  @TempDir Path dir;
  private HttpServer server;

  @AfterEach
  void stop() {
    if (server != null) {
      server.stop(0);
    }
  }

  @Test
  void toolCallOnlyStreamHasTtftAndTokens() throws Exception {
    List<String> events = List.of(
        HEAD + "\"delta\":{\"role\":\"assistant\",\"content\":null},\"finish_reason\":null}]}",
        "SLEEP",
        HEAD + "\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
            + "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}",
        HEAD + "\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\"\"}}]},\"finish_reason\":null}]}",
        HEAD + "\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\": \\\"Paris\\\"}\"}}]},\"finish_reason\":null}]}",
        HEAD + "\"delta\":{},\"finish_reason\":\"tool_calls\"}]}",
        "[DONE]");
    JsonNode res = bench(events, "--tokenizer", "cl100k");
    assertThat(res.path("totals").path("ok").asLong()).isEqualTo(6);
    assertThat(res.path("totals").path("content_events").asLong()).isEqualTo(6 * 3);
    assertThat(res.path("output_tokens_source").path("primary").asText()).isEqualTo("tokenizer");
    assertThat(res.path("totals").path("output_tokens").asLong()).isGreaterThanOrEqualTo(6 * 3);
    assertThat(metric(res, "ttft", "count")).isEqualTo(6);
    assertThat(metric(res, "ttft", "p50")).isBetween(140.0, 600.0); // the model's 150 ms pause, on a busy machine
    assertThat(metric(res, "itl", "count")).isEqualTo(6 * 2);
    assertThat(metric(res, "ttft_reasoning", "count")).isZero();
  }

  @Test
  void reasoningThenToolCallStartsTtftAtTheFirstReasoningDelta() throws Exception {
    List<String> events = List.of(
        HEAD + "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}",
        "SLEEP",
        HEAD + "\"delta\":{\"reasoning_content\":\"The user wants weather.\"},\"finish_reason\":null}]}",
        "SLEEP",
        HEAD + "\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"get_weather\",\"arguments\":\"{}\"}}]},"
            + "\"finish_reason\":null}]}",
        "{\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":9,\"total_tokens\":14}}",
        "[DONE]");
    JsonNode res = bench(events, "--tokenizer", "none");
    assertThat(res.path("totals").path("ok").asLong()).isEqualTo(6);
    assertThat(res.path("output_tokens_source").path("primary").asText()).isEqualTo("usage");
    assertThat(res.path("totals").path("output_tokens").asLong()).isEqualTo(6 * 9);
    assertThat(res.path("totals").path("content_events").asLong()).isEqualTo(6 * 2);
    // TTFT is the first generated output of any kind: the reasoning delta, not the tool call 150 ms later.
    assertThat(metric(res, "ttft", "p50")).isBetween(140.0, 600.0);
    assertThat(Math.abs(metric(res, "ttft", "p50") - metric(res, "ttft_reasoning", "p50"))).isLessThan(1.0);
    assertThat(metric(res, "itl", "p50")).isBetween(140.0, 600.0);
  }

  /** Starts the model (each "SLEEP" is a 150 ms pause) and runs bench -n 6 -c 2 against it. */
  private JsonNode bench(List<String> events, String... extra) throws Exception {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.setExecutor(Executors.newFixedThreadPool(4));
    server.createContext("/v1/chat/completions", ex -> {
      ex.getRequestBody().readAllBytes();
      ex.getResponseHeaders().set("Content-Type", "text/event-stream");
      ex.sendResponseHeaders(200, 0);
      try (OutputStream out = ex.getResponseBody()) {
        for (String e : events) {
          if (e.equals("SLEEP")) {
            Thread.sleep(150);
            continue;
          }
          out.write(("data: " + e + "\n\n").getBytes(UTF_8));
          out.flush();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    server.start();
    Path json = dir.resolve("r.json");
    String[] args = {"bench", "-n", "6", "-c", "2", "--progress", "none", "--model", "m", "--json", json.toString()};
    String[] all = new String[args.length + extra.length + 1];
    System.arraycopy(args, 0, all, 0, args.length);
    System.arraycopy(extra, 0, all, args.length, extra.length);
    all[all.length - 1] = "http://127.0.0.1:" + server.getAddress().getPort() + "/v1/chat/completions";
    BenchCli r = BenchCli.run(all);
    assertThat(r.exitCode()).as(r.out() + r.err()).isZero();
    return BenchCli.json(json);
  }
}
