package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A stream whose last event lacks its blank line, in a body that then ends by its own framing (the last chunk, or
 * its Content-Length): openai/openai-node#2725 reports servers that end with {@code data: ...\n} or no line end at
 * all. The official SDK drops such a last event without a word; the gateway held it as a cut event and, when it
 * was the terminator, failed a complete stream with "ended without its terminator". The body's framing proves the
 * event whole, so the gateway ends it and relays it; a cut (a close, or a half line of data) is still a cut.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayUnendedLastEventTest {
  static final String CHAT = "{\"model\":\"%s\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  static final String HELLO = "data: " + ChatChunks.content("Hello") + "\n\n";

  static ScriptedUpstream upstream;
  static GatewayServer gateway;

  @BeforeAll
  static void start() throws IOException {
    upstream = new ScriptedUpstream()
        .on("done-lf", x -> x.sseHead("").chunk(HELLO).chunk("data: [DONE]\n").end())
        .on("done-bare", x -> x.sseHead("").chunk(HELLO).chunk("data: [DONE]").end())
        .on("done-cr", x -> x.sseHead("").chunk(HELLO).chunk("data: [DONE]\r").end())
        .on("done-crlf", x -> x.sseHead("").chunk(HELLO).chunk("data: [DONE]\r\n").end())
        .on("done-length", x -> {
          byte[] b = (HELLO + "data: [DONE]\n").getBytes(StandardCharsets.UTF_8);
          x.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: " + b.length + "\r\n\r\n").write(b);
        })
        .on("done-lf-then-close", x -> {
          x.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n");
          x.write(HELLO + "data: [DONE]\n").close(); // a close-delimited body: its close proves nothing
        })
        .on("half-data-line", x -> x.sseHead("").chunk(HELLO)
            .chunk("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" wor")
            .end())
        .on("bare-json-error", x -> x.sseHead("").chunk(HELLO)
            .chunk("{\"error\":{\"message\":\"model overloaded, retry later\",\"type\":\"server_error\"}}\n").end())
        .on("ndjson-done-bare", x -> {
          x.write("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n");
          x.chunk("{\"model\":\"ndjson-done-bare\",\"message\":{\"role\":\"assistant\",\"content\":\"Hello\"},\"done\":false}\n")
              .chunk("{\"model\":\"ndjson-done-bare\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
                  + "\"done_reason\":\"stop\",\"eval_count\":1}") // no line end after the last line
              .end();
        })
        .on("ndjson-half-line", x -> {
          x.write("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n");
          x.chunk("{\"model\":\"ndjson-half-line\",\"message\":{\"role\":\"assistant\",\"content\":\"Hello\"},\"done\":false}\n")
              .chunk("{\"model\":\"ndjson-half-line\",\"message\":{\"role\":\"assistant\",\"content\":\" wor").end();
        })
        .on("done-then-bare-json-error", x -> x.sseHead("").chunk(HELLO).chunk("data: [DONE]\n\n")
            .chunk("{\"error\":{\"message\":\"late\",\"type\":\"server_error\"}}\n").end())
        .on("/v1/messages", x -> {
          String stream = GatewayDialectTest.ANTHROPIC_STREAM;
          x.sseHead("").chunk(stream.substring(0, stream.length() - 1)).end(); // message_stop without its blank line
        });
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(upstream.url())));
  }

  @AfterAll
  static void stop() throws IOException {
    gateway.close();
    upstream.close();
  }

  @ParameterizedTest
  @ValueSource(strings = {"done-lf", "done-bare", "done-cr", "done-crlf", "done-length"})
  void aDoneWithoutItsBlankLineInABodyThatEndedByItsFramingEndsTheStreamComplete(String model) throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", CHAT.formatted(model));

    assertThat(r.status()).isEqualTo(200);
    assertThat(r.bodyText()).as("%s", r).doesNotContain("event: error").startsWith(HELLO);
    Wire.Parsed events = Wire.Parsed.of(r.bodyText());
    assertThat(events.data()).as("the [DONE] reaches the client as a whole event: %s", r.bodyText())
        .endsWith("[DONE]");
  }

  @Test
  void onTheTokenApiTooTheStreamEndsWithDone() throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/v1/stream", "{\"model\":\"done-bare\",\"prompt\":\"hi\"}");

    assertThat(r.bodyText()).as("%s", r).isEqualTo("data: Hello\n\ndata: [DONE]\n\n");
  }

  @Test
  void anAnthropicMessageStopWithoutItsBlankLineEndsTheStreamComplete() throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/v1/messages", GatewayDialectTest.MESSAGES);

    assertThat(r.bodyText()).as("%s", r).doesNotContain("event: error").endsWith("data: {\"type\":\"message_stop\"}\n\n");
  }

  @Test
  void aCloseDelimitedBodyOrAHalfDataLineIsStillACut() throws Exception {
    for (String model : List.of("done-lf-then-close", "half-data-line")) {
      Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", CHAT.formatted(model));

      assertThat(r.bodyText()).as("%s: %s", model, r).startsWith(HELLO).contains("\"code\":\"upstream_cut\"")
          .doesNotContain("[DONE]").doesNotContain(" wor");
    }
  }

  /**
   * A server that writes its failure into a begun stream as bare JSON (no {@code data:}; stacklok/mecatl#878's
   * review, inference-gateway/inference-gateway#578): no SSE client dispatches it. The stream's error is that
   * object, not a cut that loses the upstream's reason.
   */
  @Test
  void aBareJsonErrorEndingTheStreamIsItsErrorNotACut() throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", CHAT.formatted("bare-json-error"));

    Wire.Parsed events = Wire.Parsed.of(r.bodyText());
    assertThat(events.types()).as("%s", r.bodyText()).endsWith("error");
    assertThat(events.data().getLast()).contains("model overloaded, retry later").doesNotContain("upstream_cut");
  }

  /**
   * NDJSON's counterpart of an event without its blank line: a last line without its line end, in a body that ended
   * by its framing. Ollama's clients read lines (ollama-python's aiter_lines, ollama-js's split on newlines with
   * the rest at the end) and take that line whole.
   */
  @Test
  void anNdjsonLastLineWithoutItsLineEndInABodyThatEndedByItsFramingIsWhole() throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/api/chat",
        "{\"model\":\"ndjson-done-bare\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

    assertThat(r.status()).isEqualTo(200);
    assertThat(r.bodyText()).as("%s", r).doesNotContain("upstream_cut").contains("\"done\":true");
  }

  @Test
  void anNdjsonHalfLineAtTheEndIsStillACut() throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/api/chat",
        "{\"model\":\"ndjson-half-line\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

    assertThat(r.bodyText()).as("%s", r).contains("without its terminator").doesNotContain(" wor");
  }

  @Test
  void aBareJsonErrorAfterTheTerminatorDoesNotUndoAWholeStream() throws Exception {
    double errorsBefore = gateway.metrics().requests.labelValues("openai-chat", "error").get();
    double doneBefore = gateway.metrics().requests.labelValues("openai-chat", "done").get();
    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", CHAT.formatted("done-then-bare-json-error"));

    // the upstream's bytes after [DONE] may pass as they came (the SDKs stop reading at it); no error of the gateway's
    assertThat(r.bodyText()).as("%s", r).doesNotContain("event: error").contains("data: [DONE]\n\n");
    // booked as done, not as an error: the books close just after the last bytes went out
    GatewayStreamingTest.await(() -> gateway.metrics().requests.labelValues("openai-chat", "done").get() > doneBefore,
        java.time.Duration.ofSeconds(5));
    assertThat(gateway.metrics().requests.labelValues("openai-chat", "error").get()).isEqualTo(errorsBefore);
  }
}
