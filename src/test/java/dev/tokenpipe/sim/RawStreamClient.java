package dev.tokenpipe.sim;

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
 * A deliberately dumb HTTP/1.1 client over a raw socket that records every socket read with its
 * arrival time, so tests see exactly how the server flushed: one read per event, or batches.
 */
final class RawStreamClient implements AutoCloseable {
  /** One socket read: when it returned and what it held. */
  record Read(long nanos, String text) {
    int count(String needle) {
      int n = 0;
      for (int i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length())) {
        n++;
      }
      return n;
    }
  }

  private static final Pattern STATUS = Pattern.compile("^HTTP/1\\.1 (\\d{3})");

  final Socket socket;
  final long sentNanos;
  final List<Read> reads = new ArrayList<>();
  private final InputStream in;

  private RawStreamClient(Socket socket, long sentNanos) throws IOException {
    this.socket = socket;
    this.sentNanos = sentNanos;
    this.in = socket.getInputStream();
  }

  static RawStreamClient post(int port, String path, String body, String... headers) throws IOException {
    Socket s = new Socket("127.0.0.1", port);
    s.setTcpNoDelay(true);
    s.setSoTimeout(20_000);
    StringBuilder req = new StringBuilder("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (String h : headers) {
      req.append(h).append("\r\n");
    }
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    req.append("Content-Type: application/json\r\nContent-Length: ").append(bytes.length).append("\r\n\r\n");
    OutputStream out = s.getOutputStream();
    out.write(req.toString().getBytes(StandardCharsets.UTF_8));
    out.write(bytes);
    out.flush();
    return new RawStreamClient(s, System.nanoTime());
  }

  /** Reads one socket read's worth; null at end of stream. */
  Read readOnce() throws IOException {
    byte[] buf = new byte[65536];
    int n = in.read(buf);
    if (n < 0) {
      return null;
    }
    Read r = new Read(System.nanoTime(), new String(buf, 0, n, StandardCharsets.UTF_8));
    reads.add(r);
    return r;
  }

  /** Reads until the chunked body's last chunk or the server closes. Returns true if the body ended properly. */
  boolean readToEnd() throws IOException {
    while (true) {
      Read r = readOnce();
      if (r == null) {
        return false;
      }
      if (all().endsWith("0\r\n\r\n")) {
        return true;
      }
    }
  }

  String all() {
    StringBuilder sb = new StringBuilder();
    reads.forEach(r -> sb.append(r.text()));
    return sb.toString();
  }

  int status() {
    Matcher m = STATUS.matcher(all());
    return m.find() ? Integer.parseInt(m.group(1)) : -1;
  }

  /** Reads that carry at least one event of the body (the response head alone does not count). */
  List<Read> eventReads() {
    return reads.stream().filter(r -> r.count("id: tp.") > 0).toList();
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
