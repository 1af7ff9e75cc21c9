package dev.tokenpipe.gateway;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An upstream on plain blocking sockets whose every byte a test scripts: status line, headers, framing,
 * half lines, resets. A request is routed to the script registered for its body's {@code "model"} (so an
 * SDK, which always posts to {@code /v1/chat/completions}, can pick one), else for its path. Requests and
 * connections are counted, request heads kept. A connection serves requests one after the other until
 * a script closes or resets it (keep-alive, as the gateway's pool expects).
 */
final class ScriptedUpstream implements AutoCloseable {
  interface Script {
    void serve(Exchange x) throws IOException, InterruptedException;
  }

  private static final Pattern MODEL = Pattern.compile("\"model\"\\s*:\\s*\"([^\"]*)\"");

  private final ServerSocket server;
  private final ExecutorService threads = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "scripted-upstream");
    t.setDaemon(true);
    return t;
  });
  private final Map<String, Script> scripts = new ConcurrentHashMap<>();
  private final Map<String, AtomicInteger> requests = new ConcurrentHashMap<>();
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  final AtomicInteger connections = new AtomicInteger();
  /** Connections that ended: closed by the gateway, reset, or timed out idle. */
  final AtomicInteger ended = new AtomicInteger();
  final List<String> heads = new CopyOnWriteArrayList<>();
  /** For each request in {@link #heads}, the number (1, 2, ...) of the connection it came on. */
  final List<Integer> headConnections = new CopyOnWriteArrayList<>();

  ScriptedUpstream() throws IOException {
    server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    threads.execute(this::acceptLoop);
  }

  /** Registers the script for a model name or a path. */
  ScriptedUpstream on(String modelOrPath, Script script) {
    scripts.put(modelOrPath, script);
    return this;
  }

  /** Requests routed to {@code modelOrPath} so far. */
  int requests(String modelOrPath) {
    AtomicInteger n = requests.get(modelOrPath);
    return n == null ? 0 : n.get();
  }

  String url() {
    return "http://127.0.0.1:" + server.getLocalPort();
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      try {
        Socket s = server.accept();
        s.setTcpNoDelay(true);
        s.setSoTimeout(30_000); // an idle pooled connection must not keep a thread forever
        sockets.add(s);
        int number = connections.incrementAndGet();
        threads.execute(() -> serve(s, number));
      } catch (IOException e) {
        return;
      }
    }
  }

  private void serve(Socket s, int connection) {
    try (s) {
      InputStream in = new BufferedInputStream(s.getInputStream());
      while (!s.isClosed()) {
        String head = readHead(in);
        if (head == null) {
          return;
        }
        byte[] body = in.readNBytes(contentLength(head));
        String text = new String(body, StandardCharsets.UTF_8);
        headConnections.add(connection);
        heads.add(head);
        String path = head.split(" ")[1];
        Matcher m = MODEL.matcher(text);
        String key = m.find() && scripts.containsKey(m.group(1)) ? m.group(1) : path;
        requests.computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet();
        Exchange x = new Exchange(s, head, text);
        Script script = scripts.get(key);
        if (script == null) {
          x.write("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
          continue;
        }
        script.serve(x);
      }
    } catch (IOException e) {
      // the gateway closed the connection, or a script reset it: part of several tests
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      ended.incrementAndGet();
    }
  }

  /** The request head, or null when the connection ended cleanly before a new request. */
  private static String readHead(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int state = 0;
    while (state < 4) {
      int c = in.read();
      if (c < 0) {
        if (b.size() == 0) {
          return null;
        }
        throw new IOException("eof in head");
      }
      b.write(c);
      state = (c == '\r' && (state == 0 || state == 2)) || (c == '\n' && (state == 1 || state == 3)) ? state + 1 : 0;
    }
    return b.toString(StandardCharsets.ISO_8859_1);
  }

  private static int contentLength(String head) {
    for (String line : head.split("\r\n")) {
      if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
        return Integer.parseInt(line.substring(15).trim());
      }
    }
    return 0;
  }

  /** One request and the means to answer it byte by byte. Every write is flushed at once. */
  static final class Exchange {
    final Socket socket;
    final String head;
    final String body;
    private final OutputStream out;

    Exchange(Socket socket, String head, String body) throws IOException {
      this.socket = socket;
      this.head = head;
      this.body = body;
      this.out = socket.getOutputStream();
    }

    /** Raw bytes, as they are (status lines, headers, broken framing). */
    Exchange write(byte[] bytes) throws IOException {
      out.write(bytes);
      out.flush();
      return this;
    }

    /** Raw text as UTF-8. */
    Exchange write(String text) throws IOException {
      return write(text.getBytes(StandardCharsets.UTF_8));
    }

    /** A 200 event-stream head, chunked, plus {@code extraHeaders} (each ending in CRLF). */
    Exchange sseHead(String extraHeaders) throws IOException {
      return write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
          + extraHeaders + "\r\n");
    }

    /** One HTTP/1.1 chunk holding {@code data}. */
    Exchange chunk(byte[] data) throws IOException {
      ByteArrayOutputStream b = new ByteArrayOutputStream();
      b.writeBytes((Integer.toHexString(data.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
      b.writeBytes(data);
      b.writeBytes("\r\n".getBytes(StandardCharsets.US_ASCII));
      return write(b.toByteArray());
    }

    Exchange chunk(String data) throws IOException {
      return chunk(data.getBytes(StandardCharsets.UTF_8));
    }

    /** One SSE event {@code data: <json>} in a chunk of its own. */
    Exchange event(String json) throws IOException {
      return chunk("data: " + json + "\n\n");
    }

    /** The last chunk: the body ends cleanly. */
    Exchange end() throws IOException {
      return write("0\r\n\r\n");
    }

    /** A complete JSON response with a length. */
    Exchange json(int status, String reason, String extraHeaders, String json) throws IOException {
      byte[] b = json.getBytes(StandardCharsets.UTF_8);
      write("HTTP/1.1 " + status + " " + reason + "\r\nContent-Type: application/json\r\nContent-Length: " + b.length
          + "\r\n" + extraHeaders + "\r\n");
      return write(b);
    }

    Exchange pause(long millis) throws InterruptedException {
      Thread.sleep(millis);
      return this;
    }

    /** Closes with a FIN. */
    void close() throws IOException {
      socket.close();
    }

    /** Closes with a RST (SO_LINGER 0): what a crashed or killed server's kernel sends. */
    void reset() throws IOException {
      socket.setSoLinger(true, 0);
      socket.close();
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
    for (Socket s : sockets) {
      s.close();
    }
    threads.shutdownNow();
  }
}
