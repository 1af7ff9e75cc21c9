package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * One definition of a generated token for the access log and the metrics: reasoning deltas and tool-call
 * deltas are tokens, so a reasoning stream's TTFT is its first reasoning delta, and a tool-call-only
 * stream has tokens and a TTFT.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayTokenAccountingTest {
  static ScriptedUpstream upstream;
  static GatewayServer gateway;
  static AccessLogCapture accessLog;

  @BeforeAll
  static void start() throws IOException {
    upstream = new ScriptedUpstream()
        .on("reasoning", x -> {
          x.sseHead("");
          x.event(ChatChunks.role());
          x.pause(200).event(ChatChunks.reasoning("Let me think."));
          for (int i = 0; i < 4; i++) {
            x.pause(200).event(ChatChunks.reasoning(" More."));
          }
          // content at ~1200 ms
          x.pause(200).event(ChatChunks.content("42")).event(ChatChunks.finish("stop")).event(ChatChunks.DONE).end();
        })
        .on("warm-up", x -> {
          x.sseHead("");
          x.event(ChatChunks.role()).event(ChatChunks.content("warm")).event(ChatChunks.DONE).end();
        })
        .on("tool-call", x -> {
          x.sseHead("");
          x.event(ChatChunks.role());
          x.pause(100).event(ChatChunks.toolCall("call_1", "get_weather", ""));
          for (String part : List.of("{\"city\"", ": \"Paris\"", "}")) {
            x.pause(50).event(ChatChunks.toolCall(null, null, part));
          }
          x.event(ChatChunks.finish("tool_calls")).event(ChatChunks.DONE).end();
        });
    accessLog = new AccessLogCapture();
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(upstream.url())));
    // The first request of a JVM pays for class loading and JIT (hundreds of ms here): not what is measured.
    Wire.post(gateway.port(), "/v1/chat/completions?case=warm-up", chat("warm-up"));
  }

  @AfterAll
  static void stop() throws IOException {
    gateway.close();
    upstream.close();
    accessLog.close();
  }

  static String chat(String model) {
    return "{\"model\":\"" + model + "\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  }

  @Test
  @Tag("issue9")
  void aReasoningStreamsTtftIsItsFirstReasoningDelta() throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions?case=reasoning", chat("reasoning"));
    assertThat(r.complete()).as("%s", r).isTrue();
    assertThat(r.bodyText()).contains("data: [DONE]");

    Map<String, String> line = accessLog.await("/v1/chat/completions?case=reasoning", Duration.ofSeconds(5));
    // Reasoning at ~200 ms, content at ~1200 ms: the midpoint leaves room for a busy machine either way.
    assertThat(line.get("ttft_ms")).as("access log %s", line).isNotEqualTo("-");
    assertThat(Double.parseDouble(line.get("ttft_ms"))).as("access log %s", line).isBetween(150.0, 700.0);
    assertThat(Double.parseDouble(line.get("upstream_ttft_ms"))).as("access log %s", line).isBetween(150.0, 700.0);
    assertThat(Long.parseLong(line.get("tokens"))).as("reasoning deltas and the content delta").isGreaterThanOrEqualTo(6);
  }

  @Test
  @Tag("issue9")
  void aToolCallOnlyStreamHasTokensAndATtft() throws Exception {
    long tokensBefore = gateway.metrics().count("tokens");

    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions?case=tools", chat("tool-call"));
    assertThat(r.complete()).as("%s", r).isTrue();

    Map<String, String> line = accessLog.await("/v1/chat/completions?case=tools", Duration.ofSeconds(5));
    assertThat(Long.parseLong(line.get("tokens"))).as("access log %s", line).isGreaterThan(0);
    assertThat(line.get("ttft_ms")).as("access log %s", line).isNotEqualTo("-");
    assertThat(line.get("outcome")).isEqualTo("done");
    assertThat(gateway.metrics().count("tokens")).as("tokenpipe_gateway_tokens").isGreaterThan(tokensBefore);
  }
}
