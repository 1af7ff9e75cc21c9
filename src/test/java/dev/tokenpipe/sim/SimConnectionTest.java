package dev.tokenpipe.sim;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import io.netty.channel.Channel;
import io.netty.util.concurrent.DefaultPromise;
import io.netty.util.concurrent.Future;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Connection lifecycle over raw sockets: pipelining behind a stream, HTTP/1.0 framing, the request
 * (slowloris) and idle timeouts.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SimConnectionTest {
  static final Duration REQUEST_TIMEOUT = Duration.ofMillis(1500);
  static final Duration IDLE_TIMEOUT = Duration.ofMillis(1500);

  SimServer sim;

  @BeforeEach
  void start() {
    sim = SimServer.start(SimConfig.defaults().withTimeouts(REQUEST_TIMEOUT, IDLE_TIMEOUT, Duration.ofSeconds(5)),
        "127.0.0.1", 0);
  }

  @AfterEach
  void stop() {
    sim.close(Duration.ZERO);
  }

  static String streamRequest(String version, int tokens, String... headers) {
    String body = "{\"prompt\":\"x\"}";
    StringBuilder r = new StringBuilder("POST /v1/stream " + version + "\r\nHost: x\r\n"
        + "X-Tokenpipe-Sim: ttft=10ms itl=10ms tokens=" + tokens + "\r\n");
    for (String h : headers) {
      r.append(h).append("\r\n");
    }
    return r.append("Content-Type: application/json\r\nContent-Length: ").append(body.length()).append("\r\n\r\n")
        .append(body).toString();
  }

  Socket connect() throws IOException {
    Socket s = new Socket("127.0.0.1", sim.port());
    s.setSoTimeout(20_000);
    return s;
  }

  /** Everything until the server closes the connection. */
  static String readToClose(Socket s) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    s.getInputStream().transferTo(out);
    return out.toString(StandardCharsets.UTF_8);
  }

  /** Reads until {@code text} contains {@code needle} {@code times} times. */
  static String readUntil(InputStream in, String needle, int times) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[16384];
    while (SimBackpressureTest.count(out.toString(StandardCharsets.UTF_8), needle) < times) {
      int n = in.read(buf);
      if (n < 0) {
        break;
      }
      out.write(buf, 0, n);
    }
    return out.toString(StandardCharsets.UTF_8);
  }

  @Test
  void aRequestPipelinedBehindAStreamIsAnsweredAfterTheStreamEnds() throws Exception {
    try (Socket s = connect()) {
      OutputStream out = s.getOutputStream();
      out.write((streamRequest("HTTP/1.1", 20) + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").getBytes(StandardCharsets.UTF_8));
      out.flush();
      String text = readUntil(s.getInputStream(), "{\"status\":\"ok\"}", 1);
      int second = text.indexOf("HTTP/1.1 200", 1);
      assertThat(second).as("second response in: %s", text).isPositive();
      String stream = text.substring(0, second);
      assertThat(SimBackpressureTest.count(stream, "id: tp.")).as("the whole stream came first").isEqualTo(21);
      assertThat(stream).endsWith("data: [DONE]\n\n\r\n0\r\n\r\n");
      assertThat(text.substring(second)).contains("{\"status\":\"ok\"}");
    }
  }

  @Test
  void responsesOnOneKeepAliveConnectionLeaveNothingBehindOnIt() throws Exception {
    // Each response (stream, whole body, probe) used to hang a listener on its connection's close future and never
    // take it off, so a keep-alive connection held every response it ever answered: 17 per connection after 30 s
    // at 1,000 streams.
    String complete = "{\"model\":\"tokenpipe-sim\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    try (Socket s = connect()) {
      OutputStream out = s.getOutputStream();
      for (int i = 0; i < 20; i++) {
        out.write(streamRequest("HTTP/1.1", 2).getBytes(StandardCharsets.UTF_8));
        out.flush();
        assertThat(readUntil(s.getInputStream(), "\r\n0\r\n\r\n", 1)).as("stream %d", i).endsWith("\r\n0\r\n\r\n");
      }
      for (int i = 0; i < 20; i++) {
        out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Tokenpipe-Sim: ttft=1ms itl=1ms tokens=2\r\n"
            + "Content-Type: application/json\r\nContent-Length: " + complete.length() + "\r\n\r\n" + complete)
            .getBytes(StandardCharsets.UTF_8));
        out.flush();
        assertThat(readUntil(s.getInputStream(), "\"total_tokens\"", 1)).as("response %d", i).contains("HTTP/1.1 200");
      }
      for (int i = 0; i < 20; i++) {
        out.write("GET /tokenpipe/probe?interval=1ms&count=2 HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.UTF_8));
        out.flush();
        assertThat(readUntil(s.getInputStream(), "\r\n0\r\n\r\n", 1)).as("probe %d", i).contains("[DONE]");
      }
      assertThat(sim.connections()).hasSize(1);
      Channel server = sim.connections().iterator().next();
      assertThat(listenerCount(server.closeFuture())).as("listeners on the connection's close future").isLessThan(5);
    }
  }

  /** The listeners a Netty future holds (Netty 4.2's {@code DefaultPromise}: one in a field, more in a list). */
  static int listenerCount(Future<?> future) throws ReflectiveOperationException {
    Field many = DefaultPromise.class.getDeclaredField("listeners");
    many.setAccessible(true);
    Object list = many.get(future);
    if (list != null) {
      Method size = list.getClass().getDeclaredMethod("size");
      size.setAccessible(true);
      return (int) size.invoke(list);
    }
    Field one = DefaultPromise.class.getDeclaredField("listener");
    one.setAccessible(true);
    return one.get(future) == null ? 0 : 1;
  }

  @Test
  void morePipelinedRequestsThanTheQueueHoldsAreAllAnsweredInOrder() throws Exception {
    int requests = SimHttpHandler.MAX_QUEUED * 3;
    try (Socket s = connect()) {
      StringBuilder all = new StringBuilder(streamRequest("HTTP/1.1", 30));
      for (int i = 1; i <= requests; i++) {
        all.append(streamRequest("HTTP/1.1", i % 5 + 1));
      }
      s.getOutputStream().write(all.toString().getBytes(StandardCharsets.UTF_8));
      String text = readUntil(s.getInputStream(), "data: [DONE]", requests + 1);
      String[] responses = text.split("HTTP/1\\.1 200 OK", -1);
      assertThat(responses).hasSize(requests + 2);
      assertThat(SimBackpressureTest.count(responses[1], "id: tp.")).isEqualTo(31);
      for (int i = 1; i <= requests; i++) {
        assertThat(SimBackpressureTest.count(responses[i + 1], "id: tp.")).as("response %s in order", i).isEqualTo(i % 5 + 2);
        assertThat(responses[i + 1]).endsWith("data: [DONE]\n\n\r\n0\r\n\r\n");
      }
    }
    // Beyond the bound the connection was not parsed further: at most what one 1 KiB slice of input
    // completes (a request here is ~170 bytes) comes on top of the queue's 16.
    assertThat(sim.metrics().maxQueuedRequests()).isBetween(2L, SimHttpHandler.MAX_QUEUED + 7L);
  }

  @Test
  void anOversizedRequestPipelinedBehindAStreamGets413AfterIt() throws Exception {
    try (SimServer small = SimServer.start(SimConfig.defaults().withMaxBodyBytes(100), "127.0.0.1", 0);
        Socket s = new Socket("127.0.0.1", small.port())) {
      s.setSoTimeout(20_000);
      String big = "{\"prompt\":\"" + "x".repeat(500) + "\"}";
      s.getOutputStream().write((streamRequest("HTTP/1.1", 10) + "POST /v1/stream HTTP/1.1\r\nHost: x\r\n"
          + "Content-Type: application/json\r\nContent-Length: " + big.length() + "\r\n\r\n" + big)
          .getBytes(StandardCharsets.UTF_8));
      String text = readToClose(s);
      int second = text.indexOf("HTTP/1.1 413");
      assertThat(second).as("413 after the stream: %s", text).isPositive();
      assertThat(text.substring(0, second)).endsWith("data: [DONE]\n\n\r\n0\r\n\r\n");
      assertThat(text.substring(second)).contains("\"type\":\"invalid_request_error\"");
    }
  }

  @Test
  void anHttp10StreamIsCloseDelimitedWithoutChunking() throws Exception {
    for (String keepAlive : new String[] {null, "Connection: keep-alive"}) {
      try (Socket s = connect()) {
        String req = keepAlive == null ? streamRequest("HTTP/1.0", 5) : streamRequest("HTTP/1.0", 5, keepAlive);
        s.getOutputStream().write(req.getBytes(StandardCharsets.UTF_8));
        String text = readToClose(s); // ends only when the server closes: the close ends the body
        int headEnd = text.indexOf("\r\n\r\n");
        String head = text.substring(0, headEnd).toLowerCase();
        String body = text.substring(headEnd + 4);
        assertThat(head).doesNotContain("transfer-encoding").doesNotContain("content-length").contains("connection: close");
        assertThat(body).startsWith("id: tp.0.").endsWith("data: [DONE]\n\n");
        assertThat(SimBackpressureTest.count(body, "id: tp.")).isEqualTo(6);
        assertThat(body).doesNotContain("\r\n");
      }
    }
  }

  @Test
  void anHttp10CompleteResponseKeepsItsLength() throws Exception {
    try (Socket s = connect()) {
      s.getOutputStream().write("GET /healthz HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.UTF_8));
      String text = readToClose(s);
      assertThat(text.toLowerCase()).contains("content-length: 15").doesNotContain("transfer-encoding");
      assertThat(text).endsWith("{\"status\":\"ok\"}");
    }
  }

  @Test
  void aRequestSentAByteAtATimeGets408AndTheConnectionCloses() throws Exception {
    try (Socket s = connect()) {
      OutputStream out = s.getOutputStream();
      long t0 = System.nanoTime();
      Thread dripper = Thread.ofVirtual().start(() -> {
        byte[] head = "POST /v1/stream HTTP/1.1\r\nHost: x\r\nX-Slow: ".getBytes(StandardCharsets.US_ASCII);
        try {
          for (int i = 0; ; i++) {
            out.write(i < head.length ? head[i] : 'a');
            out.flush();
            Thread.sleep(100);
          }
        } catch (IOException | InterruptedException closed) {
          // the server closed the connection: what the test waits for
        }
      });
      String text = readToClose(s);
      long millis = (System.nanoTime() - t0) / 1_000_000;
      dripper.interrupt();
      assertThat(text).startsWith("HTTP/1.1 408");
      JsonNode error = Json.MAPPER.readTree(text.substring(text.indexOf("\r\n\r\n") + 4)).get("error");
      assertThat(error.get("code").asText()).isEqualTo("request_timeout");
      assertThat(error.get("type").asText()).isEqualTo("invalid_request_error");
      assertThat(millis).isBetween(REQUEST_TIMEOUT.toMillis() - 100, REQUEST_TIMEOUT.toMillis() + 5000);
    }
  }

  @Test
  void anIdleKeepAliveConnectionIsClosedAfterTheIdleTimeout() throws Exception {
    try (Socket fresh = connect(); Socket used = connect()) {
      used.getOutputStream().write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.UTF_8));
      assertThat(readUntil(used.getInputStream(), "{\"status\":\"ok\"}", 1)).startsWith("HTTP/1.1 200");
      long t0 = System.nanoTime();
      assertThat(fresh.getInputStream().read()).as("a connection that never sent a request").isEqualTo(-1);
      assertThat(used.getInputStream().read()).as("a kept-alive connection after its response").isEqualTo(-1);
      long millis = (System.nanoTime() - t0) / 1_000_000;
      assertThat(millis).isLessThan(IDLE_TIMEOUT.toMillis() + 5000);
      assertThat(sim.metrics().count("idle_closed")).isEqualTo(2);
    }
  }

  @Test
  void aStreamLongerThanBothTimeoutsIsNotCut() throws Exception {
    try (Socket s = connect()) {
      // 40 tokens at 100 ms: 4 s, more than the 1.5 s request and idle timeouts
      s.getOutputStream().write(streamRequest("HTTP/1.1", 40).replace("itl=10ms", "itl=100ms")
          .getBytes(StandardCharsets.UTF_8));
      String text = readUntil(s.getInputStream(), "data: [DONE]", 1);
      assertThat(SimBackpressureTest.count(text, "id: tp.")).isEqualTo(41);
      assertThat(text).endsWith("data: [DONE]\n\n\r\n0\r\n\r\n");
    }
  }

  @Test
  void closeLetsARunningStreamFinishAnswers503ToTheRequestBehindItAndRefusesNewConnections() throws Exception {
    try (Socket s = connect()) {
      s.getOutputStream().write((streamRequest("HTTP/1.1", 20).replace("itl=10ms", "itl=50ms")
          + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").getBytes(StandardCharsets.UTF_8));
      assertThat(readUntil(s.getInputStream(), "id: tp.", 2)).contains("id: tp.1.");
      Thread closer = Thread.ofVirtual().start(() -> sim.close(Duration.ofSeconds(20)));
      String rest = readToClose(s);
      closer.join(20_000);
      assertThat(closer.isAlive()).as("close returned once the stream ended").isFalse();
      int second = rest.indexOf("HTTP/1.1 503");
      assertThat(second).as("503 after the stream: %s", rest).isPositive();
      assertThat(rest.substring(0, second)).endsWith("data: [DONE]\n\n\r\n0\r\n\r\n").doesNotContain("event: error");
      assertThat(rest.substring(second).toLowerCase()).contains("connection: close").contains("\"code\":\"sim_shutdown\"");
      assertThat(sim.metrics().count("completed")).isEqualTo(1);
    }
    try (Socket late = new Socket("127.0.0.1", sim.port())) {
      throw new AssertionError("connected after close: " + late);
    } catch (java.net.ConnectException expected) {
      // refused: the listener is gone
    }
  }

  @Test
  void closeEndsAStreamThatOutlivesTheGraceWithAnInBandErrorAndTheTerminatingChunk() throws Exception {
    try (Socket s = connect()) {
      s.getOutputStream().write(streamRequest("HTTP/1.1", 10_000).replace("itl=10ms", "itl=50ms")
          .getBytes(StandardCharsets.UTF_8));
      readUntil(s.getInputStream(), "id: tp.", 2);
      long t0 = System.nanoTime();
      sim.close(Duration.ofMillis(500));
      long millis = (System.nanoTime() - t0) / 1_000_000;
      String rest = readToClose(s);
      assertThat(rest).contains("event: error\ndata: {\"error\":{").contains("\"code\":\"sim_shutdown\"")
          .endsWith("\r\n0\r\n\r\n").doesNotContain("[DONE]");
      assertThat(millis).isBetween(400L, 5000L);
      assertThat(sim.metrics().count("shut_down")).isEqualTo(1);
    }
  }

  @Test
  void theTimeoutFlagsReachTheConfigWithDocumentedDefaults() {
    SimCommand defaults = new SimCommand();
    new picocli.CommandLine(defaults).parseArgs();
    assertThat(defaults.config().requestTimeout()).isEqualTo(SimConfig.DEFAULT_REQUEST_TIMEOUT).isEqualTo(Duration.ofSeconds(30));
    assertThat(defaults.config().idleTimeout()).isEqualTo(SimConfig.DEFAULT_IDLE_TIMEOUT).isEqualTo(Duration.ofSeconds(75));
    assertThat(defaults.config().drainTimeout()).isEqualTo(SimConfig.DEFAULT_DRAIN_TIMEOUT).isEqualTo(Duration.ofSeconds(30));
    SimCommand set = new SimCommand();
    new picocli.CommandLine(set).parseArgs("--request-timeout", "2s", "--idle-timeout", "0", "--drain-timeout", "500ms");
    assertThat(set.config().requestTimeout()).isEqualTo(Duration.ofSeconds(2));
    assertThat(set.config().idleTimeout()).isZero();
    assertThat(set.config().drainTimeout()).isEqualTo(Duration.ofMillis(500));
  }
}
