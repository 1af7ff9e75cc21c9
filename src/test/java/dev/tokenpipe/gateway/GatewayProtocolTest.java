package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Framing and protocol through {@code serve} with its defaults, on raw sockets: HTTP/1.0 clients, NDJSON,
 * Ollama's native API, upstream error statuses and headers, and byte order marks.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayProtocolTest {
  static final String EVENTS = "data: " + ChatChunks.role() + "\n\n"
      + "data: " + ChatChunks.content("Hi") + "\n\n"
      + "data: " + ChatChunks.finish("stop") + "\n\n"
      + "data: [DONE]\n\n";

  static final String NDJSON = "{\"model\":\"llama3\",\"message\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"done\":false}\n"
      + "{\"model\":\"llama3\",\"message\":{\"role\":\"assistant\",\"content\":\"lo\"},\"done\":false}\n"
      + "{\"model\":\"llama3\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"eval_count\":2}\n";

  static final byte[] BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
  static final String BOM_EVENTS = "data: first\n\ndata: second\n\ndata: [DONE]\n\n";

  static ScriptedUpstream upstream;
  static GatewayServer gateway;
  static AccessLogCapture accessLog;

  @BeforeAll
  static void start() throws IOException {
    upstream = new ScriptedUpstream()
        .on("events", x -> {
          x.sseHead("");
          for (String e : EVENTS.split("(?<=\n\n)")) {
            x.pause(20).chunk(e);
          }
          x.end();
        })
        .on("ndjson", GatewayProtocolTest::ndjson)
        .on("/api/chat", GatewayProtocolTest::ndjson)
        .on("plain-400", x -> x.write("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 27\r\n\r\n"
            + "prompt is too long (max 4k)"))
        .on("ollama-404", x -> x.json(404, "Not Found", "", "{\"error\":\"model 'llama9' not found, try pulling it first\"}"))
        .on("unauthorized", x -> x.json(401, "Unauthorized", "x-request-id: req-401\r\n",
            "{\"error\":{\"message\":\"Incorrect API key provided\",\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}"))
        .on("headers", x -> {
          x.sseHead("x-request-id: req-7\r\nopenai-processing-ms: 12\r\nx-ratelimit-remaining-tokens: 9000\r\n"
              + "Access-Control-Allow-Origin: https://app.example\r\n"
              + "Connection: X-Up-Hop\r\nX-Up-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\n");
          x.event(ChatChunks.content("x")).event(ChatChunks.DONE).end();
        })
        .on("two-boms", x -> {
          x.sseHead("");
          ByteArrayOutputStream b = new ByteArrayOutputStream();
          b.writeBytes(BOM);
          b.writeBytes(BOM);
          b.writeBytes(BOM_EVENTS.getBytes(StandardCharsets.UTF_8));
          x.chunk(b.toByteArray()).end();
        })
        .on("split-bom", x -> {
          x.sseHead("");
          x.chunk(new byte[] {BOM[0], BOM[1]});
          x.pause(150); // its own upstream read
          ByteArrayOutputStream b = new ByteArrayOutputStream();
          b.write(BOM[2]);
          b.writeBytes(BOM_EVENTS.getBytes(StandardCharsets.UTF_8));
          x.chunk(b.toByteArray()).end();
        });
    accessLog = new AccessLogCapture();
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(upstream.url())));
  }

  @AfterAll
  static void stop() throws IOException {
    gateway.close();
    upstream.close();
    accessLog.close();
  }

  static void ndjson(ScriptedUpstream.Exchange x) throws IOException, InterruptedException {
    x.write("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (String line : NDJSON.split("(?<=\n)")) {
      x.pause(100).chunk(line);
    }
    x.end();
  }

  static String chat(String model, boolean stream) {
    return "{\"model\":\"" + model + "\",\"stream\":" + stream + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  }

  @Test
  @Tag("issue9")
  void anHttp10ClientGetsACloseDelimitedBodyOfTheRawEvents() throws Exception {
    Wire.Response r = Wire.send(gateway.port(),
        Wire.post("HTTP/1.0", "/v1/chat/completions", chat("events", true)), Duration.ofSeconds(15));

    assertThat(r.timedOut()).as("%s", r).isFalse();
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.head()).as("RFC 9112 §6.1: no chunked to an HTTP/1.0 client").doesNotContain("transfer-encoding");
    assertThat(r.head()).doesNotContain("content-length");
    assertThat(r.closed()).as("the close ends the body").isTrue();
    assertThat(Wire.withoutComments(new String(r.rawBody(), StandardCharsets.UTF_8))).as("raw body").isEqualTo(EVENTS);
  }

  @Test
  @Tag("issue9")
  void ndjsonRequestedWithStreamTrueKeepsItsContentTypeAndNothingIsInserted() throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", chat("ndjson", true));

    assertThat(r.status()).isEqualTo(200);
    assertThat(r.headerValue("content-type")).as("%s", r).startsWith("application/x-ndjson");
    assertThat(r.complete()).isTrue();
    assertThat(r.bodyText()).as("no ': ok' or any other line").isEqualTo(NDJSON);
  }

  @Test
  @Tag("issue9")
  void ollamasNativeApiChatIsProxiedAndRelayedLineByLine() throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/api/chat",
        "{\"model\":\"llama3\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}");

    assertThat(r.status()).as("%s", r).isEqualTo(200);
    assertThat(upstream.heads).anySatisfy(h -> assertThat(h).startsWith("POST /api/chat HTTP/1.1"));
    assertThat(r.headerValue("content-type")).startsWith("application/x-ndjson");
    assertThat(r.bodyText()).isEqualTo(NDJSON);
    // The upstream writes a line every 100 ms: the lines must come as they were written, not in one burst
    // at the end (statistical about time: a busy machine may merge two reads, never all three).
    List<Long> lineReads = new java.util.ArrayList<>();
    for (int i = 0; i < r.reads().size(); i++) {
      if (new String(r.reads().get(i), StandardCharsets.UTF_8).contains("\"done\":")) {
        lineReads.add(r.readNanos().get(i));
      }
    }
    assertThat(lineReads).as("reads holding a line").hasSizeGreaterThanOrEqualTo(2);
    assertThat((lineReads.getLast() - lineReads.getFirst()) / 1_000_000).as("ms from first to last line read")
        .isGreaterThanOrEqualTo(100);
  }

  @ParameterizedTest(name = "{0}, stream={1}")
  @CsvSource({"plain-400, true, 400, prompt is too long", "plain-400, false, 400, prompt is too long",
      "ollama-404, true, 404, model 'llama9' not found", "ollama-404, false, 404, model 'llama9' not found"})
  @Tag("issue9")
  void anUpstream4xxWithANonOpenAiBodyIsTheSameStatusAndAClientErrorType(String model, boolean stream, int status,
      String message) throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", chat(model, stream));

    assertThat(r.status()).as("%s", r).isEqualTo(status);
    assertThat(r.headerValue("content-type")).startsWith("application/json");
    JsonNode error = r.json().path("error");
    assertThat(error.isObject()).as("an OpenAI-style error object: %s", r.bodyText()).isTrue();
    assertThat(error.path("type").asText()).isEqualTo("invalid_request_error");
    assertThat(error.path("message").asText()).contains(message);
  }

  @Test
  @Tag("issue9")
  void anUpstream401IsA401ForTheClientTheAccessLogAndTheMetrics() throws Exception {
    long before = gateway.metrics().errors("upstream_status");

    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions?case=401", chat("unauthorized", true));

    assertThat(r.status()).as("%s", r).isEqualTo(401);
    assertThat(r.json().at("/error/code").asText()).isEqualTo("invalid_api_key");
    assertThat(r.headerValue("x-request-id")).isEqualTo("req-401");
    Map<String, String> line = accessLog.await("/v1/chat/completions?case=401", Duration.ofSeconds(5));
    assertThat(line.get("status")).as("access log %s", line).isEqualTo("401");
    assertThat(gateway.metrics().errors("upstream_status")).isEqualTo(before + 1);
  }

  @Test
  @Tag("issue9")
  void anUpstreamsEndToEndHeadersPassThroughOnA200StreamButItsHopByHopOnesDoNot() throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", chat("headers", true));

    assertThat(r.status()).isEqualTo(200);
    assertThat(r.head()).as("end-to-end headers")
        .contains("\r\nx-request-id: req-7").contains("\r\nopenai-processing-ms: 12")
        .contains("\r\nx-ratelimit-remaining-tokens: 9000")
        .contains("\r\naccess-control-allow-origin: https://app.example");
    assertThat(r.head()).as("hop-by-hop headers")
        .doesNotContain("x-up-hop").doesNotContain("keep-alive: timeout").doesNotContain("proxy-authenticate");
    assertThat(r.headerValue("content-type")).startsWith("text/event-stream");
    assertThat(r.headerValue("x-accel-buffering")).isEqualTo("no");
  }

  @Test
  void anUpstreamStreamStartingWithTwoBomsDispatchesWhatTheDirectStreamDoes() throws Exception {
    byte[] direct = concat(BOM, BOM, BOM_EVENTS.getBytes(StandardCharsets.UTF_8));

    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", chat("two-boms", true));

    assertThat(r.status()).isEqualTo(200);
    // WHATWG: one leading BOM is the stream's; the second starts the first line, so "\uFEFFdata" is
    // an unknown field and "first" is never dispatched.
    assertThat(Wire.Parsed.of(direct).data()).containsExactly("second", "[DONE]");
    assertThat(r.events().events()).isEqualTo(Wire.Parsed.of(direct).events());
  }

  @Test
  @Tag("issue9")
  void aBomSplitAcrossTwoUpstreamReadsDispatchesWhatTheDirectStreamDoes() throws Exception {
    byte[] direct = concat(BOM, BOM_EVENTS.getBytes(StandardCharsets.UTF_8));

    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", chat("split-bom", true));

    assertThat(r.status()).isEqualTo(200);
    assertThat(Wire.Parsed.of(direct).data()).containsExactly("first", "second", "[DONE]");
    assertThat(r.events().events()).as("%s", r).isEqualTo(Wire.Parsed.of(direct).events());
  }

  static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      b.writeBytes(p);
    }
    return b.toByteArray();
  }
}
