package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Answers that never have a body whatever their head says (RFC 9110 §6.4.1): a {@code 304 Not Modified} and a
 * {@code 204 No Content}. The client gets the upstream's head as it was (§15.4.5: a 304 carries the validators
 * and cache headers the 200 would have), no {@code Content-Length} the gateway made up (§8.6), and on a
 * kept-alive connection the next response right after it.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayBodylessAnswerTest {
  static final String NEXT = "{\"object\":\"list\",\"data\":[]}";

  static ScriptedUpstream upstream;
  static GatewayServer gateway;
  static AccessLogCapture accessLog;

  @BeforeAll
  static void start() throws IOException {
    upstream = new ScriptedUpstream()
        // The 200's length, as §8.6 lets a 304 say; and no Content-Type, which the 200 would have had.
        .on("/v1/files/with-length", x -> x.write("HTTP/1.1 304 Not Modified\r\nETag: \"v7\"\r\n"
            + "Cache-Control: private, max-age=60\r\nVary: Authorization\r\nx-request-id: req-304\r\n"
            + "Content-Length: 4242\r\n\r\n"))
        .on("/v1/files/no-length", x -> x.write("HTTP/1.1 304 Not Modified\r\nETag: \"v8\"\r\nx-request-id: req-304b\r\n\r\n"))
        .on("/v1/files/deleted", x -> x.write("HTTP/1.1 204 No Content\r\nx-request-id: req-204\r\nContent-Length: 0\r\n\r\n"))
        // A HEAD's answer: what GET would say, chunked JSON, without the body (RFC 9110 §9.3.2, RFC 9112 §6.1).
        .on("/v1/files/listing", x -> x.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + "Transfer-Encoding: chunked\r\nx-request-id: req-head\r\n\r\n"))
        .on("/v1/models", x -> x.json(200, "OK", "", NEXT));
    accessLog = new AccessLogCapture();
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(upstream.url())));
  }

  @AfterAll
  static void stop() throws IOException {
    gateway.close();
    upstream.close();
    accessLog.close();
  }

  static String get(String path, String... headers) {
    StringBuilder sb = new StringBuilder("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (String h : headers) {
      sb.append(h).append("\r\n");
    }
    return sb.append("\r\n").toString();
  }

  /**
   * Sends {@code first} and a {@code GET /v1/models} pipelined behind it on one connection, and reads until that
   * second answer's body is in (or 10 s pass): what a keep-alive client's next read would get.
   */
  static String pipelinedWithNext(String first) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", gateway.port()), 5000);
      s.getOutputStream().write((first + get("/v1/models")).getBytes(StandardCharsets.US_ASCII));
      s.getOutputStream().flush();
      InputStream in = s.getInputStream();
      ByteArrayOutputStream all = new ByteArrayOutputStream();
      byte[] buf = new byte[8192];
      long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (!all.toString(StandardCharsets.ISO_8859_1).endsWith(NEXT) && System.nanoTime() < deadline) {
        s.setSoTimeout((int) Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
        try {
          int n = in.read(buf);
          if (n < 0) {
            break;
          }
          all.write(buf, 0, n);
        } catch (SocketTimeoutException e) {
          break;
        }
      }
      return all.toString(StandardCharsets.ISO_8859_1);
    }
  }

  /** The first response's head, lower-cased, and what follows it. */
  static String[] firstHeadAndRest(String wire) {
    int end = wire.indexOf("\r\n\r\n");
    assertThat(end).as("a whole head in %s", wire).isPositive();
    return new String[] {wire.substring(0, end).toLowerCase(Locale.ROOT), wire.substring(end + 4)};
  }

  @Test
  void a304KeepsTheUpstreamsHeadAndTheNextResponseFollowsItAtOnce() throws Exception {
    String wire = pipelinedWithNext(get("/v1/files/with-length", "If-None-Match: \"v7\""));
    String[] headRest = firstHeadAndRest(wire);
    String head = headRest[0];

    assertThat(head).startsWith("http/1.1 304");
    assertThat(head).as("§15.4.5: the validator and cache headers the 200 would carry")
        .contains("\r\netag: \"v7\"", "\r\ncache-control: private, max-age=60", "\r\nvary: authorization",
            "\r\nx-request-id: req-304");
    assertThat(head).as("§8.6: the 200's length as the upstream said it, never the length of a body of ours")
        .contains("\r\ncontent-length: 4242").doesNotContain("content-length: 1", "content-type");
    assertThat(head).doesNotContain("transfer-encoding");
    assertThat(headRest[1]).as("no body after a 304: the next response starts right after its head")
        .startsWith("HTTP/1.1 200 OK").endsWith(NEXT);
    Map<String, String> line = accessLog.await("/v1/files/with-length", Duration.ofSeconds(5));
    assertThat(line).as("a 304 is an answer, not an upstream error")
        .containsEntry("status", "304").containsEntry("outcome", "done");
  }

  @Test
  void a304WithoutALengthGetsNoneAndNoChunkedCodingEither() throws Exception {
    String wire = pipelinedWithNext(get("/v1/files/no-length", "If-None-Match: \"v8\""));
    String[] headRest = firstHeadAndRest(wire);

    assertThat(headRest[0]).startsWith("http/1.1 304").contains("\r\netag: \"v8\"", "\r\nx-request-id: req-304b");
    assertThat(headRest[0]).doesNotContain("content-length", "transfer-encoding", "content-type");
    assertThat(headRest[1]).startsWith("HTTP/1.1 200 OK").endsWith(NEXT);
  }

  @Test
  void a204GetsNoLengthAndTheNextResponseFollowsItAtOnce() throws Exception {
    String wire = pipelinedWithNext(get("/v1/files/deleted"));
    String[] headRest = firstHeadAndRest(wire);

    assertThat(headRest[0]).startsWith("http/1.1 204").contains("\r\nx-request-id: req-204");
    assertThat(headRest[0]).as("§8.6: a 204 never carries Content-Length")
        .doesNotContain("content-length", "transfer-encoding");
    assertThat(headRest[1]).startsWith("HTTP/1.1 200 OK").endsWith(NEXT);
    assertThat(accessLog.await("/v1/files/deleted", Duration.ofSeconds(5))).containsEntry("outcome", "done");
  }

  /**
   * A HEAD's answer has no body either: a chunked JSON head for HEAD was taken for a close-delimited JSON body that
   * ended empty, so not whole JSON: {@code upstream_cut}, the client's connection closed under its pipelined requests.
   */
  @Test
  void aHeadRequestsChunkedJsonAnswerIsWholeAtItsHead() throws Exception {
    String wire = pipelinedWithNext("HEAD /v1/files/listing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    String[] headRest = firstHeadAndRest(wire);

    assertThat(headRest[0]).startsWith("http/1.1 200").contains("\r\nx-request-id: req-head");
    assertThat(headRest[1]).as("no body after a HEAD's answer, then the next response").startsWith("HTTP/1.1 200 OK")
        .endsWith(NEXT);
    assertThat(accessLog.await("/v1/files/listing", Duration.ofSeconds(5))).containsEntry("status", "200")
        .containsEntry("outcome", "done");
  }
}
