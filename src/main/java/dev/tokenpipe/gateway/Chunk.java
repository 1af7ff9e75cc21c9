package dev.tokenpipe.gateway;

import dev.tokenpipe.dialect.EventClassifier;
import dev.tokenpipe.dialect.EventKind;
import dev.tokenpipe.openai.Json;

/**
 * What one event's payload means to the gateway's books: {@link EventClassifier}'s classification (the one
 * definition of a generated token, docs/metrics.md) of an OpenAI chat or completion chunk, an Ollama NDJSON
 * line, an Anthropic Messages or OpenAI Responses event, or a plain {@code /v1/stream} token.
 *
 * @param kind {@link EventKind} bits and usage of the event
 * @param data the event's data (kept for the rare callers that need its text: the token translator, errors);
 *     null when {@link StreamScanner} classified the event in place and it is no error (its text is never read)
 * @param plainToken true when the data is a {@code /v1/stream} token itself, not JSON
 */
record Chunk(long kind, String data, boolean plainToken) {

  /** {@link #classify(String, String, boolean)} of an event without an SSE type (an NDJSON line). */
  static Chunk classify(String data, boolean plainTokens) {
    return classify(null, data, plainTokens);
  }

  /**
   * @param sseType the SSE event type, or null for NDJSON
   * @param plainTokens true for the {@code /v1/stream} API, where non-JSON data is the token itself
   */
  static Chunk classify(String sseType, String data, boolean plainTokens) {
    long kind = EventClassifier.classify(sseType, data);
    boolean plain = plainTokens && kind == EventKind.NONE && !data.isEmpty() && data.charAt(0) != '{';
    return new Chunk(kind, data, plain);
  }

  /** The stream's terminator ({@code [DONE]}, Ollama's {@code "done":true}, {@code message_stop}, ...). */
  boolean done() {
    return EventKind.has(kind, EventKind.TERMINATOR);
  }

  /**
   * True when the event carries generated output of any kind (content, reasoning or a tool call) or is a
   * plain token: what starts TTFT, stops the first-token timer and counts as a token. Role-only chunks,
   * empty deltas, finish and usage chunks do not (DESIGN.md "TTFT").
   */
  boolean isContent() {
    return isContent(kind, plainToken);
  }

  /** {@link #isContent()} of an event of this kind, without the record. */
  static boolean isContent(long kind, boolean plainToken) {
    return plainToken || EventKind.generated(kind);
  }

  /** True when the event carries text the user reads (not only reasoning or a tool call). */
  boolean hasText() {
    return hasText(kind, plainToken);
  }

  /** {@link #hasText()} of an event of this kind, without the record. */
  static boolean hasText(long kind, boolean plainToken) {
    return plainToken || EventKind.has(kind, EventKind.CONTENT);
  }

  boolean isReasoning() {
    return EventKind.has(kind, EventKind.REASONING);
  }

  boolean isToolCall() {
    return EventKind.has(kind, EventKind.TOOL_CALL);
  }

  /** The generated text of this event (the first non-empty one, in document order), "" when none; decodes on each call. */
  String content() {
    if (plainToken) {
      return data;
    }
    if (!EventKind.has(kind, EventKind.CONTENT)) {
      return "";
    }
    EventClassifier c = new EventClassifier();
    c.of(null, data);
    return c.text(EventKind.CONTENT);
  }

  /** The upstream's output-token count when this event reports it, else -1. */
  long usageTokens() {
    return EventKind.usage(kind);
  }

  /** The event as an error JSON object when it is an in-band error (non-JSON data is wrapped), else null. */
  String error() {
    if (!EventKind.has(kind, EventKind.ERROR)) {
      return null;
    }
    String trimmed = data.strip();
    return trimmed.startsWith("{") ? trimmed
        : "{\"error\":{\"message\":" + Json.quote(trimmed.isEmpty() ? "upstream error" : trimmed)
            + ",\"type\":\"server_error\",\"param\":null,\"code\":null}}";
  }
}
