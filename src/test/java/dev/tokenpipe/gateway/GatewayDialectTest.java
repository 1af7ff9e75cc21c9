package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.dialect.AnthropicMessages;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.sse.SseEvent;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code serve} speaks each client's API: Anthropic Messages and OpenAI Responses streams pass byte for byte,
 * their cuts end in the API's own error event, their errors are in the API's own shape, failover before
 * generated content works, the access log and metrics name the API, and the upstream key goes the API's way.
 * The upstreams are scripted with the real APIs' event sequences (docs.anthropic.com messages-streaming,
 * platform.openai.com responses-streaming).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayDialectTest {
  static final String MESSAGES = "{\"model\":\"claude-x\",\"max_tokens\":64,\"stream\":true,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  static final String RESPONSES = "{\"model\":\"gpt-x\",\"stream\":true,\"input\":\"hi\"}";

  /** Anthropic's opening: nothing generated yet (held, so a failure here can fail over). */
  static final String A_OPEN = ""
      + "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
      + "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-x\",\"stop_reason\":null,\"stop_sequence\":null,"
      + "\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
      + "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
      + "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
      + "event: ping\ndata: {\"type\": \"ping\"}\n\n";
  static final String A_TEXT = ""
      + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
      + "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n"
      + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
      + "\"delta\":{\"type\":\"text_delta\",\"text\":\" there\"}}\n\n";
  static final String A_END = ""
      + "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
      + "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
      + "\"stop_sequence\":null},\"usage\":{\"output_tokens\":7}}\n\n"
      + "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  static final String ANTHROPIC_STREAM = A_OPEN + A_TEXT + A_END;

  static final String R_OPEN = ""
      + "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":"
      + "{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[]}}\n\n"
      + "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":1,"
      + "\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"in_progress\","
      + "\"role\":\"assistant\",\"content\":[]}}\n\n";
  static final String R_TEXT = ""
      + "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":2,"
      + "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hello\"}\n\n";
  static final String R_END = ""
      + "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":3,\"response\":"
      + "{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"usage\":{\"input_tokens\":5,"
      + "\"output_tokens\":9,\"total_tokens\":14}}}\n\n";
  static final String RESPONSES_STREAM = R_OPEN + R_TEXT + R_END;

  final List<AutoCloseable> closing = new java.util.ArrayList<>();

  @AfterEach
  void stop() throws Exception {
    for (AutoCloseable c : closing.reversed()) {
      c.close();
    }
  }

  private ScriptedUpstream upstream() throws IOException {
    ScriptedUpstream u = new ScriptedUpstream();
    closing.add(u);
    return u;
  }

  private GatewayServer gateway(GatewayConfig config) throws IOException {
    GatewayServer g = GatewayServer.start(config.withPort(0));
    closing.add(g);
    return g;
  }

  private static void stream(ScriptedUpstream.Exchange x, String events) throws IOException {
    for (String event : events.split("(?<=\n\n)")) {
      x.chunk(event);
    }
  }

  @Test
  void anthropicStreamPassesByteForByteAndTheBooksNameItsApi() throws Exception {
    ScriptedUpstream up = upstream().on("/v1/messages", x -> {
      x.sseHead("request-id: req_1\r\n");
      stream(x, ANTHROPIC_STREAM);
      x.end();
    });
    GatewayServer gw = gateway(GatewayConfig.defaults().withUpstreams(List.of(up.url())));
    try (AccessLogCapture log = new AccessLogCapture()) {
      Wire.Response r = Wire.post(gw.port(), "/v1/messages", MESSAGES, "anthropic-version: 2023-06-01");

      assertThat(r.status()).as("%s", r).isEqualTo(200);
      assertThat(r.complete()).isTrue();
      assertThat(r.bodyWithoutComments()).isEqualTo(ANTHROPIC_STREAM);
      assertThat(r.head()).containsIgnoringCase("request-id: req_1");
      Map<String, String> line = log.await("/v1/messages", Duration.ofSeconds(5));
      assertThat(line).containsEntry("api", "anthropic-messages").containsEntry("outcome", "done")
          .as("usage from message_delta").containsEntry("tokens", "7");
      assertThat(line.get("ttft_ms")).isNotEqualTo("-");
      assertThat(line.get("content_ttft_ms")).as("the first text_delta is visible text").isNotEqualTo("-");
      assertThat(Double.parseDouble(line.get("content_ttft_ms"))).isBetween(0.0, Double.parseDouble(line.get("duration_ms")));
    }
    assertThat(gw.metrics().scrape())
        .contains("tokenpipe_gateway_requests_total{api=\"anthropic-messages\",outcome=\"done\"} 1")
        .contains("gen_ai_server_time_to_first_token_seconds_count{api=\"anthropic-messages\"} 1");
  }

  @Test
  void anthropicCutMidStreamEndsInAnthropicsErrorEvent() throws Exception {
    ScriptedUpstream up = upstream().on("/v1/messages", x -> {
      x.sseHead("");
      stream(x, A_OPEN + A_TEXT);
      x.pause(30).reset();
    });
    GatewayServer gw = gateway(GatewayConfig.defaults().withUpstreams(List.of(up.url())));

    Wire.Response r = Wire.post(gw.port(), "/v1/messages", MESSAGES);

    assertThat(r.status()).isEqualTo(200);
    assertThat(r.complete()).as("the in-band error is followed by the last chunk: %s", r).isTrue();
    List<SseEvent> events = r.events().events();
    SseEvent last = events.getLast();
    assertThat(last.type()).isEqualTo("error");
    JsonNode error = Json.MAPPER.readTree(last.data());
    assertThat(error.path("type").asText()).isEqualTo("error");
    assertThat(error.path("error").path("type").asText()).isEqualTo("api_error");
    assertThat(error.path("error").path("message").asText()).contains("closed the stream");
    assertThat(r.bodyWithoutComments()).startsWith(A_OPEN + A_TEXT);
  }

  @Test
  void responsesCutMidStreamEndsInTheResponsesErrorEvent() throws Exception {
    ScriptedUpstream up = upstream().on("/v1/responses", x -> {
      x.sseHead("");
      stream(x, R_OPEN + R_TEXT);
      x.pause(30).end(); // a clean end without response.completed is a cut too
    });
    GatewayServer gw = gateway(GatewayConfig.defaults().withUpstreams(List.of(up.url())));

    Wire.Response r = Wire.post(gw.port(), "/v1/responses", RESPONSES);

    assertThat(r.complete()).isTrue();
    SseEvent last = r.events().events().getLast();
    assertThat(last.type()).isEqualTo("error");
    JsonNode error = Json.MAPPER.readTree(last.data());
    assertThat(error.path("type").asText()).isEqualTo("error");
    assertThat(error.path("code").asText()).isEqualTo("upstream_cut");
    assertThat(error.path("message").asText()).isNotEmpty();
  }

  @Test
  void anUpstreamsOwnErrorEventPassesAsSentAndTheBooksCountAnError() throws Exception {
    String error = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
        + "\"message\":\"Overloaded\"}}\n\n";
    ScriptedUpstream up = upstream().on("/v1/messages", x -> {
      x.sseHead("");
      stream(x, A_OPEN + A_TEXT + error);
      x.end();
    });
    GatewayServer gw = gateway(GatewayConfig.defaults().withUpstreams(List.of(up.url())));
    try (AccessLogCapture log = new AccessLogCapture()) {
      Wire.Response r = Wire.post(gw.port(), "/v1/messages", MESSAGES);

      assertThat(r.bodyWithoutComments()).isEqualTo(A_OPEN + A_TEXT + error);
      assertThat(log.await("/v1/messages", Duration.ofSeconds(5))).containsEntry("outcome", "error:upstream_status");
    }
    assertThat(gw.metrics().errors("upstream_status")).isEqualTo(1);
  }

  @Test
  void responsesStreamPassesByteForByte() throws Exception {
    ScriptedUpstream up = upstream().on("/v1/responses", x -> {
      x.sseHead("x-request-id: r1\r\n");
      stream(x, RESPONSES_STREAM);
      x.end();
    });
    GatewayServer gw = gateway(GatewayConfig.defaults().withUpstreams(List.of(up.url())));
    try (AccessLogCapture log = new AccessLogCapture()) {
      Wire.Response r = Wire.post(gw.port(), "/v1/responses", RESPONSES);

      assertThat(r.bodyWithoutComments()).isEqualTo(RESPONSES_STREAM);
      Map<String, String> line = log.await("/v1/responses", Duration.ofSeconds(5));
      assertThat(line).containsEntry("api", "openai-responses").containsEntry("outcome", "done")
          .containsEntry("tokens", "9");
      assertThat(line.get("content_ttft_ms")).isNotEqualTo("-");
    }
  }

  @Test
  void anthropicFailsOverBeforeGeneratedContentAndTheClientSeesBsStreamAlone() throws Exception {
    ScriptedUpstream a = upstream().on("/v1/messages", x -> {
      x.sseHead("");
      stream(x, A_OPEN);
      x.pause(30).reset();
    });
    ScriptedUpstream b = upstream().on("/v1/messages", x -> {
      x.sseHead("");
      stream(x, ANTHROPIC_STREAM);
      x.end();
    });
    GatewayServer gw = gateway(GatewayConfig.defaults().withUpstreams(List.of(a.url(), b.url())));

    Wire.Response r = Wire.post(gw.port(), "/v1/messages", MESSAGES);

    assertThat(a.requests("/v1/messages") + b.requests("/v1/messages")).isGreaterThanOrEqualTo(1);
    assertThat(r.bodyWithoutComments()).isEqualTo(ANTHROPIC_STREAM);
    if (a.requests("/v1/messages") == 1) {
      assertThat(gw.metrics().count("retries")).isEqualTo(1);
    }
  }

  @Test
  void anthropicUpstreamErrorsReachTheClientInAnthropicsShape() throws Exception {
    String overloaded = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}";
    ScriptedUpstream up = upstream()
        .on("overloaded", x -> x.json(529, "Overloaded", "", overloaded))
        .on("html", x -> x.write("HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: 14\r\n\r\n"
            + "<h1>oops</h1>\n"));
    GatewayServer gw = gateway(GatewayConfig.defaults().withUpstreams(List.of(up.url())));

    Wire.Response r = Wire.post(gw.port(), "/v1/messages", MESSAGES.replace("claude-x", "overloaded"));
    assertThat(r.status()).isEqualTo(529);
    assertThat(r.bodyText()).as("already Anthropic's shape: unchanged").isEqualTo(overloaded);

    Wire.Response html = Wire.post(gw.port(), "/v1/messages", MESSAGES.replace("claude-x", "html"));
    assertThat(html.status()).isEqualTo(500);
    JsonNode body = Json.MAPPER.readTree(html.bodyText());
    assertThat(body.path("type").asText()).isEqualTo("error");
    assertThat(body.path("error").path("type").asText()).isEqualTo("api_error");
    assertThat(body.path("error").path("message").asText()).contains("oops");
  }

  @Test
  void gatewayKeysAreAcceptedAsXApiKeyAndRefusalsAreInTheCallersShape() throws Exception {
    ScriptedUpstream up = upstream().on("/v1/messages", x -> {
      x.sseHead("");
      stream(x, ANTHROPIC_STREAM);
      x.end();
    });
    GatewayServer gw = gateway(GatewayConfig.defaults().withUpstreams(List.of(up.url()))
        .withAuth(Set.of("gw-key"), "sk-ant-upstream"));

    Wire.Response denied = Wire.post(gw.port(), "/v1/messages", MESSAGES, "x-api-key: wrong");
    assertThat(denied.status()).isEqualTo(401);
    JsonNode body = Json.MAPPER.readTree(denied.bodyText());
    assertThat(body.path("error").path("type").asText()).isEqualTo("authentication_error");
    Wire.Response openAiDenied = Wire.post(gw.port(), "/v1/chat/completions", "{}");
    assertThat(Json.MAPPER.readTree(openAiDenied.bodyText()).path("error").path("code").asText())
        .isEqualTo("invalid_api_key");

    Wire.Response ok = Wire.post(gw.port(), "/v1/messages", MESSAGES, "x-api-key: gw-key");
    assertThat(ok.status()).isEqualTo(200);
    String head = up.heads.getLast().toLowerCase(java.util.Locale.ROOT);
    assertThat(head).as("the upstream key, the Anthropic way").contains("x-api-key: sk-ant-upstream")
        .contains("anthropic-version: " + AnthropicMessages.VERSION).doesNotContain("gw-key")
        .doesNotContain("authorization:");
  }

  @Test
  void ollamaCutMidStreamEndsInOllamasErrorLine() throws Exception {
    ScriptedUpstream up = upstream().on("/api/chat", x -> {
      x.write("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n");
      x.chunk("{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n");
      x.pause(30).reset();
    });
    GatewayServer gw = gateway(GatewayConfig.defaults().withUpstreams(List.of(up.url())));

    Wire.Response r = Wire.post(gw.port(), "/api/chat", "{\"model\":\"m\",\"messages\":[]}");

    assertThat(r.complete()).isTrue();
    String[] lines = r.bodyText().split("\n");
    JsonNode last = Json.MAPPER.readTree(lines[lines.length - 1]);
    assertThat(last.path("error").isTextual()).as("Ollama's {\"error\":\"...\"}: %s", r.bodyText()).isTrue();
  }

  /**
   * A broken upstream answers Ollama's {@code /api/chat} with SSE framing: the body keeps that framing, but the
   * gateway's own error in it is still Ollama's {@code {"error":"..."}}, the shape an Ollama client parses (it was
   * OpenAI's error object). A cut after a generated event, and a first token that never comes.
   */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {"cut", "silent"})
  void ollamaPathOverAnSseUpstreamGetsItsErrorInOllamasShape(String how) throws Exception {
    ScriptedUpstream up = upstream().on("/api/chat", x -> {
      x.sseHead("");
      if (how.equals("cut")) {
        x.event("{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}");
        x.pause(30).reset();
      } else {
        x.pause(3000).close();
      }
    });
    GatewayServer gw = gateway(GatewayConfig.defaults().withUpstreams(List.of(up.url()))
        .withTimeouts(Duration.ofMillis(300), Duration.ofSeconds(60), Duration.ofSeconds(30), Duration.ofSeconds(30)));

    Wire.Response r = Wire.post(gw.port(), "/api/chat", "{\"model\":\"m\",\"messages\":[]}");

    assertThat(r.complete()).as("%s", r).isTrue();
    List<SseEvent> events = Wire.Parsed.of(r.bodyWithoutComments()).events();
    assertThat(events).as(r.bodyText()).isNotEmpty();
    SseEvent last = events.getLast();
    assertThat(last.type()).isEqualTo("error");
    JsonNode error = Json.MAPPER.readTree(last.data());
    assertThat(error.path("error").isTextual()).as("Ollama's {\"error\":\"...\"}: %s", r.bodyText()).isTrue();
    assertThat(error.path("error").asText()).isNotBlank();
  }

  /**
   * Ollama's /api/pull (push, create) streams progress lines and ends with {@code {"status":"success"}}: no token,
   * no {@code "done":true}. It is relayed line by line as it comes (its lines were held like a chat's role chunk,
   * waiting for a generated token that never comes: no progress until the end), it is never cut by the first-token
   * timeout, and its clean end is its end (an error line was appended to every successful pull, outcome=upstream_cut).
   */
  @Test
  void ollamaPullProgressIsRelayedAsItComesAndItsSuccessEndsIt() throws Exception {
    String progress = "{\"status\":\"pulling 6a0746a1ec1a\",\"digest\":\"sha256:6a07\",\"total\":4661211808,\"completed\":%d}\n";
    StringBuilder all = new StringBuilder();
    for (int i = 0; i < 4; i++) {
      all.append(progress.formatted(i * 1_000_000));
    }
    all.append("{\"status\":\"success\"}\n");
    ScriptedUpstream up = upstream().on("/api/pull", x -> {
      x.write("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n");
      for (String line : all.toString().split("(?<=\n)")) {
        x.chunk(line).pause(300);
      }
      x.end();
    });
    GatewayServer gw = gateway(GatewayConfig.defaults().withUpstreams(List.of(up.url()))
        .withTimeouts(Duration.ofMillis(500), Duration.ofSeconds(60), Duration.ofSeconds(30), Duration.ofSeconds(30)));
    try (AccessLogCapture log = new AccessLogCapture()) {
      Wire.Response r = Wire.post(gw.port(), "/api/pull", "{\"model\":\"llama3\"}");

      assertThat(r.status()).as("%s", r).isEqualTo(200);
      assertThat(r.complete()).isTrue();
      assertThat(r.bodyText()).as("the upstream's lines, nothing appended").isEqualTo(all.toString());
      // Five lines 300 ms apart: relayed as they come, the client reads them over about 1.2 s, not in one read at the end.
      long spreadMs = (r.readNanos().getLast() - r.readNanos().getFirst()) / 1_000_000;
      assertThat(r.reads().size()).as("reads").isGreaterThanOrEqualTo(4);
      assertThat(spreadMs).as("from the first read to the last").isGreaterThan(700);
      assertThat(log.await("/api/pull", Duration.ofSeconds(5))).containsEntry("outcome", "done");
    }
  }

  /**
   * Anthropic's API says "overloaded" with 529 (overloaded_error), its most common passing failure, and both of its
   * SDKs retry it: it is retried on the next upstream like a 503, and counts against A's health as a 503 does; the
   * client got A's 529 while B stood idle.
   */
  @Test
  void anthropics529OverloadedFailsOverToTheNextUpstream() throws Exception {
    ScriptedUpstream a = upstream().on("/v1/messages", x -> x.json(529, "Site Overloaded", "request-id: req_a\r\n",
        "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"));
    ScriptedUpstream b = upstream().on("/v1/messages", x -> {
      x.sseHead("request-id: req_b\r\n");
      stream(x, ANTHROPIC_STREAM);
      x.end();
    });
    GatewayServer gw = gateway(GatewayConfig.defaults().withUpstreams(List.of(a.url(), b.url())).withBalance("round-robin"));

    Wire.Response r = Wire.post(gw.port(), "/v1/messages", MESSAGES);

    assertThat(a.requests("/v1/messages")).as("A first").isEqualTo(1);
    assertThat(b.requests("/v1/messages")).as("then B").isEqualTo(1);
    assertThat(r.status()).as("%s", r).isEqualTo(200);
    assertThat(r.headerValue("request-id")).isEqualTo("req_b");
    assertThat(r.bodyWithoutComments()).isEqualTo(ANTHROPIC_STREAM);
    assertThat(gw.metrics().count("retries")).isEqualTo(1);
  }
}
