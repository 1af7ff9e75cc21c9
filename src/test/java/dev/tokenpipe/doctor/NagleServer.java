package dev.tokenpipe.doctor;

import dev.tokenpipe.sse.EmissionStamp;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.locks.LockSupport;

/**
 * A deliberately naive SSE server on blocking sockets: every event is written in two small writes (the id line,
 * then the data line), one event every {@code intervalMillis}, with {@code TCP_NODELAY} as given. With Nagle on,
 * the second write waits for the ACK of the first. Answers 404 to the probe route so doctor probes the endpoint.
 */
final class NagleServer implements AutoCloseable {
  private final ServerSocket server;
  private final boolean noDelay;
  private final int events;
  private final long intervalMillis;

  NagleServer(boolean noDelay, int events, long intervalMillis) throws IOException {
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    this.noDelay = noDelay;
    this.events = events;
    this.intervalMillis = intervalMillis;
    Thread t = new Thread(this::acceptLoop, "nagle-server");
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
        Thread t = new Thread(() -> serve(s), "nagle-conn");
        t.setDaemon(true);
        t.start();
      } catch (IOException e) {
        return;
      }
    }
  }

  private void serve(Socket s) {
    try (s) {
      s.setTcpNoDelay(noDelay);
      String head = readHead(s.getInputStream());
      OutputStream out = s.getOutputStream();
      if (head.startsWith("GET /tokenpipe/probe")) {
        out.write("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        return;
      }
      out.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      long start = System.nanoTime();
      for (int i = 0; i < events; i++) {
        LockSupport.parkNanos(start + i * intervalMillis * 1_000_000L - System.nanoTime());
        // Two writes per event: the classic pattern that Nagle + delayed ACK stalls.
        out.write(("id: " + new EmissionStamp(i, EmissionStamp.nowMicros()).toId() + "\n").getBytes(StandardCharsets.US_ASCII));
        out.write(("data: token" + i + "\n\n").getBytes(StandardCharsets.US_ASCII));
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
