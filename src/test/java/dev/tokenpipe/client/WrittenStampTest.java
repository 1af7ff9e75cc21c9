package dev.tokenpipe.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http.HttpHeaders;
import java.io.DataInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The exchange's "written" stamp ({@link ExchangeListener#onWritten}), where TTFT, TTFB and E2E start
 * (docs/metrics.md), is the moment the request's last byte was handed to the socket, not the moment before
 * the request was encoded. A fresh JVM's first write loads the HTTP encoder's and the socket's classes
 * inside that window: stamped before it, a fresh {@code chat} reported TTFT 135-447 ms against a sim
 * answering in 1 ms.
 *
 * <p>Made structural with a request body larger than every socket buffer between the two ends: its last
 * byte cannot be handed to the socket before the server starts reading, so a stamp taken before the write
 * is earlier than that and one taken when the write finished is not.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class WrittenStampTest {
  /** Larger than the loopback send buffer (4 MB at most here) and the receiver's unread window together. */
  static final int BODY_BYTES = 24 << 20;
  static final String RESPONSE_BODY = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n";

  /** Hears the exchange's callbacks in order. */
  static final class Order implements ExchangeListener {
    final List<String> calls = new CopyOnWriteArrayList<>();
    final CompletableFuture<ExchangeOutcome> end = new CompletableFuture<>();
    volatile long written;
    volatile long head;

    @Override public void onWritten(long nanos, long wallMicros) { calls.add("written"); written = nanos; }
    @Override public void onHead(int status, HttpHeaders h, long nanos) { calls.add("head"); head = nanos; }
    @Override public void onEvent(StreamEvent e) { calls.add("event"); }
    @Override public void onEnd(ExchangeOutcome o) { calls.add("end"); end.complete(o); }
  }

  static ClientRequest bigPost(int port) {
    return new ClientRequest(HttpTarget.parse("http://127.0.0.1:" + port + "/v1/chat/completions"), "POST", List.of(),
        new byte[BODY_BYTES], true);
  }

  /** Reads the request head; returns the Content-Length it announced. */
  static long readHead(InputStream in) throws Exception {
    StringBuilder head = new StringBuilder();
    while (!head.toString().endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        throw new IllegalStateException("closed in the head");
      }
      head.append((char) b);
    }
    return head.toString().lines().filter(l -> l.toLowerCase().startsWith("content-length:"))
        .mapToLong(l -> Long.parseLong(l.substring(l.indexOf(':') + 1).strip())).findFirst().orElse(0);
  }

  @Test
  void writtenIsWhenTheLastByteWasHandedToTheSocketNotBeforeTheWrite() throws Exception {
    try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        StreamingClient client = StreamingClient.create(1, 5000)) {
      CompletableFuture<Long> readingFrom = new CompletableFuture<>();
      Thread t = Thread.ofVirtual().start(() -> {
        try (Socket s = server.accept()) {
          Thread.sleep(300); // the client's write fills every buffer and waits
          readingFrom.complete(System.nanoTime());
          DataInputStream in = new DataInputStream(s.getInputStream());
          in.skipNBytes(readHead(in));
          OutputStream out = s.getOutputStream();
          out.write(("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: " + RESPONSE_BODY.length()
              + "\r\nConnection: close\r\n\r\n" + RESPONSE_BODY).getBytes(StandardCharsets.US_ASCII));
          out.flush();
        } catch (Exception e) {
          readingFrom.completeExceptionally(e);
        }
      });
      Order r = new Order();
      client.exchangeOnce(bigPost(server.getLocalPort()), r, 30_000_000_000L);
      ExchangeOutcome o = r.end.get(30, TimeUnit.SECONDS);
      t.join();

      assertThat(o.ok()).as(o.message()).isTrue();
      assertThat(r.calls).as("callbacks in order").containsExactly("written", "head", "event", "event", "end");
      assertThat(r.written).as("written (ns) vs the server's first read (ns)").isGreaterThanOrEqualTo(readingFrom.get());
      assertThat(r.written).isLessThanOrEqualTo(r.head);
    }
  }

  /**
   * A server may answer before it took the whole request (a 413 for a body too large): the response then
   * arrives while the write is still under way. The callbacks keep their documented order, written first,
   * and the stamp still precedes the head's.
   */
  @Test
  void anAnswerBeforeTheWriteFinishedStillComesAfterWritten() throws Exception {
    try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        StreamingClient client = StreamingClient.create(1, 5000)) {
      Thread t = Thread.ofVirtual().start(() -> {
        try (Socket s = server.accept()) {
          readHead(s.getInputStream());
          String body = "{\"error\":{\"message\":\"too large\"}}";
          OutputStream out = s.getOutputStream();
          out.write(("HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nContent-Length: " + body.length()
              + "\r\nConnection: close\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
          out.flush();
          Thread.sleep(500); // not reading: the client's write is still pending when the answer arrives
          s.getInputStream().skip(Long.MAX_VALUE);
        } catch (Exception ignored) {
          // the client closes once it has the answer; the assertions say what went wrong
        }
      });
      Order r = new Order();
      client.exchangeOnce(bigPost(server.getLocalPort()), r, 30_000_000_000L);
      ExchangeOutcome o = r.end.get(30, TimeUnit.SECONDS);
      t.join();

      assertThat(o.errorKey()).as(o.message()).isEqualTo("http_413");
      assertThat(r.calls).as("callbacks in order").containsExactly("written", "head", "end");
      assertThat(r.written).isPositive().isLessThanOrEqualTo(r.head);
    }
  }
}
