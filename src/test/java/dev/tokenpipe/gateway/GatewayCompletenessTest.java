package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.sse.SseEvent;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The completeness contract under broken upstreams (issue 14): for a stream the client asked for, the
 * upstream's terminator is the only proof of completion; without it the client gets the in-band error,
 * never a clean end and never a {@code [DONE]} the upstream did not send. Broken upstream heads become a
 * 502 with an OpenAI-style body, and no broken connection is reused.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class GatewayCompletenessTest {
  /** Long enough for any correct answer on a busy machine, far shorter than the gateway's own timeouts. */
  static final Duration READ = Duration.ofSeconds(8);

  static final String HEAD_SSE_CHUNKED =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

  static ScriptedUpstream upstream;
  static GatewayServer gateway;

  @BeforeAll
  static void start() throws IOException {
    upstream = new ScriptedUpstream()
        .on("ok", x -> {
          x.sseHead("");
          x.event(ChatChunks.role()).event(ChatChunks.content("fine")).event(ChatChunks.DONE).end();
        })
        .on("close-delimited", x -> {
          x.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"); // no length, not chunked
          x.write("data: " + ChatChunks.role() + "\n\n").pause(20);
          x.write("data: " + ChatChunks.content("Hello") + "\n\n").pause(20);
          x.close(); // dies without [DONE]
        })
        .on("no-done", x -> {
          x.sseHead("");
          x.event(ChatChunks.role()).event(ChatChunks.content("Hello")).end(); // clean chunked end, no [DONE]
        })
        .on("broken-chunk", x -> {
          x.sseHead("");
          x.event(ChatChunks.role()).event(ChatChunks.content("Hello"));
          x.pause(20).write("zz\r\nnot a chunk\r\n");
          x.pause(20_000); // keeps the connection open and answers nothing more on it
        })
        .on("after-done", x -> {
          x.sseHead("");
          x.event(ChatChunks.role()).event(ChatChunks.content("Hello")).event(ChatChunks.DONE)
              .event(ChatChunks.content("AFTERDONE")).end(); // a sloppy server: more after its own end
        })
        .on("cut-answer", x -> x.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            .chunk("{\"id\":\"chatcmpl-1\",\"choices\":[{\"message\":{\"content\":\"par").pause(100).reset())
        .on("not-http", x -> x.write("SSH-2.0-OpenSSH_9.6\r\n\r\n").pause(10_000))
        .on("cut-head", x -> x.write("HTTP/1.1 200 OK\r\nContent-Type: text/ev").close())
        .on("huge-head", x -> x.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Big: "
            + "a".repeat(256 * 1024) + "\r\nTransfer-Encoding: chunked\r\n\r\n").pause(10_000))
        .on("nul-head", x -> x.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Bad: a\0b\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n").event(ChatChunks.content("x")).event(ChatChunks.DONE).end())
        .on("bare-cr-head", x -> x.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Bad: a\rb\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n").event(ChatChunks.content("x")).event(ChatChunks.DONE).end())
        .on("stalled-error-body", x -> x.write("HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
            + "Transfer-Encoding: chunked\r\nX-Request-Id: req-stalled\r\n\r\n").chunk("{\"error\":{\"message\":\"GPU on fire")
            .pause(20_000))
        .on("/api/chat", x -> x.write("HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n").chunk("{\"error\":\"GPU on fire").pause(20_000))
        .on("switching-protocols", x -> x.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\n\r\n\u0081\u0005hello").pause(10_000))
        .on("early-hints", x -> {
          x.write("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n").pause(50);
          x.write(HEAD_SSE_CHUNKED);
          x.event(ChatChunks.role()).event(ChatChunks.content("after hints")).event(ChatChunks.DONE).end();
        });
    // One event loop, so one pool of idle upstream connections (pools are per loop, last in first out):
    // a broken connection wrongly kept would be the very next one handed out.
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withThreads(1)
        .withUpstreams(List.of(upstream.url())));
  }

  @AfterAll
  static void stop() throws IOException {
    gateway.close();
    upstream.close();
  }

  static String chat(String model, boolean stream) {
    return "{\"model\":\"" + model + "\",\"stream\":" + stream + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  }

  static Wire.Response post(String path, String json) throws IOException {
    return Wire.send(gateway.port(), Wire.post("HTTP/1.1", path, json), READ);
  }

  /** The stream ended by the gateway's in-band error, not cleanly, and without a [DONE]. */
  static void assertEndsWithTheInBandError(Wire.Response r) throws IOException {
    assertThat(r.timedOut()).as("no hang: %s", r).isFalse();
    assertThat(r.status()).isEqualTo(200);
    List<SseEvent> events = r.events().events();
    assertThat(events).as("events of %s", r).isNotEmpty();
    assertThat(events).as("a [DONE] the upstream never sent").noneMatch(e -> e.data().equals("[DONE]"));
    SseEvent last = events.getLast();
    assertThat(last.type()).as("last event of %s", r).isEqualTo("error");
    JsonNode error = Json.MAPPER.readTree(last.data()).path("error");
    assertThat(error.path("message").asText()).isNotBlank();
  }

  @Test
  @Tag("issue9")
  @Tag("issue14")
  void aCloseDelimitedUpstreamBodyThatDiesWithoutDoneEndsWithTheInBandError() throws Exception {
    Wire.Response r = post("/v1/chat/completions", chat("close-delimited", true));

    assertEndsWithTheInBandError(r);
    assertThat(r.events().data()).first().asString().contains("assistant");
  }

  @Test
  @Tag("issue9")
  @Tag("issue14")
  void aChunkedUpstreamBodyThatEndsCleanlyWithoutDoneEndsWithTheInBandError() throws Exception {
    assertEndsWithTheInBandError(post("/v1/chat/completions", chat("no-done", true)));
  }

  @ParameterizedTest
  @ValueSource(strings = {"close-delimited", "no-done"})
  @Tag("issue9")
  @Tag("issue14")
  void theTranslatedStreamApiOverAnUpstreamWithoutDoneEndsWithTheInBandError(String model) throws Exception {
    Wire.Response r = post("/v1/stream", "{\"prompt\":\"hi\",\"model\":\"" + model + "\"}");

    assertEndsWithTheInBandError(r);
    assertThat(r.events().data()).contains("Hello");
  }

  /**
   * The token API is the gateway's own: nothing follows its {@code [DONE]}, whatever the upstream sent after
   * its own (a token after it reached the client before).
   */
  @Test
  void theTranslatedStreamApiSendsNothingAfterItsDone() throws Exception {
    Wire.Response r = post("/v1/stream", "{\"prompt\":\"hi\",\"model\":\"after-done\"}");

    assertThat(r.events().data()).as(r.toString()).containsExactly("Hello", "[DONE]");
  }

  @Test
  @Tag("issue9")
  @Tag("issue14")
  void brokenChunkFramingMidStreamEndsWithTheInBandErrorAndTheConnectionIsNotReused() throws Exception {
    int okBefore = upstream.requests("ok");

    assertEndsWithTheInBandError(post("/v1/chat/completions", chat("broken-chunk", true)));

    Wire.Response next = post("/v1/chat/completions", chat("ok", true));
    assertThat(next.timedOut()).as("the next request hung (broken connection reused?): %s", next).isFalse();
    assertThat(next.events().data()).contains("[DONE]");
    assertThat(upstream.requests("ok")).isEqualTo(okBefore + 1);
  }

  @ParameterizedTest(name = "{0}, stream={1}")
  @CsvSource({"not-http, false", "not-http, true", "cut-head, false", "cut-head, true", "huge-head, false",
      "huge-head, true", "nul-head, false", "nul-head, true", "bare-cr-head, false", "bare-cr-head, true"})
  @Tag("issue9")
  @Tag("issue14")
  void aBrokenUpstreamHeadIsA502WithAnOpenAiError(String model, boolean stream) throws Exception {
    Wire.Response r = post("/v1/chat/completions", chat(model, stream));

    assertThat(r.timedOut()).as("no hang: %s", r).isFalse();
    assertThat(r.status()).as("%s", r).isEqualTo(502);
    assertThat(r.headerValue("content-type")).startsWith("application/json");
    assertThat(r.json().path("error").path("message").asText()).as("%s", r).isNotBlank();
  }

  /**
   * An HTTP/1.0 client gets a whole answer without a length as a close-delimited body, whose end is the close: a
   * plain close after an upstream cut read as the answer's end, the cut invisible (the gateway logged upstream_cut).
   * The connection is reset instead, which every HTTP client reports as an error.
   */
  @Test
  void aCutAnswerToAnHttp10ClientEndsInAResetNotInTheCloseThatWouldEndItsBody() throws Exception {
    try (java.net.Socket s = new java.net.Socket("127.0.0.1", gateway.port())) {
      s.setSoTimeout(8000);
      s.getOutputStream().write(Wire.post("HTTP/1.0", "/v1/chat/completions", chat("cut-answer", false))
          .getBytes(java.nio.charset.StandardCharsets.UTF_8));
      java.io.ByteArrayOutputStream got = new java.io.ByteArrayOutputStream();
      String end;
      try {
        byte[] buf = new byte[4096];
        for (int n; (n = s.getInputStream().read(buf)) >= 0; ) {
          got.write(buf, 0, n);
        }
        end = "a clean end of stream";
      } catch (java.net.SocketException e) {
        end = "reset";
      }
      assertThat(got.toString(java.nio.charset.StandardCharsets.ISO_8859_1)).startsWith("HTTP/1.1 200")
          .doesNotContainIgnoringCase("content-length").doesNotContainIgnoringCase("transfer-encoding");
      assertThat(end).as("what the client's read ended with, after %s", got).isEqualTo("reset");
    }
  }

  /** An upstream head over the bound is named as such, not as "not valid HTTP": the bound is what to change. */
  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void anOversizedUpstreamHeadSaysSoAndNamesTheBound(boolean stream) throws Exception {
    Wire.Response r = post("/v1/chat/completions", chat("huge-head", stream));

    assertThat(r.status()).as("%s", r).isEqualTo(502);
    assertThat(r.json().path("error").path("code").asText()).isEqualTo("upstream_protocol_error");
    assertThat(r.json().path("error").path("message").asText()).as("%s", r).contains("larger than 8 KiB");
  }

  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  @Tag("issue9")
  @Tag("issue14")
  void an103EarlyHintsBeforeTheStreamIsSkippedOrRelayedAndTheStreamArrives(boolean stream) throws Exception {
    Wire.Response r = post("/v1/chat/completions", chat("early-hints", stream));

    assertThat(r.timedOut()).as("no hang: %s", r).isFalse();
    if (!stream) {
      // The final answer is an event stream nobody asked for: the gateway's 502 for that, after the skipped 103.
      assertThat(r.status()).as("the final status (Wire skips 1xx): %s", r).isEqualTo(502);
      assertThat(r.json().path("error").path("code").asText()).as("%s", r).isEqualTo("upstream_invalid_sse");
      return;
    }
    assertThat(r.status()).as("the final status (Wire skips 1xx): %s", r).isEqualTo(200);
    assertThat(r.complete()).isTrue();
    assertThat(r.events().data()).as("%s", r).contains(ChatChunks.content("after hints"), "[DONE]");
  }

  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void an101TheGatewayNeverAskedForIsA502NotRelayed(boolean stream) throws Exception {
    // The gateway never forwards Upgrade (hop-by-hop), so a 101 is a broken upstream. Relayed, it told the
    // client its connection had switched protocols, with a JSON body behind it in HTTP/1.1 framing.
    Wire.Response r = post("/v1/chat/completions", chat("switching-protocols", stream));

    assertThat(r.timedOut()).as("no hang: %s", r).isFalse();
    assertThat(new String(r.reads().getFirst(), java.nio.charset.StandardCharsets.ISO_8859_1))
        .as("the first bytes the client got").startsWith("HTTP/1.1 502 ");
    assertThat(r.status()).isEqualTo(502);
    assertThat(r.json().path("error").path("code").asText()).as("%s", r).isEqualTo("upstream_protocol_error");
    assertThat(r.json().path("error").path("message").asText()).contains("101");
  }

  @Test
  void anUpstreamErrorWhoseBodyStallsReachesTheClientAsThatErrorNotAsA200() throws Exception {
    // The upstream's 500 head came at once, its body then stalled. The head-wait ran out while the error body was
    // collected, and the gateway sent its own 200 head and, at the idle timeout, "The upstream went silent": the
    // client never learnt the upstream had answered 500. On Ollama's path (no head-wait) it got a 504 instead.
    try (GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withThreads(1)
        .withUpstreams(List.of(upstream.url())).withHeartbeat(Duration.ofSeconds(15), Duration.ofMillis(300))
        .withTimeouts(Duration.ofSeconds(120), Duration.ofMillis(1500), Duration.ofSeconds(30), Duration.ofSeconds(30)))) {
      Wire.Response r = Wire.send(g.port(), Wire.post("HTTP/1.1", "/v1/chat/completions",
          chat("stalled-error-body", true)), READ);
      assertThat(r.timedOut()).as("no hang: %s", r).isFalse();
      assertThat(r.status()).as("the upstream's status: %s", r).isEqualTo(500);
      assertThat(r.headerValue("x-request-id")).isEqualTo("req-stalled");
      assertThat(r.json().path("error").path("message").asText()).contains("GPU on fire");

      Wire.Response ollama = Wire.send(g.port(), Wire.post("HTTP/1.1", "/api/chat",
          "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"), READ);
      assertThat(ollama.timedOut()).as("no hang: %s", ollama).isFalse();
      assertThat(ollama.status()).as("the upstream's status: %s", ollama).isEqualTo(500);
      assertThat(ollama.json().path("error").asText()).contains("GPU on fire");
    }
  }
}
