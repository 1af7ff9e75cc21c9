package dev.tokenpipe.client;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.dialect.EventClassifier;
import dev.tokenpipe.dialect.EventKind;
import dev.tokenpipe.openai.Json;

/**
 * What one event of a stream carries, for {@code bench}, {@code chat} and {@code doctor}: the classification
 * of {@link EventClassifier} (the one definition of a generated token, shared with the gateway; shapes in
 * docs/metrics.md) plus the decoded text of each generated kind, which the tokenizer and the terminal need.
 * Data that is not a JSON object is plain text content (the {@code /v1/stream} token API, where the data is the
 * token itself).
 *
 * @param content          generated text of this event, "" when none
 * @param reasoning        reasoning text of this event, "" when none
 * @param toolCall         tool-call text of this event (the first name or arguments fragment), "" when none
 * @param completionTokens the upstream's output-token count ({@code usage.completion_tokens}, Anthropic's and
 *                         Responses' {@code output_tokens}, Ollama's {@code eval_count}), or -1 when the event
 *                         has none
 * @param error            the error message of an error event, or null
 */
public record ChunkContent(String content, String reasoning, String toolCall, int completionTokens, String error) {

  private static final ChunkContent EMPTY = new ChunkContent("", "", "", -1, null);
  /** One classifier per thread: a load generator's event loop reuses it for every event it reads. */
  private static final ThreadLocal<EventClassifier> CLASSIFIER = ThreadLocal.withInitial(EventClassifier::new);

  /** A plain token (the {@code /v1/stream} API): the data is the generated text. */
  public static ChunkContent plain(String token) {
    return new ChunkContent(token, "", "", -1, null);
  }

  public boolean hasContent() {
    return !content.isEmpty();
  }

  public boolean hasReasoning() {
    return !reasoning.isEmpty();
  }

  public boolean hasToolCall() {
    return !toolCall.isEmpty();
  }

  /** True when the event carries generated output of any kind: content, reasoning or a tool call (a "token"). */
  public boolean isGenerated() {
    return hasContent() || hasReasoning() || hasToolCall();
  }

  /**
   * Classifies one event. A terminator without payload ({@code [DONE]}) and empty data are empty; an event of
   * type {@code error} is an error whatever its data; other data that does not start with {@code {} is plain
   * text content (the token API); JSON that does not parse is an error ("unparseable JSON event"). A JSON
   * terminator is read like any event: Responses' {@code response.completed} and Ollama's last line carry usage.
   *
   * @param type the SSE event type ({@code "message"} when none), or null for an NDJSON line
   */
  public static ChunkContent of(String type, String data) {
    if ("error".equals(type)) {
      return new ChunkContent("", "", "", -1, errorText(data));
    }
    if (data.isEmpty()) {
      return EMPTY;
    }
    EventClassifier c = CLASSIFIER.get();
    try {
      long kind = c.of(type, data);
      if (data.charAt(0) != '{') {
        return EventKind.has(kind, EventKind.TERMINATOR) ? EMPTY : plain(data);
      }
      if (c.malformed()) {
        return new ChunkContent("", "", "", -1, "unparseable JSON event: " + abbreviate(data));
      }
      long usage = EventKind.usage(kind);
      int tokens = (int) Math.min(Integer.MAX_VALUE, usage);
      String error = EventKind.has(kind, EventKind.ERROR) ? errorMessage(data) : null;
      if (!EventKind.generated(kind) && error == null) {
        return tokens < 0 ? EMPTY : new ChunkContent("", "", "", tokens, null);
      }
      return new ChunkContent(c.text(EventKind.CONTENT), c.text(EventKind.REASONING), c.text(EventKind.TOOL_CALL),
          tokens, error);
    } finally {
      c.forget();
    }
  }

  /**
   * The message of an error event (rare, so read with a tree): {@code error.message} (OpenAI, Anthropic),
   * {@code message} (Responses' {@code error} event), {@code response.error.message} ({@code response.failed}),
   * or an {@code error} string (Ollama).
   */
  private static String errorMessage(String data) {
    try {
      JsonNode root = Json.MAPPER.readTree(data);
      for (JsonNode n : new JsonNode[] {root.path("error").path("message"), root.path("message"),
          root.path("response").path("error").path("message"), root.path("error")}) {
        if (n.isTextual() && !n.asText().isEmpty()) {
          return n.asText();
        }
      }
    } catch (Exception e) {
      // the classifier read it as JSON; Jackson's stricter limits may still refuse it
    }
    return "error";
  }

  /** The message of an error body or event: {@code error.message} of JSON, else the text itself (one line, short). */
  public static String errorText(String body) {
    if (body == null || body.isBlank()) {
      return "";
    }
    String trimmed = body.trim();
    if (trimmed.startsWith("{")) {
      ChunkContent c = of("message", trimmed);
      if (c.error() != null && !c.error().startsWith("unparseable")) {
        return abbreviate(c.error());
      }
    }
    return abbreviate(trimmed);
  }

  private static String abbreviate(String s) {
    String one = s.replaceAll("\\s+", " ").trim();
    return one.length() <= 200 ? one : one.substring(0, 197) + "...";
  }
}
