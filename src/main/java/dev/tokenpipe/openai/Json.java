package dev.tokenpipe.openai;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;

/** The one Jackson mapper of the process (thread-safe once configured). */
public final class Json {
  public static final ObjectMapper MAPPER = new ObjectMapper();

  private Json() {}

  /**
   * Whether {@code p}'s input is exactly one complete JSON value (whitespace around it allowed): false for nothing,
   * a cut value, malformed JSON or anything after the value. Closes {@code p}.
   */
  public static boolean oneWholeValue(JsonParser p) {
    try (p) {
      if (p.nextToken() == null) {
        return false;
      }
      p.skipChildren();
      p.finishToken(); // a root string is read lazily: a cut one throws only here
      return p.nextToken() == null;
    } catch (IOException cutOrMalformed) {
      return false;
    }
  }

  /** {@code s} as a JSON string literal with quotes, for hand-built hot-path JSON. */
  public static String quote(String s) {
    StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
    JsonStringEncoder.getInstance().quoteAsString(s, sb);
    return sb.append('"').toString();
  }
}
