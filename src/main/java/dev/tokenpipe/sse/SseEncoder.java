package dev.tokenpipe.sse;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import java.util.Objects;

/**
 * Writes server-sent events that cannot be broken by their payload. A value containing a line break
 * would otherwise end the field early and let the rest be read as another field (or a blank line that
 * dispatches half an event): data is therefore split into one {@code data:} line per line, and the
 * single-line fields (event, id) reject line breaks outright.
 *
 * <p>Every method returns a complete block ending in an empty line, so outputs can be concatenated in
 * any order and each one ends on an event boundary (see {@link SseParser#atEventBoundary()}).
 *
 * <p>Line breaks in data come back from any SSE parser as LF: {@code "\r\n"} and {@code "\r"} are line
 * ends to the spec, and the data buffer joins lines with LF. Strings must be valid UTF-16 (an unpaired
 * surrogate cannot be encoded as UTF-8 and becomes {@code '?'}).
 */
public final class SseEncoder {

  /** The payload of OpenAI's final event, {@code data: [DONE]}. */
  public static final String DONE = "[DONE]";

  private SseEncoder() {}

  /**
   * {@code "data: <line>\n"} for every line of {@code data} (split on CR, LF and CRLF), then the empty line
   * that dispatches the event. An empty line of data is written as {@code "data:"} without the space, so
   * {@code data("")} is {@code "data:\n\n"}, which the parser dispatches as an event with data "" (a data
   * field with an empty value still appends an LF, so the data buffer is not empty). A line that starts
   * with a space keeps it: the parser removes only the one space we put after the colon.
   */
  public static String data(String data) {
    return event(null, null, data);
  }

  /**
   * An event with an optional type and id ({@code null} = field omitted; an empty type is omitted as well,
   * since the spec treats it as "message"; an empty id is written, since it resets the client's last event
   * id).
   *
   * @throws IllegalArgumentException if {@code type} or {@code id} contains CR or LF, or {@code id} contains
   *     NUL (the spec makes clients ignore such an id)
   */
  public static String event(String type, String id, String data) {
    StringBuilder out = new StringBuilder(data.length() + 16);
    appendEvent(out, type, id, data);
    return out.toString();
  }

  /**
   * A comment block, {@code ": <text>\n"} per line of {@code text} (split on CR, LF and CRLF), then an empty
   * line. Clients ignore comments, which makes {@code comment("ping")} a heartbeat that keeps idle
   * connections and proxies from timing out. The trailing empty line dispatches nothing at an event
   * boundary; insert a comment only where {@link SseParser#atEventBoundary()} is true.
   */
  public static String comment(String text) {
    Objects.requireNonNull(text, "text");
    StringBuilder out = new StringBuilder(text.length() + 4);
    appendLines(out, ":", text);
    return out.append('\n').toString();
  }

  /**
   * {@code "retry: <millis>\n\n"}: tells an {@code EventSource} how long to wait before reconnecting.
   *
   * @param millis reconnection time in milliseconds, {@code >= 0}
   */
  public static String retry(long millis) {
    if (millis < 0) {
      throw new IllegalArgumentException("retry must be >= 0 ms: " + millis);
    }
    return "retry: " + millis + "\n\n";
  }

  /**
   * Same bytes as {@link #event(String, String, String)}, UTF-8 encoded into a new buffer from
   * {@code alloc} (exactly sized). The caller owns the returned buffer.
   */
  public static ByteBuf encode(ByteBufAllocator alloc, String type, String id, String data) {
    String text = event(type, id, data);
    ByteBuf buf = alloc.buffer(ByteBufUtil.utf8Bytes(text));
    ByteBufUtil.writeUtf8(buf, text);
    return buf;
  }

  private static void appendEvent(StringBuilder out, String type, String id, String data) {
    Objects.requireNonNull(data, "data");
    if (type != null) {
      requireSingleLine("event type", type);
      if (!type.isEmpty()) {
        out.append("event: ").append(type).append('\n');
      }
    }
    if (id != null) {
      requireSingleLine("event id", id);
      if (id.indexOf('\0') >= 0) {
        throw new IllegalArgumentException("event id must not contain NUL (clients ignore such ids)");
      }
      appendField(out, "id:", id);
    }
    appendLines(out, "data:", data);
    out.append('\n');
  }

  /** One {@code prefix value} line per line of {@code text}; an empty text is one empty line. */
  private static void appendLines(StringBuilder out, String prefix, String text) {
    int start = 0;
    int n = text.length();
    for (int i = 0; i < n; i++) {
      char c = text.charAt(i);
      if (c == '\r' || c == '\n') {
        appendField(out, prefix, text.substring(start, i));
        if (c == '\r' && i + 1 < n && text.charAt(i + 1) == '\n') {
          i++; // CRLF is one line end
        }
        start = i + 1;
      }
    }
    appendField(out, prefix, text.substring(start));
  }

  /** {@code "name: value\n"}, or {@code "name\n"} for an empty value (no trailing whitespace on the wire). */
  private static void appendField(StringBuilder out, String nameAndColon, String value) {
    out.append(nameAndColon);
    if (!value.isEmpty()) {
      out.append(' ').append(value);
    }
    out.append('\n');
  }

  private static void requireSingleLine(String what, String value) {
    if (value.indexOf('\n') >= 0 || value.indexOf('\r') >= 0) {
      throw new IllegalArgumentException(what + " must not contain CR or LF");
    }
  }
}
