package dev.tokenpipe.client;

import io.netty.channel.EventLoop;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * One throwaway exchange per event loop against an in-process loopback socket, before anything is measured.
 *
 * <p>Why: the first connect on a fresh JVM loads and initialises Netty's bootstrap, channel and resolver
 * classes on the event loop, inside the timed {@code connect}: a loopback {@code connect} p50 of 245-464 ms at
 * small loads (every connection was the first on its loop). The request's own first write no longer needs it
 * (the client stamps "written" when the write completed, after the encoder's class loading; a cold first
 * request against a 1 ms sim then showed TTFT 4-7 ms with or without this warm-up, but {@code connect}
 * 106-280 ms without it and 2-4 ms with it). It also loads the response side (HTTP decoder, SSE parser) before
 * the first measured stream. Bounded: at most {@link #LIMIT_MILLIS} in all; on any failure the run simply goes
 * on cold.
 *
 * <p>Every command that times a stream runs it first ({@code bench}, {@code chat}, {@code doctor}), so a fresh
 * process reports what a warm one does: without it, a fresh {@code chat} or {@code doctor} stamped "written" late
 * by the class loading on the write's completion path, after the bytes had gone, and reported TTFT 85-96 ms
 * against a sim answering in 100 ms (bench: 100.4).
 */
public final class ClientWarmUp {
  static final long LIMIT_MILLIS = 5_000;
  private static final String BODY = "data: {\"choices\":[{\"delta\":{\"content\":\"warm\"}}],\"usage\":{\"completion_tokens\":1}}\n\n"
      + "data: [DONE]\n\n";
  private static final byte[] RESPONSE = ("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: " + BODY.length()
      + "\r\n\r\n" + BODY).getBytes(StandardCharsets.US_ASCII);

  private ClientWarmUp() {}

  public static void run(StreamingClient client, String targetHost) {
    try {
      InetAddress.getAllByName(targetHost); // the JDK caches it: the first connect need not resolve on a loop
    } catch (IOException | RuntimeException e) {
      // the run's connects report it
    }
    List<EventExecutor> loops = new java.util.ArrayList<>();
    client.group().forEach(loops::add);
    try (ServerSocket server = new ServerSocket(0, loops.size() + 1, InetAddress.getLoopbackAddress())) {
      server.setSoTimeout((int) LIMIT_MILLIS);
      Thread answerer = new Thread(() -> answer(server, loops.size()), "tokenpipe-warmup");
      answerer.setDaemon(true);
      answerer.start();
      HttpTarget target = HttpTarget.parse("http://127.0.0.1:" + server.getLocalPort() + "/v1/chat/completions");
      ClientRequest request = new ClientRequest(target, "POST", List.of(), "{}".getBytes(StandardCharsets.UTF_8), true);
      CountDownLatch done = new CountDownLatch(loops.size());
      for (EventExecutor loop : loops) {
        client.connect(target, (EventLoop) loop).addListener((Future<Connection> f) -> {
          if (!f.isSuccess()) {
            done.countDown();
            return;
          }
          Connection c = f.getNow();
          c.send(request, outcome -> {
            c.close();
            done.countDown();
          }, TimeUnit.MILLISECONDS.toNanos(LIMIT_MILLIS));
        });
      }
      done.await(LIMIT_MILLIS, TimeUnit.MILLISECONDS);
    } catch (IOException | RuntimeException e) {
      // best effort: a cold start only costs accuracy at the very beginning
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void answer(ServerSocket server, int connections) {
    for (int i = 0; i < connections; i++) {
      try (Socket s = server.accept()) {
        s.setSoTimeout((int) LIMIT_MILLIS);
        InputStream in = s.getInputStream();
        byte[] buf = new byte[4096];
        int total = 0;
        // Request head and the 2-byte body: read until the blank line and then some.
        while (total < buf.length) {
          int n = in.read(buf, total, buf.length - total);
          if (n < 0) {
            break;
          }
          total += n;
          String text = new String(buf, 0, total, StandardCharsets.US_ASCII);
          int head = text.indexOf("\r\n\r\n");
          if (head >= 0 && total >= head + 4 + 2) {
            break;
          }
        }
        OutputStream out = s.getOutputStream();
        out.write(RESPONSE);
        out.flush();
        s.shutdownOutput();
        while (in.read(buf) >= 0) {
          // wait for the client to close: then the exchange has been read to the end
        }
      } catch (IOException e) {
        return;
      }
    }
  }
}
