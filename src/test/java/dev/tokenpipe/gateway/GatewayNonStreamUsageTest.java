package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A whole (non-stream) answer's output tokens are its usage, in the access log and the tokens metric, for
 * every API: they were logged as {@code tokens=0} for an answer whose usage said 64, and counted as 0.
 * An answer too large to read its usage from says {@code tokens=-} (unknown), never 0.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayNonStreamUsageTest {
  static ScriptedUpstream upstream;
  static GatewayServer gateway;

  static final String CHAT = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{\"index\":0,"
      + "\"message\":{\"role\":\"assistant\",\"content\":\"Hello there\"},\"finish_reason\":\"stop\"}],"
      + "\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":64,\"total_tokens\":72}}";
  static final String MESSAGE = "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\","
      + "\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
      + "\"usage\":{\"input_tokens\":5,\"output_tokens\":12}}";
  static final String RESPONSE = "{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"output\":[{\"type\":"
      + "\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hi\"}]}],"
      + "\"usage\":{\"input_tokens\":5,\"output_tokens\":9,\"total_tokens\":14},\"user\":null,\"metadata\":{}}";
  static final String OLLAMA = "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":true,"
      + "\"total_duration\":100,\"prompt_eval_count\":4,\"eval_count\":7,\"eval_duration\":90}";

  @BeforeAll
  static void start() throws IOException {
    upstream = new ScriptedUpstream()
        .on("/v1/chat/completions", x -> x.json(200, "OK", "", CHAT))
        .on("/v1/messages", x -> x.json(200, "OK", "", MESSAGE))
        .on("/v1/responses", x -> x.json(200, "OK", "", RESPONSE))
        .on("/api/chat", x -> x.json(200, "OK", "", OLLAMA))
        .on("chunked", x -> {
          x.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
          for (int i = 0; i < CHAT.length(); i += 40) {
            x.chunk(CHAT.substring(i, Math.min(CHAT.length(), i + 40))).pause(5);
          }
          x.end();
        })
        .on("huge", x -> x.json(200, "OK", "", CHAT.replace("Hello there", "x".repeat(2 << 20))))
        .on("close-delimited", x -> {
          x.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + CHAT);
          x.pause(50).close();
        })
        .on("close-delimited-cut", x -> {
          x.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
              + CHAT.substring(0, CHAT.length() / 2));
          x.pause(50).close(); // the server died mid-answer; its FIN is all HTTP says
        });
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(upstream.url())));
  }

  @AfterAll
  static void stop() throws IOException {
    gateway.close();
    upstream.close();
  }

  private static Map<String, String> answer(String path, String body, String expected) throws Exception {
    try (AccessLogCapture log = new AccessLogCapture()) {
      Wire.Response r = Wire.post(gateway.port(), path, body);
      assertThat(r.status()).isEqualTo(200);
      if (expected != null) {
        assertThat(r.bodyText()).as("relayed unchanged").isEqualTo(expected);
      }
      return log.await(path, Duration.ofSeconds(5));
    }
  }

  @Test
  void eachApisWholeAnswerIsBookedWithItsUsage() throws Exception {
    long before = gateway.metrics().count("tokens");

    assertThat(answer("/v1/chat/completions", "{\"model\":\"m\",\"messages\":[]}", CHAT)).containsEntry("tokens", "64");
    assertThat(answer("/v1/messages", "{\"model\":\"claude-x\",\"max_tokens\":9,\"messages\":[]}", MESSAGE))
        .containsEntry("tokens", "12");
    assertThat(answer("/v1/responses", "{\"model\":\"m\",\"input\":\"hi\"}", RESPONSE)).containsEntry("tokens", "9");
    assertThat(answer("/api/chat", "{\"model\":\"m\",\"stream\":false,\"messages\":[]}", OLLAMA))
        .containsEntry("tokens", "7");

    assertThat(gateway.metrics().count("tokens") - before).isEqualTo(64 + 12 + 9 + 7);
  }

  @Test
  void anAnswerInManyChunksIsReadWhole() throws Exception {
    assertThat(answer("/v1/chat/completions", "{\"model\":\"chunked\",\"messages\":[]}", CHAT)).containsEntry("tokens", "64");
  }

  @Test
  void anAnswerTooLargeToReadIsUnknownNotZero() throws Exception {
    long before = gateway.metrics().count("tokens");

    Map<String, String> line = answer("/v1/chat/completions", "{\"model\":\"huge\",\"messages\":[]}", null);

    assertThat(line).containsEntry("tokens", "-").containsEntry("outcome", "done");
    assertThat(gateway.metrics().count("tokens")).isEqualTo(before);
  }

  /**
   * An answer without a length or chunks ends at the upstream's close, whether it was whole or cut: HTTP cannot
   * tell. The gateway re-framed it chunked and ended it with the last chunk, so a cut answer looked complete to the
   * client, which then failed on the JSON. A JSON answer is read whole anyway (for its usage): one that is not
   * whole JSON at the close is a cut, and the client's body ends without its last chunk.
   */
  @Test
  void aCloseDelimitedAnswerCutInsideItsJsonDoesNotEndLookingComplete() throws Exception {
    Wire.Response whole = Wire.post(gateway.port(), "/v1/chat/completions", "{\"model\":\"close-delimited\",\"messages\":[]}");
    assertThat(whole.complete()).as("%s", whole).isTrue();
    assertThat(whole.bodyText()).isEqualTo(CHAT);

    try (AccessLogCapture log = new AccessLogCapture()) {
      Wire.Response cut = Wire.post(gateway.port(), "/v1/chat/completions",
          "{\"model\":\"close-delimited-cut\",\"messages\":[]}");
      assertThat(cut.status()).isEqualTo(200);
      assertThat(cut.complete()).as("no last chunk after a cut answer: %s", cut).isFalse();
      assertThat(cut.closed()).isTrue();
      assertThat(cut.bodyText()).isEqualTo(CHAT.substring(0, CHAT.length() / 2));
      assertThat(log.await("/v1/chat/completions", l -> !"done".equals(l.get("outcome")), Duration.ofSeconds(5)))
          .containsEntry("outcome", "error:upstream_cut");
    }
  }
}
