package dev.tokenpipe.client;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A model upstream for the client tests on plain blocking sockets ({@code TCP_NODELAY}, so no Nagle holding
 * muddles a timing): per path a scripted response whose parts are each written as their own HTTP chunk and
 * flushed, with {@link #pause} between them and {@link #CUT} to drop the connection without the last chunk.
 * Keep-alive: a connection serves requests until the client closes it. Every request's head and body is kept.
 * The canned streams below follow the APIs' documented event sequences (Anthropic Messages streaming,
 * OpenAI Responses streaming, Ollama's NDJSON), so the clients read what a real server writes.
 */
public final class DialectUpstream implements AutoCloseable {
  public static final String SSE = "text/event-stream; charset=utf-8";
  public static final String NDJSON = "application/x-ndjson";
  /** Script part: close the socket at once, without the chunked body's last chunk. */
  public static final String CUT = "\u0000CUT";
  private static final String PAUSE = "\u0000PAUSE ";

  /** One request as it arrived: header names lower-cased. */
  public record Seen(String method, String path, Map<String, String> headers, String body) {}

  private record Route(String contentType, List<String> parts) {}

  private final ServerSocket server;
  private final ExecutorService threads = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "dialect-upstream");
    t.setDaemon(true);
    return t;
  });
  private final Map<String, Route> routes = new ConcurrentHashMap<>();
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  public final List<Seen> seen = new CopyOnWriteArrayList<>();

  public DialectUpstream() throws IOException {
    server = new ServerSocket(0, 100, InetAddress.getLoopbackAddress());
    threads.execute(this::acceptLoop);
  }

  /** Answers requests to {@code path} (query ignored) with a 200 of {@code contentType} streaming {@code parts}. */
  public DialectUpstream on(String path, String contentType, List<String> parts) {
    routes.put(path, new Route(contentType, List.copyOf(parts)));
    return this;
  }

  public String url(String path) {
    return "http://127.0.0.1:" + server.getLocalPort() + path;
  }

  /** Script part: wait {@code millis} before the next part. */
  public static String pause(int millis) {
    return PAUSE + millis;
  }

  /** One SSE event with a type, as Anthropic and Responses write them. */
  public static String event(String type, String data) {
    return "event: " + type + "\ndata: " + data + "\n\n";
  }

  /** The parts up to, not including, the first that contains {@code marker}: a stream cut before its end. */
  public static List<String> before(List<String> parts, String marker) {
    List<String> out = new ArrayList<>();
    for (String p : parts) {
      if (p.contains(marker)) {
        return out;
      }
      out.add(p);
    }
    throw new IllegalArgumentException("no part contains " + marker);
  }

  // ------------------------------------------------------------------------------------------ canned streams

  /**
   * An Anthropic Messages stream (docs.anthropic.com/en/api/messages-streaming): message_start (input usage and
   * output_tokens 1, which is not the output), a text block with a ping, a 150 ms pause before the first delta,
   * {@code texts} 20 ms apart, message_delta with the output usage, message_stop.
   */
  public static List<String> anthropic(List<String> texts, int outputTokens) {
    List<String> out = new ArrayList<>(anthropicStart());
    out.add(event("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"));
    out.add(event("ping", "{\"type\": \"ping\"}"));
    out.add(pause(150));
    addDeltas(out, 0, "text_delta", "text", texts);
    out.add(event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"));
    out.addAll(anthropicEnd(outputTokens));
    return out;
  }

  /** As {@link #anthropic}, with a thinking block (thinking_delta, then signature_delta) before the text block. */
  public static List<String> anthropicThinking(List<String> thoughts, List<String> texts, int outputTokens) {
    List<String> out = new ArrayList<>(anthropicStart());
    out.add(event("content_block_start",
        "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}"));
    out.add(pause(150));
    addDeltas(out, 0, "thinking_delta", "thinking", thoughts);
    out.add(event("content_block_delta",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBCgIYAhIM\"}}"));
    out.add(event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"));
    out.add(event("content_block_start", "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"));
    out.add(pause(150));
    addDeltas(out, 1, "text_delta", "text", texts);
    out.add(event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}"));
    out.addAll(anthropicEnd(outputTokens));
    return out;
  }

  /** An Anthropic stream that fails mid-way with its in-band {@code event: error} (overloaded_error). */
  public static List<String> anthropicOverloaded() {
    List<String> out = new ArrayList<>(anthropicStart());
    out.add(event("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"));
    out.add(pause(20));
    addDeltas(out, 0, "text_delta", "text", List.of("Hel"));
    out.add(event("error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"));
    return out;
  }

  private static List<String> anthropicStart() {
    return List.of(event("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\","
        + "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-test\",\"stop_reason\":null,\"stop_sequence\":null,"
        + "\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}"));
  }

  private static List<String> anthropicEnd(int outputTokens) {
    return List.of(
        event("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
            + "\"usage\":{\"output_tokens\":" + outputTokens + "}}"),
        event("message_stop", "{\"type\":\"message_stop\"}"));
  }

  private static void addDeltas(List<String> out, int index, String type, String field, List<String> texts) {
    for (int i = 0; i < texts.size(); i++) {
      if (i > 0) {
        out.add(pause(20));
      }
      out.add(event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":" + index + ",\"delta\":{\"type\":\""
          + type + "\",\"" + field + "\":" + quote(texts.get(i)) + "}}"));
    }
  }

  /**
   * An OpenAI Responses stream (platform.openai.com/docs/api-reference/responses-streaming): response.created and
   * .in_progress, the message item and its part, a 150 ms pause, {@code texts} as output_text deltas 20 ms apart,
   * the .done events, then {@code end}: {@code response.completed} or {@code response.incomplete} with the usage.
   */
  public static List<String> responses(List<String> texts, int outputTokens, String end) {
    List<String> out = new ArrayList<>(responsesStart());
    int seq = out.size();
    out.add(event("response.output_item.added", "{\"type\":\"response.output_item.added\",\"sequence_number\":" + seq++
        + ",\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]}}"));
    out.add(event("response.content_part.added", "{\"type\":\"response.content_part.added\",\"sequence_number\":" + seq++
        + ",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}}"));
    out.add(pause(150));
    for (int i = 0; i < texts.size(); i++) {
      if (i > 0) {
        out.add(pause(20));
      }
      out.add(event("response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":" + seq++
          + ",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":" + quote(texts.get(i)) + ",\"logprobs\":[]}"));
    }
    String all = quote(String.join("", texts));
    out.add(event("response.output_text.done", "{\"type\":\"response.output_text.done\",\"sequence_number\":" + seq++
        + ",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"text\":" + all + ",\"logprobs\":[]}"));
    out.add(event("response.content_part.done", "{\"type\":\"response.content_part.done\",\"sequence_number\":" + seq++
        + ",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":" + all
        + ",\"annotations\":[]}}"));
    String item = "{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":"
        + "\"output_text\",\"text\":" + all + ",\"annotations\":[]}]}";
    out.add(event("response.output_item.done", "{\"type\":\"response.output_item.done\",\"sequence_number\":" + seq++
        + ",\"output_index\":0,\"item\":" + item + "}"));
    String status = end.equals("response.completed") ? "completed" : "incomplete";
    String details = status.equals("incomplete") ? "{\"reason\":\"max_output_tokens\"}" : "null";
    out.add(event(end, "{\"type\":\"" + end + "\",\"sequence_number\":" + seq + ",\"response\":{\"id\":\"resp_1\",\"object\":"
        + "\"response\",\"created_at\":1741290958,\"status\":\"" + status + "\",\"error\":null,\"incomplete_details\":" + details
        + ",\"model\":\"gpt-test\",\"output\":[" + item + "],\"usage\":{\"input_tokens\":10,\"input_tokens_details\":"
        + "{\"cached_tokens\":0},\"output_tokens\":" + outputTokens + ",\"output_tokens_details\":{\"reasoning_tokens\":0},"
        + "\"total_tokens\":" + (10 + outputTokens) + "}}}"));
    return out;
  }

  /** A Responses stream that fails after one delta with {@code response.failed} (its terminator and error). */
  public static List<String> responsesFailed() {
    List<String> out = new ArrayList<>(responsesStart());
    out.add(pause(20));
    out.add(event("response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":2,"
        + "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\"}"));
    out.add(event("response.failed", "{\"type\":\"response.failed\",\"sequence_number\":3,\"response\":{\"id\":\"resp_1\","
        + "\"object\":\"response\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":"
        + "\"The model failed to generate a response.\"},\"incomplete_details\":null,\"output\":[],\"usage\":null}}"));
    return out;
  }

  private static List<String> responsesStart() {
    String response = "{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1741290958,\"status\":\"in_progress\","
        + "\"error\":null,\"incomplete_details\":null,\"model\":\"gpt-test\",\"output\":[],\"usage\":null}";
    return List.of(
        event("response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":" + response + "}"),
        event("response.in_progress", "{\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":" + response + "}"));
  }

  /** An Ollama {@code /api/chat} NDJSON stream: one line per token 20 ms apart, the last with done and eval_count. */
  public static List<String> ollama(List<String> texts, int evalCount) {
    List<String> out = new ArrayList<>();
    for (String t : texts) {
      out.add("{\"model\":\"llama3\",\"created_at\":\"2026-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":"
          + quote(t) + "},\"done\":false}\n");
      out.add(pause(20));
    }
    out.add("{\"model\":\"llama3\",\"created_at\":\"2026-01-01T00:00:01Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},"
        + "\"done\":true,\"done_reason\":\"stop\",\"eval_count\":" + evalCount + "}\n");
    return out;
  }

  private static String quote(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
  }

  // ------------------------------------------------------------------------------------------------ serving

  private void acceptLoop() {
    while (!server.isClosed()) {
      try {
        Socket s = server.accept();
        s.setTcpNoDelay(true);
        s.setSoTimeout(30_000);
        sockets.add(s);
        threads.execute(() -> serve(s));
      } catch (IOException e) {
        return;
      }
    }
  }

  private void serve(Socket s) {
    try (s) {
      InputStream in = new BufferedInputStream(s.getInputStream());
      OutputStream out = s.getOutputStream();
      while (true) {
        String requestLine = line(in);
        if (requestLine == null) {
          return;
        }
        Map<String, String> headers = new HashMap<>();
        for (String h = line(in); h != null && !h.isEmpty(); h = line(in)) {
          int colon = h.indexOf(':');
          if (colon > 0) {
            headers.put(h.substring(0, colon).trim().toLowerCase(Locale.ROOT), h.substring(colon + 1).trim());
          }
        }
        int length = Integer.parseInt(headers.getOrDefault("content-length", "0"));
        String body = new String(in.readNBytes(length), StandardCharsets.UTF_8);
        String[] words = requestLine.split(" ");
        String path = words.length > 1 ? words[1].replaceFirst("\\?.*", "") : "/";
        seen.add(new Seen(words[0], path, Map.copyOf(headers), body));
        Route route = routes.get(path);
        if (route == null) {
          byte[] json = "{\"error\":{\"message\":\"no such route\",\"type\":\"invalid_request_error\"}}".getBytes(StandardCharsets.UTF_8);
          out.write(("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: " + json.length + "\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
          out.write(json);
          out.flush();
          continue;
        }
        out.write(("HTTP/1.1 200 OK\r\nContent-Type: " + route.contentType() + "\r\nCache-Control: no-cache\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.flush();
        for (String part : route.parts()) {
          if (part.equals(CUT)) {
            s.setSoLinger(true, 0);
            return;
          }
          if (part.startsWith(PAUSE)) {
            Thread.sleep(Integer.parseInt(part.substring(PAUSE.length())));
            continue;
          }
          byte[] bytes = part.getBytes(StandardCharsets.UTF_8);
          out.write((Integer.toHexString(bytes.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
          out.write(bytes);
          out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
          out.flush();
        }
        out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        out.flush();
      }
    } catch (IOException e) {
      // the client went away
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** One CRLF-terminated line, null at the end of the stream. */
  private static String line(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int c;
    while ((c = in.read()) >= 0) {
      if (c == '\n') {
        String s = b.toString(StandardCharsets.ISO_8859_1);
        return s.endsWith("\r") ? s.substring(0, s.length() - 1) : s;
      }
      b.write(c);
    }
    return b.size() == 0 ? null : b.toString(StandardCharsets.ISO_8859_1);
  }

  @Override
  public void close() throws IOException {
    server.close();
    for (Socket s : sockets) {
      try {
        s.close();
      } catch (IOException ignored) {
        // closing anyway
      }
    }
    threads.shutdownNow();
  }
}
