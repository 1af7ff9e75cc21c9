package dev.tokenpipe.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.sse.SseEvent;
import dev.tokenpipe.sse.SseListener;
import dev.tokenpipe.sse.SseParser;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A raw-socket HTTP client that keeps every byte: sends a request written out by the test, reads one
 * response (to its last chunk, its full length, or the server's close, whichever the head says), and
 * decodes the body itself. Every read has a deadline; a response that does not end in time is reported
 * as {@link Response#timedOut}, never as a hang.
 */
final class Wire {
  private Wire() {}

  /** A request line, headers and a JSON body with its length. */
  static String post(String version, String path, String json, String... headers) {
    StringBuilder sb = new StringBuilder("POST " + path + " " + version + "\r\nHost: 127.0.0.1\r\n");
    for (String h : headers) {
      sb.append(h).append("\r\n");
    }
    byte[] body = json.getBytes(StandardCharsets.UTF_8);
    sb.append("Content-Type: application/json\r\nContent-Length: ").append(body.length).append("\r\n\r\n").append(json);
    return sb.toString();
  }

  static Response post(int port, String path, String json, String... headers) throws IOException {
    return send(port, post("HTTP/1.1", path, json, headers), Duration.ofSeconds(15));
  }

  /** Sends {@code request} as is and reads one response, for at most {@code timeout} in all. */
  static Response send(int port, String request, Duration timeout) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
      s.setTcpNoDelay(true);
      OutputStream out = s.getOutputStream();
      out.write(request.getBytes(StandardCharsets.UTF_8));
      out.flush();
      return read(s, timeout);
    }
  }

  /**
   * Reads one response from {@code s} (which stays open unless the server closed it). Linear in the bytes read:
   * the whole response is parsed again only when a read could have ended it (see {@link EndWatch}), so a
   * multi-megabyte stream in thousands of reads costs no more to receive than to send.
   */
  static Response read(Socket s, Duration timeout) throws IOException {
    long deadline = System.nanoTime() + timeout.toNanos();
    InputStream in = s.getInputStream();
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    List<Long> readNanos = new ArrayList<>();
    List<byte[]> reads = new ArrayList<>();
    byte[] buf = new byte[65536];
    EndWatch watch = new EndWatch();
    boolean closed = false;
    boolean timedOut = false;
    boolean check = true;
    while (true) {
      if (check || closed || timedOut) {
        Response r = Response.parse(all.toByteArray(), closed, timedOut, reads, readNanos);
        if (r.complete || closed || timedOut) {
          return r;
        }
        watch.learn(r, all.size());
      }
      long left = (deadline - System.nanoTime()) / 1_000_000;
      if (left <= 0) {
        timedOut = true;
        continue;
      }
      s.setSoTimeout((int) Math.max(1, left));
      try {
        int n = in.read(buf);
        if (n < 0) {
          closed = true;
        } else {
          all.write(buf, 0, n);
          reads.add(Arrays.copyOf(buf, n));
          readNanos.add(System.nanoTime());
          check = watch.mayHaveEnded(buf, n, all.size());
        }
      } catch (SocketTimeoutException e) {
        timedOut = true;
      } catch (IOException e) {
        closed = true; // a reset counts as a close here; the test asserts what arrived before it
      }
    }
  }

  /**
   * Says cheaply whether the bytes so far could hold the end of the response. Until the final head is known,
   * any read could; then a chunked body can only have ended when the bytes end with CRLF CRLF (the last chunk,
   * or the trailers after it), a body with a length when that many bytes are in, and any other body only at a
   * close.
   */
  private static final class EndWatch {
    private boolean headKnown;
    private boolean chunked;
    private long endsAt = -1;
    private final byte[] tail = new byte[4];
    private int tailLength;

    /** @param total the bytes read so far, which {@code r} was parsed from */
    void learn(Response r, int total) {
      if (r.status() >= 200) {
        headKnown = true;
        chunked = r.chunked();
        String length = r.headerValue("content-length");
        endsAt = !chunked && length != null ? total - r.rawBody().length + Long.parseLong(length) : -1;
      }
    }

    boolean mayHaveEnded(byte[] read, int n, int total) {
      for (int i = Math.max(0, n - 4); i < n; i++) {
        System.arraycopy(tail, 1, tail, 0, 3);
        tail[3] = read[i];
        tailLength = Math.min(4, tailLength + 1);
      }
      if (!headKnown) {
        return true;
      }
      if (chunked) {
        return tailLength == 4 && tail[0] == '\r' && tail[1] == '\n' && tail[2] == '\r' && tail[3] == '\n';
      }
      return endsAt >= 0 && total >= endsAt;
    }
  }

  /**
   * One response as it came off the socket.
   *
   * @param head status line and headers, lower-cased
   * @param rawBody the bytes after the head, chunk framing included
   * @param body the decoded body (chunks joined; the raw body when close-delimited)
   * @param chunked whether the body was chunked
   * @param complete the body ended by its framing (last chunk, full length) rather than by a close
   * @param closed the server closed the connection (or reset it)
   * @param timedOut the deadline passed before the response ended
   * @param reads the socket reads, in order, and their arrival times (System.nanoTime)
   */
  record Response(String head, int status, byte[] rawBody, byte[] body, boolean chunked, boolean complete,
      boolean closed, boolean timedOut, List<byte[]> reads, List<Long> readNanos) {
    private static final Pattern STATUS = Pattern.compile("^http/1\\.[01] (\\d{3})");

    static Response parse(byte[] all, boolean closed, boolean timedOut, List<byte[]> reads, List<Long> readNanos) {
      int headEnd = indexOf(all, "\r\n\r\n".getBytes(StandardCharsets.US_ASCII), 0);
      while (headEnd >= 0 && startsWith1xx(all)) { // skip interim responses (1xx) to the final one
        all = Arrays.copyOfRange(all, headEnd + 4, all.length);
        headEnd = indexOf(all, "\r\n\r\n".getBytes(StandardCharsets.US_ASCII), 0);
      }
      if (headEnd < 0) {
        return new Response(new String(all, StandardCharsets.ISO_8859_1).toLowerCase(Locale.ROOT), -1, new byte[0],
            new byte[0], false, false, closed, timedOut, List.copyOf(reads), List.copyOf(readNanos));
      }
      String head = new String(all, 0, headEnd, StandardCharsets.ISO_8859_1).toLowerCase(Locale.ROOT);
      Matcher m = STATUS.matcher(head);
      int status = m.find() ? Integer.parseInt(m.group(1)) : -1;
      byte[] raw = Arrays.copyOfRange(all, headEnd + 4, all.length);
      boolean chunked = head.contains("\r\ntransfer-encoding: chunked");
      Matcher len = Pattern.compile("\r\ncontent-length: (\\d+)").matcher(head);
      byte[] body;
      boolean complete;
      if (chunked) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        complete = dechunk(raw, b);
        body = b.toByteArray();
      } else if (len.find()) {
        int n = Integer.parseInt(len.group(1));
        complete = raw.length >= n;
        body = Arrays.copyOf(raw, Math.min(n, raw.length));
      } else {
        complete = status == 204 || status == 304;
        body = raw;
      }
      return new Response(head, status, raw, body, chunked, complete, closed, timedOut, List.copyOf(reads),
          List.copyOf(readNanos));
    }

    private static boolean startsWith1xx(byte[] all) {
      return all.length > 9 && all[9] == '1' && new String(all, 0, 5, StandardCharsets.US_ASCII).equals("HTTP/");
    }

    /** Decodes chunks into {@code out}; true when the last chunk (and the CRLF after it) arrived. */
    private static boolean dechunk(byte[] raw, ByteArrayOutputStream out) {
      int i = 0;
      while (true) {
        int eol = indexOf(raw, new byte[] {'\r', '\n'}, i);
        if (eol < 0) {
          return false;
        }
        String size = new String(raw, i, eol - i, StandardCharsets.US_ASCII).split(";")[0].trim();
        int n;
        try {
          n = Integer.parseInt(size, 16);
        } catch (NumberFormatException e) {
          return false;
        }
        if (n == 0) {
          return indexOf(raw, "\r\n\r\n".getBytes(StandardCharsets.US_ASCII), eol) == eol; // no trailers expected
        }
        if (eol + 2 + n + 2 > raw.length) {
          out.write(raw, eol + 2, Math.max(0, Math.min(n, raw.length - eol - 2)));
          return false;
        }
        out.write(raw, eol + 2, n);
        i = eol + 2 + n + 2;
      }
    }

    String headerValue(String name) {
      for (String line : head.split("\r\n")) {
        if (line.startsWith(name.toLowerCase(Locale.ROOT) + ":")) {
          return line.substring(name.length() + 1).trim();
        }
      }
      return null;
    }

    String bodyText() {
      return new String(body, StandardCharsets.UTF_8);
    }

    JsonNode json() throws IOException {
      return Json.MAPPER.readTree(body);
    }

    /** The events a WHATWG client dispatches from this body (the project's own parser). */
    Parsed events() {
      return Parsed.of(body);
    }

    /** The body without comment lines ({@code :...\n}): what is left when heartbeats are ignored. */
    String bodyWithoutComments() {
      return withoutComments(bodyText());
    }

    @Override
    public String toString() {
      return head + "\r\n\r\n" + new String(rawBody, StandardCharsets.UTF_8) + (closed ? " [closed]" : "")
          + (timedOut ? " [timed out]" : "");
    }
  }

  /** Everything an SSE parser dispatched from a byte stream. */
  record Parsed(List<SseEvent> events, List<String> comments) {
    static Parsed of(byte[] stream) {
      List<SseEvent> events = new ArrayList<>();
      List<String> comments = new ArrayList<>();
      SseParser p = new SseParser(new SseListener() {
        @Override
        public void onEvent(SseEvent event) {
          events.add(event);
        }

        @Override
        public void onComment(String comment) {
          comments.add(comment);
        }
      });
      p.feed(stream, 0, stream.length);
      p.end();
      return new Parsed(events, comments);
    }

    static Parsed of(String stream) {
      return of(stream.getBytes(StandardCharsets.UTF_8));
    }

    List<String> data() {
      return events.stream().map(SseEvent::data).toList();
    }

    List<String> types() {
      return events.stream().map(SseEvent::type).toList();
    }
  }

  static String withoutComments(String sse) {
    StringBuilder sb = new StringBuilder();
    int lineStart = 0;
    // Comment lines only at line starts, after an LF (the streams here use LF line ends).
    while (lineStart < sse.length()) {
      int eol = sse.indexOf('\n', lineStart);
      int end = eol < 0 ? sse.length() : eol + 1;
      boolean comment = sse.charAt(lineStart) == ':';
      if (comment) {
        // A comment line followed by a blank line was a whole heartbeat "event": drop that blank line too.
        if (end < sse.length() && sse.charAt(end) == '\n') {
          end++;
        }
      } else {
        sb.append(sse, lineStart, end);
      }
      lineStart = end;
    }
    return sb.toString();
  }

  static int indexOf(byte[] hay, byte[] needle, int from) {
    outer:
    for (int i = Math.max(0, from); i <= hay.length - needle.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (hay[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }
}
