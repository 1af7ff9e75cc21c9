package dev.tokenpipe.deploy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One streamed chat completion read from a plain socket, as a browser would ask for it
 * ({@code Accept-Encoding: gzip}), with every {@code read()} timed: which SSE events each read completed, and each
 * event's hold (arrival − the sim's emission stamp in its {@code id: tp.<seq>.<epoch-µs>}, same host).
 * No HTTP library in between, so nothing but the kernel and the proxy decides how bytes are grouped.
 */
record RawStream(String head, int status, List<Read> reads, long requestNanos) {
  private static final Pattern TOKEN = Pattern.compile("\"delta\":\\{\"content\":\"[^\"]");
  private static final Pattern STAMP = Pattern.compile("(?m)^id: tp\\.\\d+\\.(\\d+)$");

  /** One socket read: when, how many bytes, and the events it completed. */
  record Read(long nanos, long wallMicros, int bytes, List<String> events) {}

  static RawStream chat(int port, String simSpec) throws IOException {
    String body = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    String request = "POST /v1/chat/completions HTTP/1.1\r\n"
        + "Host: 127.0.0.1:" + port + "\r\n"
        + "Accept: text/event-stream\r\n"
        + "Accept-Encoding: gzip\r\n"
        + "Content-Type: application/json\r\n"
        + "X-Tokenpipe-Sim: " + simSpec + "\r\n"
        + "Content-Length: " + bytes.length + "\r\n"
        + "Connection: close\r\n\r\n";
    try (Socket socket = new Socket()) {
      socket.setTcpNoDelay(true);
      socket.setSoTimeout(15_000);
      socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
      OutputStream out = socket.getOutputStream();
      ByteArrayOutputStream req = new ByteArrayOutputStream();
      req.write(request.getBytes(StandardCharsets.US_ASCII));
      req.write(bytes);
      long start = System.nanoTime();
      out.write(req.toByteArray());
      out.flush();
      return read(socket.getInputStream(), start);
    }
  }

  private static RawStream read(InputStream in, long start) throws IOException {
    byte[] buf = new byte[64 * 1024];
    ByteArrayOutputStream raw = new ByteArrayOutputStream();
    List<Read> reads = new ArrayList<>();
    String head = null;
    int bodyStart = -1;
    boolean chunked = false;
    Dechunker dechunker = new Dechunker();
    StringBuilder sse = new StringBuilder();
    int consumed = 0; // of sse
    boolean finished = false;
    while (!finished) {
      int n;
      try {
        n = in.read(buf);
      } catch (SocketTimeoutException e) {
        throw new IOException("no byte for 15 s; got so far:\n" + raw.toString(StandardCharsets.UTF_8), e);
      }
      if (n < 0) {
        break;
      }
      long nanos = System.nanoTime();
      long wall = wallMicros();
      List<String> events = new ArrayList<>();
      int rawFrom = raw.size();
      raw.write(buf, 0, n);
      byte[] all = raw.toByteArray();
      if (head == null) {
        int end = indexOf(all, "\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        if (end >= 0) {
          head = new String(all, 0, end, StandardCharsets.ISO_8859_1);
          bodyStart = end + 4;
          chunked = headerOf(head, "Transfer-Encoding") != null
              && headerOf(head, "Transfer-Encoding").toLowerCase(Locale.ROOT).contains("chunked");
          rawFrom = bodyStart;
        }
      }
      if (head != null) {
        byte[] fresh = Arrays.copyOfRange(all, Math.max(rawFrom, bodyStart), all.length);
        if (chunked) {
          sse.append(new String(dechunker.feed(fresh), StandardCharsets.UTF_8));
          finished = dechunker.ended;
        } else {
          sse.append(new String(fresh, StandardCharsets.UTF_8));
        }
        int boundary;
        while ((boundary = sse.indexOf("\n\n", consumed)) >= 0) {
          events.add(sse.substring(consumed, boundary));
          consumed = boundary + 2;
        }
      }
      reads.add(new Read(nanos, wall, n, events));
    }
    if (head == null) {
      throw new IOException("no response head; got:\n" + raw.toString(StandardCharsets.UTF_8));
    }
    int status = Integer.parseInt(head.split(" ", 3)[1]);
    return new RawStream(head, status, reads, start);
  }

  static long wallMicros() {
    java.time.Instant now = java.time.Instant.now();
    return now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
  }

  String header(String name) {
    return headerOf(head, name);
  }

  private static String headerOf(String head, String name) {
    for (String line : head.split("\r\n")) {
      int colon = line.indexOf(':');
      if (colon > 0 && line.substring(0, colon).trim().equalsIgnoreCase(name)) {
        return line.substring(colon + 1).trim();
      }
    }
    return null;
  }

  static boolean isToken(String event) {
    return TOKEN.matcher(event).find();
  }

  int tokenEvents() {
    return (int) reads.stream().flatMap(r -> r.events().stream()).filter(RawStream::isToken).count();
  }

