package dev.tokenpipe.sim;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.gateway.GatewayConfig;
import dev.tokenpipe.gateway.GatewayServer;
import dev.tokenpipe.net.Sockets;
import dev.tokenpipe.testing.RawClient;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A client that stops reading must stop the simulated model, as a real server's backpressure does:
 * its outbound buffer stays within the write-buffer high-water mark plus one event, generation pauses,
 * and once the client reads again the response completes with every token and its terminator.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SimBackpressureTest {
  /** The high-water mark plus one event (at most ~1 KiB at burst 1) plus the terminating chunks. */
  static final long BOUND = Sockets.WATER_MARK.high() + 8 * 1024;
  static final int RECEIVE_BUFFER = 4096;
  /**
   * The clients of serve: a window that loopback's 64 KiB segments fit in. With 4 KiB one stream's read took 149 s
   * once in CI and again here: `ss -tino` showed the gateway's socket to that client with 1.1 MB queued under
   * the kernel's zero-window probe timer ({@code timer:(persist,...)}), whose backoff grows while the client does
   * not read and paces the sender after it does. That is TCP's, not the gateway's.
   */
  static final int SERVE_CLIENT_RECEIVE_BUFFER = 256 * 1024;

  @Test
  void aStreamWhoseClientStopsReadingPausesAndThenCompletes() throws Exception {
    try (SimServer sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0)) {
      pausesAndCompletes(sim);
    }
  }

  /** The model {@code serve} starts without --upstream is the same server on the gateway's loops. */
  @Test
  void theModelServeEmbedsPausesAndCompletes() throws Exception {
    try (GatewayServer gw = GatewayServer.start(GatewayConfig.defaults().withPort(0))) {
      pausesAndCompletes(gw.sim());
    }
  }

  private static void pausesAndCompletes(SimServer sim) throws Exception {
    long completedBefore = sim.metrics().count("completed"); // serve's start-up warm-up streamed once through it
    // ~13 MB of events: more than the kernel's socket buffers hold (tcp_wmem max is typically 4 MiB).
    int tokens = 300_000;
    try (RawClient c = RawClient.request(sim.port(), "POST", "/v1/stream", "{\"prompt\":\"x\"}", RECEIVE_BUFFER,
            "X-Tokenpipe-Sim: ttft=0ms itl=0ms tokens=" + tokens)) {
      long generated = awaitGenerationStops(sim);
      assertThat(generated).as("tokens generated while the client reads nothing").isLessThan(tokens / 2);
      assertThat(sim.metrics().maxPendingWriteBytes()).as("pending outbound bytes of the stream").isLessThanOrEqualTo(BOUND);
      assertThat(sim.metrics().count("pauses")).isPositive();

      String body = readAll(c.socket.getInputStream());
      assertThat(count(body, "id: tp.")).as("every token event plus [DONE]").isEqualTo(tokens + 1);
      assertThat(body).endsWith("data: [DONE]\n\n\r\n0\r\n\r\n");
      assertThat(sim.metrics().count("completed")).isEqualTo(completedBefore + 1);
      assertThat(sim.metrics().maxPendingWriteBytes()).isLessThanOrEqualTo(BOUND);
    }
  }

  /**
   * Waits until the model generated nothing for 500 ms (the kernel's socket buffers, which grow by
   * autotuning, take a while to fill) and returns the tokens generated; fails after 30 s.
   */
  static long awaitGenerationStops(SimServer sim) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    long before = -1;
    while (System.nanoTime() < deadline) {
      long now = sim.metrics().count("tokens");
      if (now == before && now > 0) {
        return now;
      }
      before = now;
      Thread.sleep(500);
    }
    throw new AssertionError("the model kept generating for a client that reads nothing: " + before + " tokens");
  }

  @Test
  void pipelinedNonStreamResponsesWaitForTheClientToRead() throws Exception {
    // ~100 KB per body, ~10 MB in all: more than the kernel's socket buffers hold.
    int requests = 100;
    int tokens = 20_000;
    String body = "{\"model\":\"tokenpipe-sim\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    try (SimServer sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0);
        java.net.Socket s = new java.net.Socket()) {
      s.setReceiveBufferSize(RECEIVE_BUFFER);
      s.connect(sim.address());
      s.setSoTimeout(30_000);
      StringBuilder all = new StringBuilder();
      for (int i = 0; i < requests; i++) {
        all.append("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Tokenpipe-Sim: ttft=0ms itl=0ms tokens=" + tokens + "\r\n")
            .append("Content-Type: application/json\r\nContent-Length: ").append(body.length()).append("\r\n\r\n").append(body);
      }
      Thread writer = Thread.ofVirtual().start(() -> {
        try {
          s.getOutputStream().write(all.toString().getBytes(StandardCharsets.UTF_8));
        } catch (IOException ignored) {
          // the assertion below reports what arrived
        }
      });
      long generated = awaitGenerationStops(sim);
      assertThat(generated).as("responses generated while the client reads nothing").isLessThan(requests * (long) tokens / 2);
      // A body is written whole, and only while the connection is writable: the mark plus one body.
      assertThat(sim.metrics().maxPendingWriteBytes()).as("pending outbound bytes").isLessThanOrEqualTo(BOUND + 256 * 1024);

      String text = readUntilCount(s.getInputStream(), "\"object\":\"chat.completion\"", requests);
      writer.join(10_000);
      assertThat(count(text, "HTTP/1.1 200 OK")).isEqualTo(requests);
      assertThat(sim.metrics().count("tokens")).isEqualTo(requests * (long) tokens);
    }
  }

  @Test
  void clientsOfServeThatDoNotReadGetCompleteStreamsAndTheModelStaysBounded() throws Exception {
    // The kernel's socket buffers on both legs (client and model) absorb several MB per stream, so here
    // the model need not stop (the test above shows it does); what must hold is its buffer and every
    // stream's completeness through the gateway.
    int clients = 10;
    int tokens = 5_000;
    String chat = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    try (GatewayServer gw = GatewayServer.start(GatewayConfig.defaults().withPort(0))) {
      SimServer sim = gw.sim();
      List<RawClient> cs = new ArrayList<>();
      try {
        for (int i = 0; i < clients; i++) {
          cs.add(RawClient.request(gw.port(), "POST", "/v1/chat/completions", chat, SERVE_CLIENT_RECEIVE_BUFFER,
              "X-Tokenpipe-Sim: ttft=0ms itl=0ms tokens=" + tokens));
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (sim.metrics().count("tokens") < (long) clients * tokens / 2 && System.nanoTime() < deadline) {
          Thread.sleep(100);
        }
        Thread.sleep(500);
        assertThat(sim.metrics().maxPendingWriteBytes()).as("the model's pending outbound bytes").isLessThanOrEqualTo(BOUND);
        for (RawClient c : cs) {
          long readStart = System.nanoTime();
          String raw = readAll(c.socket.getInputStream());
          // Which read was slow, should one be (see SERVE_CLIENT_RECEIVE_BUFFER).
          System.out.printf("client %d: %d bytes read in %d ms%n", cs.indexOf(c), raw.length(),
              (System.nanoTime() - readStart) / 1_000_000);
          assertThat(raw).endsWith("\r\n0\r\n\r\n");
          // The gateway relays upstream reads as they come: chunk boundaries fall anywhere in the text.
          String body = dechunk(raw);
          assertThat(count(body, "\"delta\":{\"content\"")).isEqualTo(tokens);
          assertThat(body).endsWith("data: [DONE]\n\n");
        }
      } finally {
        for (RawClient c : cs) {
          c.close();
        }
      }
    }
  }

  /** Reads a chunked response to its last chunk (or to the server's close). */
  static String readAll(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[65536];
    byte[] end = "\r\n0\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    byte[] tail = new byte[end.length];
    while (true) {
      int n = in.read(buf);
      if (n < 0) {
        break;
      }
      out.write(buf, 0, n);
      // the last bytes only: copying the whole body per read would be quadratic
      byte[] joined = java.util.Arrays.copyOf(tail, tail.length + n);
      System.arraycopy(buf, 0, joined, tail.length, n);
      tail = java.util.Arrays.copyOfRange(joined, n, joined.length);
      if (java.util.Arrays.equals(tail, end)) {
        break;
      }
    }
    return out.toString(StandardCharsets.UTF_8);
  }

  /** Reads until {@code needle} was seen {@code times} times; fails if the server closes first. */
  static String readUntilCount(InputStream in, String needle, int times) throws IOException {
    StringBuilder all = new StringBuilder();
    byte[] buf = new byte[65536];
    int seen = 0;
    int scanFrom = 0;
    while (seen < times) {
      int n = in.read(buf);
      assertThat(n).as("connection closed after %s of %s", seen, times).isPositive();
      all.append(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
      for (int i = all.indexOf(needle, scanFrom); i >= 0; i = all.indexOf(needle, i + needle.length())) {
        seen++;
        scanFrom = i + needle.length();
      }
      scanFrom = Math.max(scanFrom, all.length() - needle.length());
    }
    return all.toString();
  }

  /** The body of a chunked response (head and chunk framing removed). */
  static String dechunk(String raw) {
    StringBuilder out = new StringBuilder(raw.length());
    int i = raw.indexOf("\r\n\r\n") + 4;
    byte[] bytes = raw.substring(i).getBytes(StandardCharsets.UTF_8);
    int p = 0;
    ByteArrayOutputStream body = new ByteArrayOutputStream(bytes.length);
    while (true) {
      int eol = p;
      while (bytes[eol] != '\r') {
        eol++;
      }
      int size = Integer.parseInt(new String(bytes, p, eol - p, StandardCharsets.US_ASCII).trim(), 16);
      if (size == 0) {
        break;
      }
      body.write(bytes, eol + 2, size);
      p = eol + 2 + size + 2;
    }
    out.append(body.toString(StandardCharsets.UTF_8));
    return out.toString();
  }

  static int count(String text, String needle) {
    int n = 0;
    for (int i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length())) {
      n++;
    }
    return n;
  }
}
