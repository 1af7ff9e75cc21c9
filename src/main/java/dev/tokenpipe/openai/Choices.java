package dev.tokenpipe.openai;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.InputStream;

/**
 * How many choices a request asks for: the top-level {@code "n"} of OpenAI's chat completions and completions
 * (https://platform.openai.com/docs/api-reference/chat/create#chat-create-n). A stream without its terminator is
 * whole only when each choice finished, so the gateway and the client core both count finishes against it.
 */
public final class Choices {
  private Choices() {}

  /**
   * The body's top-level {@code "n"}: 1 without it, or when the body is not a JSON object with a positive integer
   * there (the upstream judges such a body, not tokenpipe). Reads the members one by one, skipping their values.
   */
  public static int requested(InputStream body) {
    try (JsonParser p = Json.MAPPER.createParser(body)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        return 1;
      }
      int n = 1;
      for (JsonToken t; (t = p.nextToken()) == JsonToken.FIELD_NAME; ) {
        boolean isN = "n".equals(p.currentName());
        t = p.nextToken();
        if (isN) {
          n = t == JsonToken.VALUE_NUMBER_INT && p.getNumberType() == JsonParser.NumberType.INT ? Math.max(1, p.getIntValue()) : 1;
        }
        p.skipChildren();
      }
      return n;
    } catch (Exception malformed) {
      return 1;
    }
  }
}
