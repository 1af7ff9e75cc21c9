package dev.tokenpipe.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A deliberately dumb HTTP/1.1 client over a raw socket that records every socket read with its arrival
 * time, so tests see exactly how a server flushed: one read per event, or batches. Shared by the
 * sim's and the gateway's tests.
 */
public final class RawClient implements AutoCloseable {
  /** One socket read: when it returned and what it held. */
  public record Read(long nanos, String text) {
    public int count(String needle) {
      int n = 0;
      for (int i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length())) {
        n++;
      }
      return n;
    }
  }

  private static final Pattern STATUS = Pattern.compile("^HTTP/1\\.1 (\\d{3})");

  public final Socket socket;
  public final long sentNanos;
  public final List<Read> reads = new ArrayList<>();
  private final InputStream in;

  private RawClient(Socket socket, long sentNanos) throws IOException {
    this.socket = socket;
    this.sentNanos = sentNanos;
    this.in = socket.getInputStream();
  }

  public static RawClient post(int port, String path, String body, String... headers) throws IOException {
    return request(port, "POST", path, body, -1, headers);
  }

  public static RawClient get(int port, String path, String... headers) throws IOException {
    return request(port, "GET", path, null, -1, headers);
  }

  /** @param receiveBuffer SO_RCVBUF to set before connecting, or -1 */
  public static RawClient request(int port, String method, String path, String body, int receiveBuffer, String... headers)
      throws IOException {
    Socket s = new Socket();
    if (receiveBuffer > 0) {
      s.setReceiveBufferSize(receiveBuffer);
    }
    s.connect(new java.net.InetSocketAddress("127.0.0.1", port));
    s.setTcpNoDelay(true);
    s.setSoTimeout(20_000);
    StringBuilder req = new StringBuilder(method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (String h : headers) {
      req.append(h).append("\r\n");
    }
    byte[] bytes = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
    if (body != null) {
      req.append("Content-Type: application/json\r\nContent-Length: ").append(bytes.length).append("\r\n");
    }
    req.append("\r\n");
    OutputStream out = s.getOutputStream();
    out.write(req.toString().getBytes(StandardCharsets.UTF_8));
    out.write(bytes);
    out.flush();
    return new RawClient(s, System.nanoTime());
  }

  /** Reads one socket read's worth; null at end of stream. */
  public Read readOnce() throws IOException {
    byte[] buf = new byte[65536];
    int n = in.read(buf);
    if (n < 0) {
      return null;
    }
    Read r = new Read(System.nanoTime(), new String(buf, 0, n, StandardCharsets.UTF_8));
    reads.add(r);
    return r;
  }

  /** Reads until the chunked body's last chunk, a complete fixed-length body, or the server closes. */
  public boolean readToEnd() throws IOException {
    while (true) {
      if (complete()) {
        return true;
      }
      if (readOnce() == null) {
        return false;
      }
    }
  }

  /**
   * Reads until the text so far contains {@code needle}; false if the response ended first (its last
   * chunk or full length arrived, or the server closed), instead of waiting on a kept-alive connection.
   */
  public boolean readUntil(String needle) throws IOException {
    while (!all().contains(needle)) {
      if (complete() || readOnce() == null) {
        return false;
      }
    }
    return true;
  }

  private boolean complete() {
    String all = all();
    int headEnd = all.indexOf("\r\n\r\n");
    if (headEnd < 0) {
      return false;
    }
    String head = all.substring(0, headEnd).toLowerCase();
    Matcher m = Pattern.compile("content-length: (\\d+)").matcher(head);
    if (m.find()) {
      return all.getBytes(StandardCharsets.UTF_8).length - (headEnd + 4) >= Integer.parseInt(m.group(1));
    }
    return all.endsWith("0\r\n\r\n");
  }

  public String all() {
    StringBuilder sb = new StringBuilder();
    reads.forEach(r -> sb.append(r.text()));
    return sb.toString();
  }

  public int status() {
    Matcher m = STATUS.matcher(all());
    return m.find() ? Integer.parseInt(m.group(1)) : -1;
  }

  /** The response head, lower-cased, without the status line. */
  public String head() {
    String all = all();
    int end = all.indexOf("\r\n\r\n");
    return (end < 0 ? all : all.substring(0, end)).toLowerCase();
  }

  public String body() {
    String all = all();
    int end = all.indexOf("\r\n\r\n");
    return end < 0 ? "" : all.substring(end + 4);
  }

  /** Reads that carry at least one upstream event (the response head and comments do not count). */
  public List<Read> eventReads() {
    return reads.stream().filter(r -> r.count("id: tp.") > 0).toList();
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
