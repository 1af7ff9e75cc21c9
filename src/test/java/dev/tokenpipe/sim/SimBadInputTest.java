package dev.tokenpipe.sim;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The bad-input table: every row gets the right status and an OpenAI-style error body, never a hang. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class SimBadInputTest {
  static SimServer sim;
  static final HttpClient HTTP = HttpClient.newHttpClient();

  @BeforeAll
  static void start() {
    sim = SimServer.start(SimConfig.defaults().withMaxBodyBytes(4096), "127.0.0.1", 0);
  }

  @AfterAll
  static void stop() {
    sim.close();
  }

  @ParameterizedTest(name = "{0} {1} {2} -> {3} param={4}")
  @CsvSource(delimiter = '|', nullValues = "NULL", textBlock = """
      POST | /v1/chat/completions | {bad json                                                     | 400 | NULL
      POST | /v1/chat/completions | [1,2]                                                         | 400 | NULL
      POST | /v1/chat/completions | {"model":"tokenpipe-sim"}                                     | 400 | messages
      POST | /v1/chat/completions | {"model":"tokenpipe-sim","messages":"hi"}                     | 400 | messages
      POST | /v1/chat/completions | {"model":"tokenpipe-sim","messages":[]}                       | 400 | messages
      POST | /v1/chat/completions | {"model":"tokenpipe-sim","messages":[{"content":"x"}]}        | 400 | messages[0].role
      POST | /v1/chat/completions | {"model":"tokenpipe-sim","messages":[{"role":"user","content":5}]} | 400 | messages[0].content
      POST | /v1/chat/completions | {"messages":[{"role":"user","content":"x"}]}                  | 400 | model
      POST | /v1/chat/completions | {"model":7,"messages":[{"role":"user","content":"x"}]}        | 400 | model
      POST | /v1/chat/completions | {"model":"gpt-nope","messages":[{"role":"user","content":"x"}]} | 404 | NULL
      POST | /v1/chat/completions | {"model":"tokenpipe-sim","stream":"yes","messages":[{"role":"user","content":"x"}]} | 400 | stream
      POST | /v1/chat/completions | {"model":"tokenpipe-sim","max_tokens":"10","messages":[{"role":"user","content":"x"}]} | 400 | max_tokens
      POST | /v1/chat/completions | {"model":"tokenpipe-sim","max_tokens":0,"messages":[{"role":"user","content":"x"}]} | 400 | max_tokens
      POST | /v1/chat/completions | {"model":"tokenpipe-sim","n":2,"messages":[{"role":"user","content":"x"}]} | 400 | n
      POST | /v1/chat/completions | {"model":"tokenpipe-sim","stream_options":true,"messages":[{"role":"user","content":"x"}]} | 400 | stream_options
      POST | /v1/chat/completions | {"model":"tokenpipe-sim","tokenpipe_sim":"ttft=fast","messages":[{"role":"user","content":"x"}]} | 400 | tokenpipe_sim
      POST | /v1/chat/completions | {"model":"tokenpipe-sim","tokenpipe_sim":"burst=0","messages":[{"role":"user","content":"x"}]} | 400 | tokenpipe_sim
      POST | /v1/completions      | {"model":"tokenpipe-sim"}                                     | 400 | prompt
      POST | /v1/completions      | {"model":"tokenpipe-sim","prompt":[1,2]}                      | 400 | prompt
      POST | /v1/stream           | {}                                                            | 400 | prompt
      POST | /v1/stream           | {"prompt":42}                                                 | 400 | prompt
      GET  | /v1/chat/completions | NULL                                                          | 405 | NULL
      DELETE | /v1/models         | NULL                                                          | 405 | NULL
      POST | /v1/embeddings       | {}                                                            | 404 | NULL
      GET  | /nope                | NULL                                                          | 404 | NULL
      """)
  void badRequestsGetTheRightStatusAndAnOpenAiError(String method, String path, String body, int status, String param)
      throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sim.port() + path));
    b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    HttpResponse<String> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(status);
    assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
    JsonNode error = Json.MAPPER.readTree(r.body()).get("error");
    assertThat(error).isNotNull();
    assertThat(error.get("message").asText()).isNotBlank().doesNotContain("Exception").doesNotContain("\tat ");
    assertThat(error.get("type").asText()).isEqualTo("invalid_request_error");
    assertThat(error.has("param")).isTrue();
    assertThat(error.has("code")).isTrue();
    if (param != null) {
      assertThat(error.get("param").asText()).isEqualTo(param);
    }
  }

  /**
   * docs/sim.md: a bad override value is "a 400 naming the key", in the header and in the body field alike.
   * Before, a value that failed as a duration or a latency pair was not named: {@code ttft=banana} got
   * "Invalid simulation override: not a duration: 'banana'".
   */
  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', textBlock = """
      ttft=banana       | ttft
      ttft=2s/1s        | ttft
      ttft=-5ms         | ttft
      itl=1x            | itl
      itl=20ms/banana   | itl
      stall=soon        | stall
      group_commit=x    | group_commit
      tokens=many       | tokens
      error_rate=often  | error_rate
      burst=0           | burst
      """)
  void aBadOverrideValueIsA400NamingItsKey(String override, String key) throws Exception {
    String chat = "{\"model\":\"tokenpipe-sim\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    HttpRequest byHeader = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sim.port() + "/v1/chat/completions"))
        .header(StreamProfile.HEADER, override).POST(HttpRequest.BodyPublishers.ofString(chat)).build();
    HttpRequest byBody = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sim.port() + "/v1/chat/completions"))
        .POST(HttpRequest.BodyPublishers.ofString(chat.replace("{\"model\"",
            "{\"" + StreamProfile.BODY_FIELD + "\":\"" + override + "\",\"model\""))).build();
    for (HttpRequest req : new HttpRequest[] {byHeader, byBody}) {
      HttpResponse<String> r = HTTP.send(req, HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
      String message = Json.MAPPER.readTree(r.body()).path("error").path("message").asText();
      assertThat(message).matches("Invalid simulation override: " + key + "[: ].*").doesNotContain(key + ": " + key);
    }
  }

  /**
   * RFC 9112 §3.2.2: a server must accept the absolute-form (what a client talking to a proxy sends). The sim
   * answered {@code GET http://host/healthz} with a 404 that serve, in front of it, did not give.
   */
  @Test
  void anAbsoluteFormTargetIsServedAsItsPath() throws IOException {
    String reply = untilClose("GET http://127.0.0.1:" + sim.port() + "/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assertThat(reply).startsWith("HTTP/1.1 200").contains("\"status\":\"ok\"");

    String body = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        + "\"tokenpipe_sim\":\"tokens=2\"}";
    String chat = untilClose("POST http://127.0.0.1:" + sim.port() + "/v1/chat/completions?x=1 HTTP/1.1\r\nHost: x\r\n"
        + "Content-Type: application/json\r\nConnection: close\r\nContent-Length: " + body.length() + "\r\n\r\n" + body);
    assertThat(chat).as(chat).startsWith("HTTP/1.1 200").contains("data: [DONE]");
  }

  @Test
  void aWrongMethodGets405WithTheMethodsTheEndpointTakes() throws Exception {
    for (String path : new String[] {"/v1/messages", "/v1/responses", "/v1/chat/completions"}) {
      HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sim.port() + path)).GET()
          .build(), HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).as(path).isEqualTo(405);
      assertThat(r.headers().firstValue("allow")).as(path).hasValue("POST");
    }
    HttpResponse<String> models = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sim.port() + "/v1/models"))
        .DELETE().build(), HttpResponse.BodyHandlers.ofString());
    assertThat(models.statusCode()).isEqualTo(405);
    assertThat(models.headers().firstValue("allow")).hasValue("GET, HEAD");
  }

  @Test
  void bodyOverTheLimitGets413AndTheConnectionCloses() throws Exception {
    String big = "{\"model\":\"tokenpipe-sim\",\"prompt\":\"" + "x".repeat(10_000) + "\"}";
    HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sim.port() + "/v1/completions"))
        .POST(HttpRequest.BodyPublishers.ofString(big)).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(413);
    assertThat(Json.MAPPER.readTree(r.body()).at("/error/code").asText()).isEqualTo("request_too_large");
  }

  /**
   * curl sends {@code Expect: 100-continue} for a large body and waits for the answer before sending it. A
   * declared length over the limit gets the same JSON 413 as a body sent at once (Netty's aggregator answers
   * it with its own empty 413), and the connection closes: the body was never read.
   */
  @Test
  void anOversizedBodyAnnouncedWithExpectContinueGetsTheJson413() throws IOException {
    String reply = untilClose("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + "Content-Length: 10000\r\nExpect: 100-continue\r\n\r\n");
    assertThat(reply).startsWith("HTTP/1.1 413").doesNotContain("100 Continue");
    assertThat(reply.toLowerCase(java.util.Locale.ROOT)).contains("content-type: application/json");
    String body = reply.substring(reply.indexOf("\r\n\r\n") + 4);
    assertThat(Json.MAPPER.readTree(body).at("/error/code").asText()).as(reply).isEqualTo("request_too_large");
  }

  /**
   * An expectation other than 100-continue gets a JSON 417 (as from serve), not Netty's empty one that left the
   * connection open and swallowed the body.
   */
  @Test
  void anUnsupportedExpectationGetsAJson417AndTheConnectionCloses() throws IOException {
    String reply = untilClose("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + "Content-Length: 2\r\nExpect: something-else\r\n\r\n{}");
    assertThat(reply).startsWith("HTTP/1.1 417");
    String body = reply.substring(reply.indexOf("\r\n\r\n") + 4);
    assertThat(Json.MAPPER.readTree(body).at("/error/code").asText()).as(reply).isEqualTo("expectation_failed");
  }

  /** A completion answered at once, the body the Expect: 100-continue cases send after their 100. */
  private static final byte[] SHORT_COMPLETION =
      "{\"model\":\"tokenpipe-sim\",\"prompt\":\"hi\",\"max_tokens\":2,\"tokenpipe_sim\":\"ttft=0 itl=0\"}"
          .getBytes(StandardCharsets.UTF_8);

  /** Within the limit, Expect: 100-continue is answered with 100 Continue and then the request's own answer. */
  @Test
  void aBodyWithinTheLimitAnnouncedWithExpectContinueIsServed() throws IOException {
    byte[] body = SHORT_COMPLETION;
    try (Socket s = new Socket("127.0.0.1", sim.port())) {
      s.setSoTimeout(5000);
      OutputStream out = s.getOutputStream();
      out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
          + "Content-Length: " + body.length + "\r\nExpect: 100-continue\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      out.flush();
      byte[] interim = new byte["HTTP/1.1 100 Continue\r\n\r\n".length()];
      new java.io.DataInputStream(s.getInputStream()).readFully(interim);
      assertThat(new String(interim, StandardCharsets.US_ASCII)).isEqualTo("HTTP/1.1 100 Continue\r\n\r\n");
      out.write(body);
      out.flush();
      String reply = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(reply).startsWith("HTTP/1.1 200").contains("\"text_completion\"");
    }
  }

  /**
   * A request with Expect: 100-continue pipelined behind a running stream gets its 100 Continue in its turn,
   * after the stream's last chunk. The aggregator wrote it as soon as the head was parsed, in the middle of the
   * stream's chunked body; the HTTP encoder refused it there and the connection closed, the stream cut.
   */
  @Test
  void aPipelinedExpectContinueIsAnsweredAfterTheStreamBeforeIt() throws IOException {
    String stream = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        + "\"tokenpipe_sim\":\"ttft=100ms itl=20ms tokens=20\"}";
    byte[] body = SHORT_COMPLETION;
    try (Socket s = new Socket("127.0.0.1", sim.port())) {
      s.setSoTimeout(5000);
      OutputStream out = s.getOutputStream();
      out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          + "Content-Length: " + stream.length() + "\r\n\r\n" + stream
          + "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
          + "Content-Length: " + body.length + "\r\nExpect: 100-continue\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      out.flush();
      String interim = "HTTP/1.1 100 Continue\r\n\r\n";
      java.io.ByteArrayOutputStream seen = new java.io.ByteArrayOutputStream();
      java.io.InputStream in = s.getInputStream();
      while (!seen.toString(StandardCharsets.US_ASCII).contains(interim)) {
        int b = in.read();
        assertThat(b).as("the connection closed before a 100 Continue: %s", seen).isNotNegative();
        seen.write(b);
      }
      String before = seen.toString(StandardCharsets.US_ASCII);
      String first = before.substring(0, before.indexOf("HTTP/1.1 100"));
      assertThat(first).as(before).startsWith("HTTP/1.1 200").contains("data: [DONE]");
      assertThat(wholeChunkedResponse(first)).as("the stream ends with its last chunk before the 100: %s", before).isTrue();
      out.write(body);
      out.flush();
      String reply = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      assertThat(reply).startsWith("HTTP/1.1 200").contains("\"text_completion\"");
    }
  }

  /** Whether {@code response} is one response with a chunked body, from its head to its last chunk, and no more. */
  private static boolean wholeChunkedResponse(String response) {
    int at = response.indexOf("\r\n\r\n");
    if (at < 0 || !response.substring(0, at).toLowerCase(java.util.Locale.ROOT).contains("transfer-encoding: chunked")) {
      return false;
    }
    at += 4;
    while (true) {
      int eol = response.indexOf("\r\n", at);
      if (eol < 0) {
        return false;
      }
      int size;
      try {
        size = Integer.parseInt(response.substring(at, eol).trim(), 16);
      } catch (NumberFormatException e) {
        return false; // a line that is no chunk size: something was written into the body
      }
      at = eol + 2;
      if (size == 0) {
        return response.substring(at).equals("\r\n"); // no trailers
      }
      if (!response.startsWith("\r\n", at + size)) {
        return false;
      }
      at += size + 2;
    }
  }

  @Test
  void malformedHttpGets400NotAHang() throws IOException {
    String reply = untilClose("POST /v1/stream HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n");
    assertThat(reply).startsWith("HTTP/1.1 400").contains("\"error\"");
  }

  /**
   * The 417 does not wait for a body: a client that holds its body until it hears back (as Expect asks) got
   * nothing until --request-timeout and then a 408, where serve answered 417 at once. Both now share one
   * aggregator (http.InTurnAggregator), and with it the 414 and 431 for a request line or headers too long.
   */
  @Test
  void anUnsupportedExpectationIsAnsweredWithoutWaitingForTheBodyAndLongHeadsGetTheirOwnStatus() throws IOException {
    long t0 = System.nanoTime();
    String reply = untilClose("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + "Content-Length: 2\r\nExpect: something-else\r\n\r\n");
    assertThat(reply).startsWith("HTTP/1.1 417");
    assertThat((System.nanoTime() - t0) / 1_000_000).as("answered without the body").isLessThan(3_000);

    assertThat(untilClose("GET /" + "a".repeat(9000) + " HTTP/1.1\r\nHost: x\r\n\r\n")).startsWith("HTTP/1.1 414")
        .contains("uri_too_long");
    assertThat(untilClose("GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + "b".repeat(20_000) + "\r\n\r\n"))
        .startsWith("HTTP/1.1 431").contains("headers_too_large");
  }

  /** Sends {@code raw} on a new connection and reads the reply up to the sim's close (5 s at most per read). */
  private static String untilClose(String raw) throws IOException {
    try (Socket s = new Socket("127.0.0.1", sim.port())) {
      s.setSoTimeout(5000);
      OutputStream out = s.getOutputStream();
      out.write(raw.getBytes(StandardCharsets.US_ASCII));
      out.flush();
      return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
