package dev.tokenpipe.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.sse.SseEncoder;

/**
 * What one event's payload means to the gateway's books, read from an OpenAI chat or completion chunk,
 * an Ollama NDJSON line, or a plain {@code /v1/stream} token.
 *
 * @param done the stream's terminator ({@code [DONE]}, or Ollama's {@code "done":true})
 * @param content generated text carried by this event; empty for role-only chunks, finish and usage
 *     chunks (they are not tokens, see DESIGN.md "TTFT")
 * @param usageTokens {@code usage.completion_tokens} (or Ollama's {@code eval_count}) when present, else -1
 * @param error the payload when it is an OpenAI error object {@code {"error":{...}}}, else null
 */
record Chunk(boolean done, String content, long usageTokens, String error) {
  private static final Chunk DONE = new Chunk(true, "", -1, null);
  private static final Chunk NOTHING = new Chunk(false, "", -1, null);

  boolean isContent() {
    return !content.isEmpty();
  }

  /** Visible text (not reasoning or tool input): the first one is the content TTFT. */
  boolean isText() {
    return !content.isEmpty();
  }

  static Chunk error(String json) {
    return new Chunk(false, "", -1, json);
  }

  /**
   * @param plainTokens true for the {@code /v1/stream} API, where non-JSON data is the token itself
   */
  static Chunk classify(String data, boolean plainTokens) {
    if (SseEncoder.DONE.equals(data)) {
      return DONE;
    }
    if (data.isEmpty() || data.charAt(0) != '{') {
      return plainTokens ? new Chunk(false, data, -1, null) : NOTHING;
    }
    JsonNode root;
    try {
      root = Json.MAPPER.readTree(data);
    } catch (Exception e) {
      return plainTokens ? new Chunk(false, data, -1, null) : NOTHING;
    }
    if (root == null || !root.isObject()) {
      return NOTHING;
    }
    if (root.path("error").isObject()) {
      return new Chunk(false, "", -1, data);
    }
    String content = "";
    JsonNode choice = root.path("choices").path(0);
    if (choice.isObject()) {
      content = text(choice.path("delta").path("content"));
      if (content.isEmpty()) {
        content = text(choice.path("text"));
      }
    } else if (root.path("message").isObject()) {
      content = text(root.path("message").path("content")); // Ollama /api/chat
    } else if (root.has("response")) {
      content = text(root.path("response")); // Ollama /api/generate
    }
    long usage = -1;
    JsonNode u = root.path("usage").path("completion_tokens");
    if (u.isIntegralNumber()) {
      usage = u.asLong();
    } else if (root.path("eval_count").isIntegralNumber()) {
      usage = root.path("eval_count").asLong();
    }
    boolean done = root.path("done").asBoolean(false);
    return new Chunk(done, content, usage, null);
  }

  private static String text(JsonNode n) {
    return n.isTextual() ? n.asText() : "";
  }
}
