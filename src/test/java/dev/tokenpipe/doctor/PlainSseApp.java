package dev.tokenpipe.doctor;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.locks.LockSupport;

/**
 * A plain SSE application, as most are: {@code POST /v1/chat/completions} streams OpenAI chat chunks, one token per
 * event, each event in one write with {@code TCP_NODELAY} on, {@code Content-Type: text/event-stream} and no
 * anti-buffering headers, no emission stamps; no probe route (404), no {@code /v1/models} (404). Whatever holds
 * its events is the layer in front of it.
 */
final class PlainSseApp implements AutoCloseable {
  private final ServerSocket server;
  private final int events;
  private final long intervalMillis;
  private final long firstAfterMillis;

  PlainSseApp(int events, long intervalMillis) throws IOException {
    this(events, intervalMillis, 0);
  }

  /** @param firstAfterMillis the model's time to its first event, after the response head */
  PlainSseApp(int events, long intervalMillis, long firstAfterMillis) throws IOException {
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    this.events = events;
    this.intervalMillis = intervalMillis;
    this.firstAfterMillis = firstAfterMillis;
    Thread t = new Thread(this::acceptLoop, "plain-sse-app");
    t.setDaemon(true);
    t.start();
  }

  int port() {
    return server.getLocalPort();
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      try {
        Socket s = server.accept();
        Thread t = new Thread(() -> serve(s), "plain-sse-conn");
        t.setDaemon(true);
        t.start();
      } catch (IOException e) {
        return;
      }
    }
  }

  private void serve(Socket s) {
    try (s) {
      s.setTcpNoDelay(true);
      String head = readHead(s.getInputStream());
      OutputStream out = s.getOutputStream();
      if (!head.startsWith("POST /v1/chat/completions")) {
        String body = "{\"error\":{\"message\":\"not found\",\"type\":\"invalid_request_error\"}}";
        out.write(("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: " + body.length()
            + "\r\nConnection: close\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
        return;
      }
      out.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      long start = System.nanoTime();
      for (int i = 0; i < events; i++) {
        LockSupport.parkNanos(start + (firstAfterMillis + i * intervalMillis) * 1_000_000L - System.nanoTime());
        String chunk = "{\"id\":\"chatcmpl-plain\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"plain\","
            + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + (i + 1) + "\\n\"},\"finish_reason\":null}]}";
        out.write(("data: " + chunk + "\n\n").getBytes(StandardCharsets.US_ASCII));
        out.flush();
      }
      out.write("data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII));
    } catch (IOException ignored) {
      // client went away
    }
  }

  /** Reads the request head and a Content-Length body, if any. */
  private static String readHead(InputStream in) throws IOException {
    StringBuilder sb = new StringBuilder();
    while (!sb.toString().endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        break;
      }
      sb.append((char) b);
    }
    String head = sb.toString();
    for (String line : head.split("\r\n")) {
      if (line.toLowerCase().startsWith("content-length:")) {
        in.readNBytes(Integer.parseInt(line.substring(15).trim()));
      }
    }
    return head;
  }

  @Override
  public void close() throws IOException {
    server.close();
  }
}
