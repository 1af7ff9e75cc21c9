package dev.tokenpipe.gateway;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.sse.SseEvent;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The raw chunked body path (issue 15) against a hostile upstream: a head and its whole body in one read,
 * size lines, data CRLFs and trailers cut across reads at every awkward place, an interim 1xx in the same
 * read as the head, cuts and broken framing after the stream committed, bytes after the end, NDJSON, and a
 * client too slow to keep up while the codec is out. Each stream must reach the client whole and
 * byte-identical, or end with the in-band error; the upstream connection is reused only when it is clean.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class GatewayRawBodyHostileTest {
  private static final Duration READ = Duration.ofSeconds(10);

  static ScriptedUpstream upstream;
  static GatewayServer gateway;

  @BeforeAll
  static void start() throws IOException {
    upstream = new ScriptedUpstream()
        .on("one-write", x -> {
          ByteArrayOutputStream b = new ByteArrayOutputStream();
          b.writeBytes(("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
              .getBytes(US_ASCII));
          for (String e : ChatChunks.sseStream("a", "b", "c")) {
            b.writeBytes(chunk(e));
          }
          b.writeBytes("0\r\n\r\n".getBytes(US_ASCII));
          x.write(b.toByteArray());
        })
        .on("interim-first", x -> {
          ByteArrayOutputStream b = new ByteArrayOutputStream();
          b.writeBytes(("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
              + "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
              .getBytes(US_ASCII));
          List<String> all = ChatChunks.sseStream("a", "b");
          b.writeBytes(chunk(all.get(0)));
          x.write(b.toByteArray()).pause(20);
          for (String e : all.subList(1, all.size())) {
            x.write(chunk(e)).pause(20);
          }
          x.end();
        })
        .on("split-everywhere", x -> {
          x.sseHead("");
          List<String> all = ChatChunks.sseStream("a", "b", "c", "d");
          for (int i = 0; i < all.size(); i++) {
            byte[] c = chunk(all.get(i));
            // Cut each chunk at a different place: inside the size line, between its CR and LF, right after
            // the size line, inside the data, between the data and its CRLF, between that CR and LF.
            int line = indexOfCrlf(c);
            int[] cuts = {1, line + 1, line + 2, line + 7, c.length - 2, c.length - 1};
            int cut = Math.min(cuts[i % cuts.length], c.length - 1);
            x.write(java.util.Arrays.copyOfRange(c, 0, cut)).pause(25);
            x.write(java.util.Arrays.copyOfRange(c, cut, c.length)).pause(25);
          }
          x.write("0").pause(25).write("\r").pause(25).write("\n").pause(25).write("x-trailer: 1\r").pause(25)
              .write("\nx-other: 2\r\n").pause(25).write("\r").pause(25).write("\n");
        })
        .on("cut-after-commit", x -> {
          committedStream(x);
          x.write("40\r\ndata: {\"cho").pause(20);
          x.close();
        })
        .on("reset-after-commit", x -> {
          committedStream(x);
          x.pause(20).reset();
        })
        .on("broken-framing", x -> {
          committedStream(x);
          x.write("zz\r\ndata: x\n\n\r\n").pause(200);
          x.close();
        })
        .on("bad-chunk-end", x -> {
          committedStream(x);
          byte[] c = chunk(ChatChunks.sseEvent(ChatChunks.content("c")));
          c[c.length - 2] = 'X'; // data not followed by CRLF: the size lied
          x.write(c).pause(200);
          x.close();
        })
        .on("late-garbage", x -> {
          x.sseHead("");
          for (String e : ChatChunks.sseStream("a")) {
            x.write(chunk(e)).pause(10);
          }
          x.end().pause(100);
          x.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"); // an answer to no request
        })
        .on("/api/chat", x -> {
          x.write("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n");
          for (String line : ndjson()) {
            x.write(chunk(line)).pause(15);
          }
          x.end();
        })
        .on("flood", x -> {
          x.sseHead("");
          for (String e : flood()) {
            x.write(chunk(e));
          }
          x.end();
        });
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withThreads(1)
        .withUpstreams(List.of(upstream.url())));
  }

  @AfterAll
  static void stop() throws IOException {
    gateway.close();
    upstream.close();
  }


  private static List<String> ndjson() {
    List<String> lines = new ArrayList<>();
    for (String t : List.of("Hel", "lo", " there")) {
      lines.add("{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"" + t + "\"},\"done\":false}\n");
    }
    lines.add("{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
        + "\"done_reason\":\"stop\",\"eval_count\":3}\n");
    return lines;
  }

  private static List<String> flood() {
    String pad = "x".repeat(900);
    List<String> all = new ArrayList<>();
    all.add(ChatChunks.sseEvent(ChatChunks.role()));
    for (int i = 0; i < 10_000; i++) { // ~10 MB: more than the kernel buffers on both sides (4 MiB + 4 MiB) hold
      all.add(ChatChunks.sseEvent(ChatChunks.content(i + pad)));
    }
    all.add(ChatChunks.sseEvent(ChatChunks.DONE));
    return all;
  }


  private static byte[] chunk(String data) {
    byte[] d = data.getBytes(UTF_8);
    return ChatChunks.httpChunk(Integer.toHexString(d.length), d);
  }

  /** A head and the first three events (role, "a", "b"), each its own chunk: the stream is committed. */
  private static void committedStream(ScriptedUpstream.Exchange x) throws IOException, InterruptedException {
    x.sseHead("");
    for (String e : ChatChunks.sseStream("a", "b").subList(0, 3)) {
      x.write(chunk(e)).pause(20);
    }
  }

  private static int indexOfCrlf(byte[] b) {
    for (int i = 0; i + 1 < b.length; i++) {
      if (b[i] == '\r' && b[i + 1] == '\n') {
        return i;
      }
    }
    return -1;
  }

  private static String chatRequest(String model) {
    return Wire.post("HTTP/1.1", "/v1/chat/completions",
        "{\"model\":\"" + model + "\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
  }

  private static Wire.Response chat(String model) throws IOException {
    return Wire.send(gateway.port(), chatRequest(model), READ);
  }

  private static void assertWhole(Wire.Response r, List<String> expected) {
    assertThat(r.timedOut()).as("no hang: %s", r).isFalse();
    assertThat(r.complete()).as("%s", r).isTrue();
    assertThat(r.bodyText()).as("the upstream's events, byte for byte").isEqualTo(String.join("", expected));
  }

  private static void assertEndsWithTheInBandError(Wire.Response r) throws IOException {
    assertThat(r.timedOut()).as("no hang: %s", r).isFalse();
    assertThat(r.status()).isEqualTo(200);
    List<SseEvent> events = r.events().events();
    assertThat(events).as("a [DONE] the upstream never sent: %s", r).noneMatch(e -> e.data().equals("[DONE]"));
    assertThat(events.getLast().type()).as("last event of %s", r).isEqualTo("error");
  }

  /**
   * A healthy stream after a broken one: never on the broken connection, which could not be trusted. The pool
   * hands out the connection released last, so a broken one wrongly pooled would be the next one used.
   */
  private static void assertNextIsServedOnAFreshConnection() throws Exception {
    int broken = upstream.headConnections.getLast();
    assertWhole(chat("one-write"), ChatChunks.sseStream("a", "b", "c"));
    assertThat(upstream.headConnections.getLast()).as("not the broken connection").isNotEqualTo(broken);
  }

  @Test
  void aHeadAndItsWholeBodyInOneReadReachTheClientWhole() throws Exception {
    int before = upstream.connections.get();
    for (int i = 0; i < 3; i++) {
      assertWhole(chat("one-write"), ChatChunks.sseStream("a", "b", "c"));
    }
    assertThat(upstream.connections.get() - before).as("one connection for three in a row").isLessThanOrEqualTo(1);
  }

  /**
   * Lets the connections of the streams before go back to the pool: a stream ends for the client at its
   * {@code [DONE]}, and the scripts here write the body's last chunk 20-25 ms later ({@link UpstreamDrain}).
   */
  private static void settle() throws InterruptedException {
    Thread.sleep(300);
  }

  @Test
  void interimResponsesInTheHeadsReadAreSkipped() throws Exception {
    assertWhole(chat("interim-first"), ChatChunks.sseStream("a", "b"));
    settle();
    int before = upstream.connections.get();
    assertWhole(chat("interim-first"), ChatChunks.sseStream("a", "b"));
    assertThat(upstream.connections.get()).as("the connection reused").isEqualTo(before);
  }

  @Test
  void sizeLinesDataAndTrailersCutAcrossReadsStillMakeTheWholeStream() throws Exception {
    assertWhole(chat("split-everywhere"), ChatChunks.sseStream("a", "b", "c", "d"));
    settle();
    int before = upstream.connections.get();
    assertWhole(chat("one-write"), ChatChunks.sseStream("a", "b", "c"));
    assertThat(upstream.connections.get()).as("the codec came back: the connection carries the next exchange")
        .isEqualTo(before);
  }

  @Test
  void aFinMidChunkAfterCommitEndsWithTheInBandError() throws Exception {
    assertEndsWithTheInBandError(chat("cut-after-commit"));
    assertNextIsServedOnAFreshConnection();
  }

  @Test
  void aResetAfterCommitEndsWithTheInBandError() throws Exception {
    assertEndsWithTheInBandError(chat("reset-after-commit"));
    assertNextIsServedOnAFreshConnection();
  }

  @Test
  void aBadSizeLineAfterCommitEndsWithTheInBandErrorAndDropsTheConnection() throws Exception {
    assertEndsWithTheInBandError(chat("broken-framing"));
    assertNextIsServedOnAFreshConnection();
  }

  /**
   * A chunk whose size lied (its data is not followed by CRLF). Its data reaches the client before the missing
   * CRLF is seen, as it does through Netty's HTTP codec: holding every chunk's tail until its CRLF
   * arrives would delay each token to save a stream that is already broken. What must hold is that the stream
   * does not end looking complete and the connection is not reused.
   */
  @Test
  void dataNotFollowedByCrlfEndsWithTheInBandErrorAndDropsTheConnection() throws Exception {
    Wire.Response r = chat("bad-chunk-end");
    assertEndsWithTheInBandError(r);
    assertThat(r.bodyText()).contains("upstream_protocol_error");
    assertNextIsServedOnAFreshConnection();
  }

  @Test
  void bytesArrivingAfterTheEndOnAnIdleConnectionDoNotReachTheNextExchange() throws Exception {
    assertWhole(chat("late-garbage"), ChatChunks.sseStream("a"));
    Thread.sleep(300);
    assertWhole(chat("one-write"), ChatChunks.sseStream("a", "b", "c"));
  }

  @Test
  void anOllamaNdjsonStreamIsRelayedLineForLine() throws Exception {
    for (int i = 0; i < 2; i++) {
      Wire.Response r = Wire.send(gateway.port(), Wire.post("HTTP/1.1", "/api/chat",
          "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"), READ);
      assertWhole(r, ndjson());
    }
  }

  @Test
  void aClientThatStopsReadingPausesTheRawBodyAndLosesNothing() throws Exception {
    long pausesBefore = gateway.metrics().count("pauses");
    try (Socket s = new Socket()) {
      // Small enough that 10 MB back up into the gateway, large enough to hold a loopback segment (64 KiB): with
      // a 4 KiB buffer the kernel opens the window about every 200 ms and the test measured only that.
      s.setReceiveBufferSize(128 * 1024);
      s.connect(new InetSocketAddress("127.0.0.1", gateway.port()), 5000);
      s.getOutputStream().write(chatRequest("flood").getBytes(UTF_8));
      s.getOutputStream().flush();
      Thread.sleep(1500); // the gateway's writes back up: the upstream's reads pause with its codec out
      Wire.Response r = Wire.read(s, Duration.ofSeconds(30));
      assertWhole(r, flood());
    }
    assertThat(gateway.metrics().count("pauses")).as("the upstream was paused while the client did not read")
        .isGreaterThan(pausesBefore);
    assertThat(gateway.metrics().maxPendingWriteBytes()).as("what the gateway held for the client")
        .isLessThan(1024 * 1024);
    int before = upstream.connections.get();
    assertWhole(chat("one-write"), ChatChunks.sseStream("a", "b", "c"));
    assertThat(upstream.connections.get()).as("the paused connection carries the next exchange").isEqualTo(before);
  }
}
