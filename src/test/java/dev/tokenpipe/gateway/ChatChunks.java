package dev.tokenpipe.gateway;

import dev.tokenpipe.openai.Json;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** The JSON of OpenAI chat completion chunks as vLLM, Ollama and OpenAI send them, for scripted upstreams. */
final class ChatChunks {
  private ChatChunks() {}

  static String role() {
    return chunk("{\"role\":\"assistant\",\"content\":\"\"}", null);
  }

  static String content(String text) {
    return chunk("{\"content\":" + quote(text) + "}", null);
  }

  static String reasoning(String text) {
    return chunk("{\"reasoning_content\":" + quote(text) + "}", null);
  }

  /** One tool-call delta: the first carries the id and the name, the later ones argument fragments. */
  static String toolCall(String id, String name, String arguments) {
    String function = (name == null ? "" : "\"name\":" + quote(name) + ",") + "\"arguments\":" + quote(arguments);
    String call = "{\"index\":0," + (id == null ? "" : "\"id\":" + quote(id) + ",\"type\":\"function\",")
        + "\"function\":{" + function + "}}";
    return chunk("{\"tool_calls\":[" + call + "]}", null);
  }

  static String finish(String reason) {
    return chunk("{}", reason);
  }

  static final String DONE = "[DONE]";

  /** One SSE event carrying {@code json} as its data. */
  static String sseEvent(String json) {
    return "data: " + json + "\n\n";
  }

  /** A whole chat stream as SSE events: the role chunk, one content chunk per text, then {@code [DONE]}. */
  static List<String> sseStream(String... texts) {
    List<String> all = new ArrayList<>();
    all.add(sseEvent(role()));
    for (String t : texts) {
      all.add(sseEvent(content(t)));
    }
    all.add(sseEvent(DONE));
    return all;
  }

  /** {@code data} framed as one HTTP/1.1 chunk whose size line is {@code sizeLine} (hex digits). */
  static byte[] httpChunk(String sizeLine, byte[] data) {
    byte[] line = (sizeLine + "\r\n").getBytes(StandardCharsets.US_ASCII);
    byte[] out = new byte[line.length + data.length + 2];
    System.arraycopy(line, 0, out, 0, line.length);
    System.arraycopy(data, 0, out, line.length, data.length);
    out[out.length - 2] = '\r';
    out[out.length - 1] = '\n';
    return out;
  }

  private static String chunk(String delta, String finishReason) {
    return "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\","
        + "\"choices\":[{\"index\":0,\"delta\":" + delta + ",\"finish_reason\":"
        + (finishReason == null ? "null" : quote(finishReason)) + "}]}";
  }

  static String quote(String s) {
    try {
      return Json.MAPPER.writeValueAsString(s);
    } catch (Exception e) {
      throw new IllegalArgumentException(e);
    }
  }
}
