package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.proc.ChildProcesses;
import dev.tokenpipe.testing.RawClient;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The client connection's lifecycle over raw sockets: what closes it, what keeps it, pipelining, drain,
 * {@code Expect}, HTTP/1.0 framing. Each test failed on the code before its fix.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayConnectionTest {
  static final String STREAM_CHAT = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  static GatewayServer gateway;

  @BeforeAll
  static void start() {
    // The default request timeout (30 s): a connection left with a dead decoder would hang past every read timeout here.
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withLimits(4096, 100));
  }

  @AfterAll
  static void stop() {
    gateway.close();
  }

  /** Sends raw bytes and reads until the server closes; fails when it does not close within {@code timeoutMs}. */
  static String sendUntilClose(int port, String raw, int timeoutMs) throws IOException {
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(timeoutMs);
      s.getOutputStream().write(raw.getBytes(StandardCharsets.UTF_8));
      s.getOutputStream().flush();
      return readUntilClose(s);
    }
  }

  static String readUntilClose(Socket s) throws IOException {
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    InputStream in = s.getInputStream();
    byte[] buf = new byte[65536];
    try {
      for (int n; (n = in.read(buf)) >= 0; ) {
        all.write(buf, 0, n);
      }
    } catch (SocketTimeoutException e) {
      throw new AssertionError("the server did not close the connection; got so far:\n" + all.toString(StandardCharsets.UTF_8), e);
    }
    return all.toString(StandardCharsets.UTF_8);
  }

  /** Reads until the server closes or {@code enough} holds for what arrived. */
  static String readUntilCloseOr(Socket s, java.util.function.Predicate<String> enough) throws IOException {
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    InputStream in = s.getInputStream();
    byte[] buf = new byte[65536];
    try {
      for (int n; !enough.test(all.toString(StandardCharsets.UTF_8)) && (n = in.read(buf)) >= 0; ) {
        all.write(buf, 0, n);
      }
    } catch (SocketTimeoutException e) {
      throw new AssertionError("the server neither finished nor closed; got so far:\n" + all.toString(StandardCharsets.UTF_8), e);
    }
    return all.toString(StandardCharsets.UTF_8);
  }

  static String chatRequest(String version, String extraHeaders) {
    byte[] body = STREAM_CHAT.getBytes(StandardCharsets.UTF_8);
    return "POST /v1/chat/completions " + version + "\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
        + body.length + "\r\nX-Tokenpipe-Sim: ttft=5ms itl=5ms tokens=20\r\n" + extraHeaders + "\r\n" + STREAM_CHAT;
  }

  static List<Integer> statuses(String all) {
    List<Integer> out = new ArrayList<>();
    Matcher m = Pattern.compile("HTTP/1\\.1 (\\d{3}) ").matcher(all);
    while (m.find()) {
      out.add(Integer.parseInt(m.group(1)));
    }
    return out;
  }

  // ------------------------------------------------------------- request-side protocol errors

  @Test
  void aMalformedRequestGets400AndTheConnectionCloses() throws Exception {
    String all = sendUntilClose(gateway.port(),
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n"
            + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 5_000);
    assertThat(statuses(all)).containsExactly(400);
    assertThat(all.toLowerCase()).contains("connection: close").contains("\"type\":\"invalid_request_error\"");
  }

  @Test
  void aTooLongRequestLineIs414AndAHugeHeadIs431BothClosing() throws Exception {
    String line = sendUntilClose(gateway.port(), "GET /v1/models?" + "q".repeat(10_000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 5_000);
    assertThat(statuses(line)).containsExactly(414);
    assertThat(line).contains("\"code\":\"uri_too_long\"");
    String head = sendUntilClose(gateway.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + "h".repeat(20_000) + "\r\n\r\n", 5_000);
    assertThat(statuses(head)).containsExactly(431);
    assertThat(head).contains("\"code\":\"headers_too_large\"");
  }

  @Test
  void anOversizedBodyStillBeingSentGetsIts413NotAReset() throws Exception {
    for (int round = 0; round < 5; round++) {
      try (Socket s = new Socket("127.0.0.1", gateway.port())) {
        s.setSoTimeout(10_000);
        CompletableFuture<Void> sending = CompletableFuture.runAsync(() -> {
          try {
            s.getOutputStream().write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: 1000000\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            byte[] piece = new byte[16 * 1024];
            for (int i = 0; i < 30; i++) {
              s.getOutputStream().write(piece);
            }
          } catch (IOException e) {
            // the server closed after its answer: expected at some point
          }
        });
        String all = readUntilClose(s);
        assertThat(statuses(all)).containsExactly(413);
        assertThat(all).contains("\"code\":\"request_too_large\"");
        sending.get(10, TimeUnit.SECONDS);
      }
    }
  }

  // ------------------------------------------------------------- Expect

  @Test
  void expectContinueWithAnOversizedBodyGets413WithAJsonBody() throws Exception {
    String all = sendUntilClose(gateway.port(), "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        + "Content-Type: application/json\r\nContent-Length: 100000000\r\nExpect: 100-continue\r\n\r\n", 5_000);
    assertThat(statuses(all)).containsExactly(413);
    assertThat(all.toLowerCase()).contains("content-type: application/json");
    assertThat(all).contains("\"code\":\"request_too_large\"");
  }

  @Test
  void anUnknownExpectationGets417WithAJsonBody() throws Exception {
    String all = sendUntilClose(gateway.port(), "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        + "Content-Type: application/json\r\nContent-Length: 2\r\nExpect: teapot\r\n\r\n{}", 5_000);
    assertThat(statuses(all)).containsExactly(417);
    assertThat(all).contains("\"code\":\"expectation_failed\"");
  }

  @Test
  void expectContinueWithinTheLimitGets100ThenTheStream() throws Exception {
    try (Socket s = new Socket("127.0.0.1", gateway.port())) {
      s.setSoTimeout(10_000);
      byte[] body = STREAM_CHAT.getBytes(StandardCharsets.UTF_8);
      s.getOutputStream().write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          + "Connection: close\r\nContent-Length: " + body.length + "\r\nExpect: 100-continue\r\n"
          + "X-Tokenpipe-Sim: ttft=5ms itl=1ms tokens=3\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      byte[] first = new byte[64];
      int n = s.getInputStream().read(first);
      assertThat(new String(first, 0, n, StandardCharsets.US_ASCII)).startsWith("HTTP/1.1 100 Continue");
      s.getOutputStream().write(body);
      assertThat(readUntilClose(s)).contains("data: [DONE]");
    }
  }

  /**
   * A request with {@code Expect: 100-continue} pipelined behind a running stream gets its {@code 100 Continue} in
   * its turn, after the stream's last chunk (docs/serve.md "Pipelining"). The aggregator wrote it the moment it
   * parsed the head: sent with the stream's request, the 100 were the first bytes on the connection, and the client
   * took it for the stream's interim answer; sent mid-stream, its bytes went into the stream's chunked body and the
   * stream was cut (outcome=cancelled).
   */
  @ParameterizedTest(name = "midStream={0}")
  @ValueSource(booleans = {false, true})
  void aPipelinedExpectContinueGetsIts100AfterTheStreamBeforeIt(boolean midStream) throws Exception {
    byte[] body = "{\"model\":\"tokenpipe-sim\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
        .getBytes(StandardCharsets.UTF_8);
    String stream = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
        + STREAM_CHAT.length() + "\r\nX-Tokenpipe-Sim: ttft=100ms itl=20ms tokens=20\r\n\r\n" + STREAM_CHAT;
    String expect = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + "Connection: close\r\nContent-Length: " + body.length + "\r\nExpect: 100-continue\r\n"
        + "X-Tokenpipe-Sim: ttft=1ms itl=1ms tokens=3\r\n\r\n";
    String interim = "HTTP/1.1 100 Continue\r\n\r\n";
    try (Socket s = new Socket("127.0.0.1", gateway.port())) {
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      InputStream in = s.getInputStream();
      ByteArrayOutputStream seen = new ByteArrayOutputStream();
      if (midStream) {
        out.write(stream.getBytes(StandardCharsets.UTF_8));
        out.flush();
        assertThat(readThrough(in, seen, "data: {")).as("the stream's first event: %s", seen).isTrue();
        out.write(expect.getBytes(StandardCharsets.UTF_8)); // a read of its own, while the stream runs
      } else {
        out.write((stream + expect).getBytes(StandardCharsets.UTF_8)); // read before the stream's head exists
      }
      out.flush();
      assertThat(readThrough(in, seen, interim)).as("a 100 Continue before the close: %s", seen).isTrue();

      String before = seen.toString(StandardCharsets.UTF_8);
      byte[] first = before.substring(0, before.length() - interim.length()).getBytes(StandardCharsets.UTF_8);
      Wire.Response r = Wire.Response.parse(first, false, false, List.of(), List.of());
      assertThat(r.status()).as("the stream's answer comes first: %s", before).isEqualTo(200);
      assertThat(r.chunked() && r.complete()).as("the stream ends with its last chunk before the 100: %s", before).isTrue();
      assertThat(new String(r.rawBody(), StandardCharsets.UTF_8)).as(before).endsWith("0\r\n\r\n");
      assertThat(r.bodyText()).as(before).contains("data: [DONE]");

      out.write(body);
      out.flush();
      String second = readUntilClose(s);
      assertThat(statuses(second)).as(second).containsExactly(200);
      assertThat(second).contains("\"chat.completion\"");
    }
  }

  /**
   * A request with an {@code Expect} other than {@code 100-continue} pipelined behind a running stream gets its 417
   * in its turn, after the stream's last chunk, in the shape of its path's API, counted like the gateway's other
   * refusals; then the connection closes (docs/serve.md "Pipelining"). Whether its body follows or not: it is
   * answered without it. The aggregator wrote its 417 the moment it parsed the head: into the middle of the
   * stream's chunked body, where the encoder refused it, and the connection was closed on it, cutting the stream
   * (status=0 outcome=cancelled).
   */
  @ParameterizedTest(name = "{0} body={2}")
  @CsvSource({"/v1/chat/completions, openai, true", "/v1/chat/completions, openai, false", "/v1/messages, anthropic, true"})
  void aPipelinedUnknownExpectationGetsIts417AfterTheStreamBeforeIt(String path, String api, boolean body) throws Exception {
    String stream = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
        + STREAM_CHAT.length() + "\r\nX-Tokenpipe-Sim: ttft=100ms itl=20ms tokens=20\r\n\r\n" + STREAM_CHAT;
    String bogus = "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
        + "Expect: bogus\r\n\r\n" + (body ? "{}" : "");
    try (Socket s = new Socket("127.0.0.1", gateway.port())) {
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      ByteArrayOutputStream seen = new ByteArrayOutputStream();
      out.write(stream.getBytes(StandardCharsets.UTF_8));
      out.flush();
      assertThat(readThrough(s.getInputStream(), seen, "data: {")).as("the stream's first event: %s", seen).isTrue();
      out.write(bogus.getBytes(StandardCharsets.UTF_8)); // a read of its own, while the stream runs
      out.flush();
      String all = seen.toString(StandardCharsets.UTF_8) + readUntilClose(s);

      assertThat(statuses(all)).as(all).containsExactly(200, 417);
      int at = all.indexOf("HTTP/1.1 417");
      byte[] first = all.substring(0, at).getBytes(StandardCharsets.UTF_8);
      Wire.Response r = Wire.Response.parse(first, false, false, List.of(), List.of());
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.chunked() && r.complete()).as("the stream ends with its last chunk before the 417: %s", all).isTrue();
      assertThat(new String(r.rawBody(), StandardCharsets.UTF_8)).as(all).endsWith("0\r\n\r\n");
      assertThat(r.bodyText()).as(all).contains("data: [DONE]");
      new GatewayErrorShapeTest.Answer(all.substring(at)).assertIs(417, api, "expectation_failed", "invalid_request_error");
    }
    // Answered by the gateway's handler, so counted like its other refusals.
    String metrics = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
        java.net.URI.create("http://127.0.0.1:" + gateway.port() + "/metrics")).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString()).body();
    assertThat(metrics).containsPattern("tokenpipe_gateway_rejected_total\\{status=\"417\"} [1-9]");
  }

  /** Reads byte by byte into {@code seen} until it ends with {@code end}; false when the connection closed first. */
  private static boolean readThrough(InputStream in, ByteArrayOutputStream seen, String end) throws IOException {
    byte[] want = end.getBytes(StandardCharsets.US_ASCII);
    while (true) {
      int b = in.read();
      if (b < 0) {
        return false;
      }
      seen.write(b);
      byte[] all = seen.toByteArray();
      if (all.length >= want.length && java.util.Arrays.equals(all, all.length - want.length, all.length, want, 0, want.length)) {
        return true;
      }
    }
  }

  // ------------------------------------------------------------- pipelining

  @Test
  void pipelinedRequestsBehindAStreamAreAnsweredInOrder() throws Exception {
    StringBuilder raw = new StringBuilder(chatRequest("HTTP/1.1", ""));
    for (int i = 0; i < 19; i++) {
      raw.append("GET /healthz HTTP/1.1\r\nHost: x\r\n").append(i == 18 ? "Connection: close\r\n" : "").append("\r\n");
    }
    String all = sendUntilClose(gateway.port(), raw.toString(), 20_000);
    assertThat(statuses(all)).as(all).hasSize(20).containsOnly(200);
    int done = all.indexOf("data: [DONE]");
    assertThat(done).as("the stream completes").isPositive();
    assertThat(all.indexOf("{\"status\":\"ok\"}")).as("healthz answers come after the stream's end").isGreaterThan(done);
  }

  @Test
  void pipeliningPastTheBoundNeverCutsTheStream() throws Exception {
    StringBuilder raw = new StringBuilder(chatRequest("HTTP/1.1", ""));
    int n = 200;
    for (int i = 0; i < n - 1; i++) {
      raw.append("GET /healthz HTTP/1.1\r\nHost: x\r\n").append(i == n - 2 ? "Connection: close\r\n" : "").append("\r\n");
    }
    String all = sendUntilClose(gateway.port(), raw.toString(), 30_000);
    List<Integer> statuses = statuses(all);
    assertThat(all).contains("data: [DONE]\n\n\r\n0\r\n\r\n");
    assertThat(statuses.getFirst()).isEqualTo(200);
    if (statuses.size() < n) {
      // Refused cleanly: every request before the bound answered in order, then one 503 and the close.
      assertThat(statuses.subList(0, statuses.size() - 1)).containsOnly(200);
      assertThat(statuses.getLast()).isEqualTo(503);
      assertThat(all).endsWith("}").contains("\"code\":\"too_many_pipelined\"");
    } else {
      assertThat(statuses).containsOnly(200);
    }
  }

  @Test
  void requestsBeyondTheCeilingAreRefusedInOrderAfterTheStreamEnds() throws Exception {
    try (Socket s = new Socket("127.0.0.1", gateway.port())) {
      s.setSoTimeout(20_000);
      s.getOutputStream().write(chatRequest("HTTP/1.1", "").getBytes(StandardCharsets.UTF_8));
      byte[] buf = new byte[4096];
      assertThat(new String(buf, 0, s.getInputStream().read(buf), StandardCharsets.UTF_8)).startsWith("HTTP/1.1 200");
      // 300 minimal requests in one write. Whether the decoder sees more than the ceiling of 64 before
      // reading pauses depends on how the socket reads fall; both outcomes keep the stream whole and the
      // order: every request answered 404 in turn, or the first ones answered and then one 503 and a close.
      s.getOutputStream().write("GET / HTTP/1.1\r\n\r\n".repeat(300).getBytes(StandardCharsets.US_ASCII));
      String all = readUntilCloseOr(s, text -> statuses(text).size() == 300);
      List<Integer> statuses = statuses(all);
      assertThat(all).contains("data: [DONE]\n\n\r\n0\r\n\r\n");
      assertThat(all.indexOf("HTTP/1.1 404")).isGreaterThan(all.indexOf("data: [DONE]"));
      if (statuses.getLast() == 503) {
        assertThat(statuses.size()).isBetween(GatewayHandler.READ_PAUSE_AT + 1, 300);
        assertThat(statuses.subList(0, statuses.size() - 1)).containsOnly(404);
        assertThat(all).endsWith("}").contains("\"code\":\"too_many_pipelined\"");
      } else {
        assertThat(statuses).hasSize(300).containsOnly(404);
      }
    }
  }

  // ------------------------------------------------------------- drain

  @Test
  void duringDrainAKeptAliveConnectionGets503AndReadyzAnswers503() throws Exception {
    GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withDrainTimeout(Duration.ofSeconds(20)));
    try (Socket idle = new Socket("127.0.0.1", g.port());
         RawClient stream = RawClient.post(g.port(), "/v1/chat/completions", STREAM_CHAT,
             "X-Tokenpipe-Sim: ttft=5ms itl=20ms tokens=100")) {
      idle.setSoTimeout(10_000);
      idle.getOutputStream().write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      byte[] buf = new byte[4096];
      assertThat(new String(buf, 0, idle.getInputStream().read(buf), StandardCharsets.UTF_8)).startsWith("HTTP/1.1 200");
      assertThat(stream.readUntil("data: {")).isTrue();

      CompletableFuture<Void> closing = CompletableFuture.runAsync(g::close);
      GatewayStreamingTest.await(g::draining, Duration.ofSeconds(5));

      idle.getOutputStream().write(chatRequest("HTTP/1.1", "").getBytes(StandardCharsets.UTF_8));
      String refused = readUntilClose(idle);
      assertThat(statuses(refused)).containsExactly(503);
      assertThat(refused.toLowerCase()).contains("connection: close").contains("content-type: application/json");
      assertThat(refused).contains("\"code\":\"gateway_draining\"");

      try (RawClient ready = RawClient.get(g.port(), "/readyz")) {
        assertThat(ready.readToEnd()).isTrue();
        assertThat(ready.status()).isEqualTo(503);
        JsonNode json = Json.MAPPER.readTree(ready.body());
        assertThat(json.get("status").asText()).isEqualTo("draining");
      }
      assertThat(stream.readToEnd()).as("the running stream finishes during the drain").isTrue();
      assertThat(stream.body()).contains("data: [DONE]");
      closing.get(30, TimeUnit.SECONDS);
    } finally {
      g.close();
    }
  }

  @Test
  void serveExitsZeroAfterACleanDrainOnSigterm(@TempDir Path dir) throws Exception {
    int port = ChildProcesses.freeLoopbackPort();
    String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(javaBin, "-cp", System.getProperty("java.class.path"), "dev.tokenpipe.Main",
        "serve", "--port", String.valueOf(port), "--drain-timeout", "5s")
        .redirectErrorStream(true).redirectOutput(dir.resolve("serve.log").toFile()).start();
    try {
      GatewayStreamingTest.await(() -> {
        try (Socket s = new Socket("127.0.0.1", port)) {
          return true;
        } catch (IOException e) {
          return false;
        }
      }, Duration.ofSeconds(30));
      try (RawClient c = RawClient.post(port, "/v1/chat/completions", STREAM_CHAT, "X-Tokenpipe-Sim: ttft=5ms itl=1ms tokens=3")) {
        assertThat(c.readToEnd()).isTrue();
      }
      p.destroy(); // SIGTERM
      assertThat(p.waitFor(20, TimeUnit.SECONDS)).as("serve ended after SIGTERM").isTrue();
      assertThat(p.exitValue()).as(Files.readString(dir.resolve("serve.log"))).isZero();
    } finally {
      p.destroyForcibly();
    }
  }

  @Test
  void closeReturnsWhenAnEventLoopIsWedged() throws Exception {
    GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0));
    CountDownLatch release = new CountDownLatch(1);
    try {
      // A task that never ends on one loop: before the bound, close() waited for that loop for ever and the
      // process outlived its SIGTERM with the port still bound.
      g.loops().next().execute(() -> {
        try {
          release.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      });
      long t0 = System.nanoTime();
      CompletableFuture.runAsync(g::close).get(30, TimeUnit.SECONDS);
      assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(20));
      assertThatThrownBy(() -> new Socket("127.0.0.1", g.port()).close())
          .as("the listener is closed even though a loop is stuck").isInstanceOf(IOException.class);
    } finally {
      release.countDown();
    }
  }

  // ------------------------------------------------------------- HTTP/1.0

  @Test
  void anHttp10StreamIsCloseDelimitedNotChunked() throws Exception {
    for (String connection : List.of("", "Connection: keep-alive\r\n")) {
      String all = sendUntilClose(gateway.port(), chatRequest("HTTP/1.0", connection), 20_000);
      int headEnd = all.indexOf("\r\n\r\n");
      String head = all.substring(0, headEnd).toLowerCase();
      String body = all.substring(headEnd + 4);
      assertThat(head).startsWith("http/1.1 200").doesNotContain("transfer-encoding").contains("connection: close");
      assertThat(body).as("events raw, no chunk sizes").startsWith("id: tp.").endsWith("data: [DONE]\n\n");
      assertThat(body).doesNotContain("\r\n");
    }
  }

  @Test
  void anHttp10RequestForAWholeAnswerStillGetsItsLength() throws Exception {
    String all = sendUntilClose(gateway.port(), "GET /healthz HTTP/1.0\r\n\r\n", 5_000);
    assertThat(all.toLowerCase()).contains("content-length: 15").doesNotContain("transfer-encoding");
    assertThat(all).endsWith("{\"status\":\"ok\"}");
  }
}
