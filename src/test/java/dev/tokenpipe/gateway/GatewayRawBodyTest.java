package dev.tokenpipe.gateway;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The upstream's chunked stream body read in place (issue 15): after the head the HTTP codec leaves the
 * upstream connection, a read that is one whole chunk of whole events goes to the client as the upstream
 * framed it, anything else is decoded in place and re-framed, and the codec comes back for the connection's
 * next exchange. Scripted upstreams frame chunks in ways the gateway never would (upper-case hex, leading
 * zeros), so the client's bytes show which path each chunk took.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
@Tag("issue15")
class GatewayRawBodyTest {
  private static final Duration READ = Duration.ofSeconds(8);

  static ScriptedUpstream upstream;
  static GatewayServer gateway;

  @BeforeAll
  static void start() throws IOException {
    upstream = new ScriptedUpstream()
        .on("zero-padded", x -> {
          x.sseHead("");
          for (String e : ChatChunks.sseStream("a", "b", "c")) {
            x.write(paddedChunk(e)).pause(30); // one chunk per read
          }
          x.end();
        })
        .on("split-events", x -> {
          x.sseHead("");
          x.write(paddedChunk(ChatChunks.sseEvent(ChatChunks.role()))).pause(30);
          x.write(paddedChunk(ChatChunks.sseEvent(ChatChunks.content("a")))).pause(30);
          String b = ChatChunks.sseEvent(ChatChunks.content("b"));
          x.write(paddedChunk(b.substring(0, 10))).pause(30); // half an event: held until its end
          x.write(paddedChunk(b.substring(10))).pause(30);
          x.write("5;ext=1\r\ndata:\r\n").pause(30); // an extension, and data that is no whole event
          x.write(paddedChunk(" [DONE]\n\n")).pause(30);
          x.write("0\r\nx-trailer: dropped\r\n\r\n");
        })
        .on("/v1/chat/completions", x -> x.sseHead("")) // a HEAD request's answer: a head, and no body
        .on("extra-after-end", x -> {
          x.sseHead("");
          x.event(ChatChunks.content("a")).event(ChatChunks.DONE);
          x.write("0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"); // bytes past the response, in the same write
        });
    // One event loop: one pool, so a reused connection is the very next one handed out.
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withThreads(1)
        .withUpstreams(List.of(upstream.url())));
  }

  @AfterAll
  static void stop() throws IOException {
    gateway.close();
    upstream.close();
  }

  /** A chunk as the gateway never frames one: the size in 8 upper-case hex digits. */
  private static byte[] paddedChunk(String data) {
    byte[] d = data.getBytes(UTF_8);
    return ChatChunks.httpChunk(String.format("%08X", d.length), d);
  }

  private static Wire.Response chat(String model) throws IOException {
    return Wire.send(gateway.port(), Wire.post("HTTP/1.1", "/v1/chat/completions",
        "{\"model\":\"" + model + "\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"), READ);
  }

  @Test
  void aWholeEventChunkAfterTheFirstTokenReachesTheClientAsTheUpstreamFramedIt() throws Exception {
    Wire.Response r = chat("zero-padded");

    assertThat(r.complete()).as("%s", r).isTrue();
    assertThat(new String(r.body(), UTF_8)).isEqualTo(String.join("", ChatChunks.sseStream("a", "b", "c")));
    String raw = new String(r.rawBody(), UTF_8);
    // Before the first token the role chunk is held and re-framed by the gateway; from then on each chunk is
    // the upstream's own, size line and all.
    for (String e : ChatChunks.sseStream("b", "c").subList(2, 4)) {
      assertThat(raw).as("the upstream's framing of %s", e).contains(new String(paddedChunk(e), UTF_8));
    }
    assertThat(raw).as("the gateway's own last chunk").endsWith("0\r\n\r\n");
  }

  @Test
  void chunksThatAreNotWholeEventsAreDecodedInPlaceAndReframed() throws Exception {
    Wire.Response r = chat("split-events");

    assertThat(r.complete()).as("%s", r).isTrue();
    String b = ChatChunks.sseEvent(ChatChunks.content("b"));
    assertThat(new String(r.body(), UTF_8)).isEqualTo(
        ChatChunks.sseEvent(ChatChunks.role()) + ChatChunks.sseEvent(ChatChunks.content("a")) + b + "data: [DONE]\n\n");
    String raw = new String(r.rawBody(), UTF_8);
    assertThat(raw).as("the split event re-joined in one chunk of the gateway's framing")
        .contains(Integer.toHexString(b.length()) + "\r\n" + b + "\r\n");
    assertThat(raw).as("no chunk extension and no trailer passed on").doesNotContain("ext=1").doesNotContain("x-trailer");
  }

  @Test
  void theUpstreamConnectionCarriesTheNextExchangeAfterARawBody() throws Exception {
    int before = upstream.connections.get();
    for (int i = 0; i < 3; i++) {
      Wire.Response r = chat("zero-padded");
      assertThat(r.complete()).as("request %d: %s", i, r).isTrue();
      assertThat(new String(r.body(), UTF_8)).endsWith(ChatChunks.sseEvent(ChatChunks.DONE));
    }
    assertThat(upstream.connections.get() - before).as("connections for three requests in a row").isLessThanOrEqualTo(1);
  }

  @Test
  void aHeadRequestsChunkedStreamHeadEndsTheExchangeWithoutWaitingForABody() throws Exception {
    try (java.net.Socket s = new java.net.Socket("127.0.0.1", gateway.port())) {
      s.setSoTimeout((int) READ.toMillis());
      s.getOutputStream().write("HEAD /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".getBytes(US_ASCII));
      s.getOutputStream().flush();
      String head = readHead(s);
      assertThat(head).startsWith("HTTP/1.1 200").containsIgnoringCase("transfer-encoding: chunked");
      // The upstream keeps its connection open and its head says chunked: only the knowledge that a HEAD's
      // answer has no body ends the exchange, so that the next request on this connection is served at all.
      s.getOutputStream().write(Wire.post("HTTP/1.1", "/v1/chat/completions",
          "{\"model\":\"zero-padded\",\"stream\":true,\"messages\":[]}").getBytes(UTF_8));
      s.getOutputStream().flush();
      Wire.Response next = Wire.read(s, READ);
      assertThat(next.complete()).as("%s", next).isTrue();
      assertThat(new String(next.body(), UTF_8)).endsWith(ChatChunks.sseEvent(ChatChunks.DONE));
    }
  }

  private static String readHead(java.net.Socket s) throws IOException {
    java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
    java.io.InputStream in = s.getInputStream();
    while (!b.toString(US_ASCII).endsWith("\r\n\r\n")) {
      int c = in.read();
      if (c < 0) {
        break;
      }
      b.write(c);
    }
    return b.toString(US_ASCII);
  }

  @Test
  void bytesPastTheLastChunkKeepTheConnectionOutOfThePool() throws Exception {
    Wire.Response first = chat("extra-after-end");
    assertThat(first.complete()).as("%s", first).isTrue();
    int after = upstream.connections.get();

    Wire.Response next = chat("zero-padded");

    assertThat(next.complete()).as("%s", next).isTrue();
    assertThat(upstream.connections.get()).as("a fresh connection for the next request").isEqualTo(after + 1);
  }
}