  boolean done() {
    return reads.stream().flatMap(r -> r.events().stream()).anyMatch(e -> e.contains("data: [DONE]"));
  }

  int maxTokenEventsPerRead() {
    return reads.stream().mapToInt(r -> (int) r.events().stream().filter(RawStream::isToken).count()).max().orElse(0);
  }

  int readsWithTokenEvents() {
    return (int) reads.stream().filter(r -> r.events().stream().anyMatch(RawStream::isToken)).count();
  }

  List<Double> tokenArrivalMillis() {
    List<Double> out = new ArrayList<>();
    for (Read r : reads) {
      for (String e : r.events()) {
        if (isToken(e)) {
          out.add((r.nanos() - requestNanos) / 1e6);
        }
      }
    }
    return out;
  }

  double tokenGapMillisMedian() {
    List<Double> t = tokenArrivalMillis();
    List<Double> gaps = new ArrayList<>();
    for (int i = 1; i < t.size(); i++) {
      gaps.add(t.get(i) - t.get(i - 1));
    }
    return median(gaps);
  }

  /** Arrival − emission of each stamped token event, in ms (same host, wall clock). */
  List<Double> holdsMillis() {
    List<Double> out = new ArrayList<>();
    for (Read r : reads) {
      for (String e : r.events()) {
        Matcher m = STAMP.matcher(e);
        if (isToken(e) && m.find()) {
          out.add((r.wallMicros() - Long.parseLong(m.group(1))) / 1e3);
        }
      }
    }
    return out;
  }

  /** The {@code p}-quantile (0..1, nearest rank) of {@link #holdsMillis()}. */
  double holdMillisPercentile(double p) {
    List<Double> s = holdsMillis().stream().sorted().toList();
    return s.isEmpty() ? Double.NaN : s.get(Math.max(0, (int) Math.ceil(p * s.size()) - 1));
  }

  /**
   * The emission stamps of the token events, in order (epoch µs, set by the sim as it writes each event):
   * what the writer did, whatever the proxies and the client's reads did to the grouping afterwards.
   */
  List<Long> tokenStampsMicros() {
    List<Long> out = new ArrayList<>();
    for (Read r : reads) {
      for (String e : r.events()) {
        Matcher m = STAMP.matcher(e);
        if (isToken(e) && m.find()) {
          out.add(Long.parseLong(m.group(1)));
        }
      }
    }
    return out;
  }

  double holdMillisMax() {
    return holdsMillis().stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
  }

  static double median(List<Double> values) {
    if (values.isEmpty()) {
      return Double.NaN;
    }
    List<Double> s = values.stream().sorted().toList();
    return s.get(s.size() / 2);
  }

  String summary() {
    List<Double> t = tokenArrivalMillis();
    return String.format(Locale.ROOT,
        "status %d, %d reads, %d token events in %d reads (max %d per read), done %s, first token %.1f ms, "
            + "token gap p50 %.1f ms, hold p50 %.2f ms max %.2f ms (%d stamped), Content-Encoding %s, X-Accel-Buffering %s, "
            + "Cache-Control %s, Server %s",
        status, reads.size(), tokenEvents(), readsWithTokenEvents(), maxTokenEventsPerRead(), done(),
        t.isEmpty() ? Double.NaN : t.getFirst(), tokenGapMillisMedian(), median(holdsMillis()), holdMillisMax(),
        holdsMillis().size(), header("Content-Encoding"), header("X-Accel-Buffering"), header("Cache-Control"),
        header("Server"));
  }

  private static int indexOf(byte[] hay, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= hay.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (hay[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  /** Incremental HTTP/1.1 chunked decoder (chunk extensions and trailers ignored). */
  static final class Dechunker {
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
    private long remaining = -1; // -1: expecting a size line; -2: expecting the CRLF after data
    boolean ended;

    byte[] feed(byte[] bytes) {
      pending.write(bytes, 0, bytes.length);
      byte[] p = pending.toByteArray();
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      int i = 0;
      while (!ended && i < p.length) {
        if (remaining == -1) {
          int eol = indexOf(Arrays.copyOfRange(p, i, p.length), new byte[] {'\r', '\n'});
          if (eol < 0) {
            break;
          }
          String line = new String(p, i, eol, StandardCharsets.US_ASCII);
          int semi = line.indexOf(';');
          long size = Long.parseLong((semi >= 0 ? line.substring(0, semi) : line).trim(), 16);
          i += eol + 2;
          if (size == 0) {
            ended = true;
            break;
          }
          remaining = size;
        } else if (remaining == -2) {
          if (p.length - i < 2) {
            break;
          }
          i += 2;
          remaining = -1;
        } else {
          int take = (int) Math.min(remaining, p.length - i);
          out.write(p, i, take);
          i += take;
          remaining -= take;
          if (remaining == 0) {
            remaining = -2;
          }
        }
      }
      pending.reset();
      pending.write(p, i, p.length - i);
      return out.toByteArray();
    }
  }
}
