package dev.tokenpipe.sim;

import dev.tokenpipe.openai.Json;

/**
 * What one generation outputs, in order: {@code reasoning} tokens of thinking, then {@code content} tokens
 * of text, then {@code tool} tokens of one tool call's arguments; all of them the bundled text from
 * {@code textStart} on. The tool call's arguments are the JSON object {@code {"input":"<its tokens>"}}, so
 * they parse as JSON once complete (SDKs parse them).
 *
 * @param textStart position of the first token in {@link TokenText}
 * @param toolName the called tool's name (when {@code tool > 0})
 * @param truncated whether max_tokens cut the output short (finish reason {@code length} / {@code max_tokens})
 */
record OutputPlan(long textStart, int reasoning, int content, int tool, String toolName, boolean truncated) {
  /** The parts of an output, in the order they are sent. */
  enum Part { REASONING, CONTENT, TOOL }

  static final String TOOL_PREFIX = "{\"input\":\"";
  static final String TOOL_SUFFIX = "\"}";

  int total() {
    return reasoning + content + tool;
  }

  /** The part token {@code i} (0-based) belongs to. */
  Part partAt(int i) {
    return i < reasoning ? Part.REASONING : i < reasoning + content ? Part.CONTENT : Part.TOOL;
  }

  /** The index just after the last token of the part that token {@code i} belongs to. */
  int partEnd(int i) {
    return i < reasoning ? reasoning : i < reasoning + content ? reasoning + content : total();
  }

  int count(Part part) {
    return switch (part) {
      case REASONING -> reasoning;
      case CONTENT -> content;
      case TOOL -> tool;
    };
  }

  /** The first part that has tokens, or null when the output is empty. */
  Part firstPart() {
    return reasoning > 0 ? Part.REASONING : content > 0 ? Part.CONTENT : tool > 0 ? Part.TOOL : null;
  }

  /** The whole text of a part, unescaped; for the tool, its complete arguments JSON. Allocates (end of stream only). */
  String text(Part part) {
    long from = textStart + switch (part) {
      case REASONING -> 0;
      case CONTENT -> reasoning;
      case TOOL -> reasoning + content;
    };
    int n = count(part);
    TokenText text = TokenText.get();
    StringBuilder sb = new StringBuilder(n * 6 + 16);
    if (part == Part.TOOL) {
      sb.append(TOOL_PREFIX);
      for (int i = 0; i < n; i++) {
        sb.append(text.jsonToken(from + i));
      }
      return sb.append(TOOL_SUFFIX).toString();
    }
    for (int i = 0; i < n; i++) {
      sb.append(text.token(from + i));
    }
    return sb.toString();
  }

  /**
   * One event's piece of the tool call's arguments JSON: the tokens' escaped text, preceded by the opening
   * {@value #TOOL_PREFIX} on the first piece and followed by the closing {@value #TOOL_SUFFIX} on the last.
   */
  static String toolPiece(CharSequence jsonEscaped, boolean first, boolean last) {
    return (first ? TOOL_PREFIX : "") + jsonEscaped + (last ? TOOL_SUFFIX : "");
  }

  /** {@code s} as JSON string content, without the quotes: how a piece of arguments JSON sits inside an event. */
  static String escape(String s) {
    String q = Json.quote(s);
    return q.substring(1, q.length() - 1);
  }
}
