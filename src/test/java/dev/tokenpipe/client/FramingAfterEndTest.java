package dev.tokenpipe.client;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A response whose HTTP framing breaks after the stream's end event ({@code [DONE]}) did not end: an SDK that reads
 * the body to its end (openai-python consumes the rest of the stream after {@code [DONE]}) raises on it, so the
 * client core reports it as a failed connection, not as a complete stream. The same bytes with the chunked
 * body's last chunk are a clean end.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FramingAfterEndTest {
  static final String HEAD = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

  static String chunk(String data) {
    return Integer.toHexString(data.getBytes(StandardCharsets.UTF_8).length) + "\r\n" + data + "\r\n";
  }

  static final String EVENTS = chunk("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n")
      + chunk("data: [DONE]\n\n");

  /** Serves one connection: reads the request head, writes {@code response}, closes. */
  static ExchangeOutcome exchangeWith(String response) throws Exception {
    return exchangeWith(response.getBytes(StandardCharsets.UTF_8));
  }

  /** {@link #exchangeWith(String)} for a response with binary parts (a compressed body). */
  static ExchangeOutcome exchangeWith(byte[] response) throws Exception {
    return exchangeWith("{}", response);
  }

  /** {@link #exchangeWith(byte[])} for a request of {@code body}. */
  static ExchangeOutcome exchangeWith(String body, byte[] response) throws Exception {
    try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        StreamingClient client = StreamingClient.create(1, 5000)) {
      Thread t = Thread.ofVirtual().start(() -> {
        try (Socket s = server.accept()) {
          InputStream in = s.getInputStream();
          byte[] buf = new byte[8192];
          int n = 0;
          while (!new String(buf, 0, n, StandardCharsets.ISO_8859_1).contains("\r\n\r\n")) {
            n += in.read(buf, n, buf.length - n);
          }
          OutputStream out = s.getOutputStream();
          out.write(response);
          out.flush();
        } catch (Exception ignored) {
          // the test's assertions say what went wrong
        }
      });
      StreamingClientTest.Recorder r = new StreamingClientTest.Recorder();
      client.exchangeOnce(new ClientRequest(HttpTarget.parse("http://127.0.0.1:" + server.getLocalPort() + "/v1/chat/completions"),
          "POST", List.of(), body.getBytes(StandardCharsets.UTF_8), true), r, 5_000_000_000L);
      ExchangeOutcome o = r.end.get(10, TimeUnit.SECONDS);
      t.join();
      return o;
    }
  }

  @Test
  void theLastChunkAfterDoneIsACleanEnd() throws Exception {
    ExchangeOutcome o = exchangeWith(HEAD + EVENTS + "0\r\n\r\n");

    assertThat(o.error()).as(o.message()).isNull();
    assertThat(o.sawTerminator()).isTrue();
  }

  @Test
  void aCloseBeforeTheLastChunkAfterDoneIsAFailedConnection() throws Exception {
    ExchangeOutcome o = exchangeWith(HEAD + EVENTS);

    assertThat(o.error()).as(o.message()).isEqualTo(ErrorClass.IO);
    assertThat(o.message()).contains("before the response's end", "after its end event");
    assertThat(o.sawTerminator()).isTrue();
  }

  /**
   * Servers that send no {@code [DONE]} (llama.cpp before #9459, TGI before #2221) end with the finish_reason
   * chunk and the body's last chunk, and the SDKs take that as a whole answer: so do bench, chat and doctor. A
   * close after the finish proves nothing.
   */
  @Test
  void aFinishReasonAndTheLastChunkAreAWholeStreamWithoutDone() throws Exception {
    String finish = chunk("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    String hi = chunk("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n");

    ExchangeOutcome whole = exchangeWith(HEAD + hi + finish + "0\r\n\r\n");
    assertThat(whole.error()).as(whole.message()).isNull();

    ExchangeOutcome closed = exchangeWith(HEAD + hi + finish);
    assertThat(closed.error()).as(closed.message()).isEqualTo(ErrorClass.TRUNCATED);
    ExchangeOutcome noFinish = exchangeWith(HEAD + hi + "0\r\n\r\n");
    assertThat(noFinish.error()).as(noFinish.message()).isEqualTo(ErrorClass.TRUNCATED);
  }

  /**
   * A request for two choices ({@code "n": 2}) is whole when both finished: one finish and the body's end is the
   * other choice cut. The gateway counts finishes against {@code n} (GatewayFinishWithoutDoneTest); bench, chat and
   * doctor took the first finish as the whole answer.
   */
  @Test
  void aRequestForTwoChoicesIsWholeWhenBothFinished() throws Exception {
    String hi0 = chunk("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n");
    String hi1 = chunk("data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"Yo\"}}]}\n\n");
    String finish0 = chunk("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    String finish1 = chunk("data: {\"choices\":[{\"index\":1,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    String two = "{\"model\":\"m\",\"n\":2,\"stream\":true}";

    ExchangeOutcome oneCut = exchangeWith(two, (HEAD + hi0 + hi1 + finish0 + "0\r\n\r\n").getBytes(StandardCharsets.UTF_8));
    assertThat(oneCut.error()).as(oneCut.message()).isEqualTo(ErrorClass.TRUNCATED);

    ExchangeOutcome both = exchangeWith(two, (HEAD + hi0 + hi1 + finish0 + finish1 + "0\r\n\r\n").getBytes(StandardCharsets.UTF_8));
    assertThat(both.error()).as(both.message()).isNull();
  }

  @Test
  void brokenChunkFramingAfterDoneIsAFailedConnection() throws Exception {
    ExchangeOutcome o = exchangeWith(HEAD + EVENTS + "zz\r\nnot a chunk\r\n");

    assertThat(o.error()).as(o.message()).isEqualTo(ErrorClass.IO);
  }
}
