package dev.tokenpipe.client;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.tokenpipe.openai.Json;
import java.io.IOException;

/**
 * What one event of an OpenAI-compatible stream carries, read with Jackson's streaming parser (no tree per
 * event: a load generator reads hundreds of thousands of them per second).
 *
 * <p>Recognised shapes: chat chunks ({@code choices[0].delta.content}, {@code delta.reasoning_content} or
 * {@code delta.reasoning}, {@code delta.role}), completion chunks ({@code choices[0].text}), the usage chunk
 * ({@code usage.completion_tokens}), error objects ({@code {"error":{"message":...}}}) and, for data that is not
 * a JSON object, plain text (the {@code /v1/stream} token API, where the data is the token itself).
 *
 * @param content          generated text of this event, "" when none
 * @param reasoning        reasoning text of this event, "" when none
 * @param completionTokens {@code usage.completion_tokens}, or -1 when the event has no usage
 * @param error            the error message of an error event, or null
 */
public record ChunkContent(String content, String reasoning, int completionTokens, String error) {

  private static final JsonFactory FACTORY = Json.MAPPER.getFactory();
  private static final ChunkContent EMPTY = new ChunkContent("", "", -1, null);

  public boolean hasContent() {
    return !content.isEmpty();
  }

  public boolean hasReasoning() {
    return !reasoning.isEmpty();
  }

  /**
   * Classifies one event. {@code [DONE]} and empty data are empty; an event of type {@code error} is an error
   * whatever its data; data that does not start with {@code {} is plain text content.
   */
  public static ChunkContent of(String type, String data) {
    if ("error".equals(type)) {
      return new ChunkContent("", "", -1, errorText(data));
    }
    if (data.isEmpty() || data.equals("[DONE]")) {
      return EMPTY;
    }
    if (data.charAt(0) != '{') {
      return new ChunkContent(data, "", -1, null);
    }
    try (JsonParser p = FACTORY.createParser(data)) {
      return readObject(p);
    } catch (IOException | RuntimeException e) {
      return new ChunkContent("", "", -1, "unparseable JSON event: " + abbreviate(data));
    }
  }

  private static ChunkContent readObject(JsonParser p) throws IOException {
    if (p.nextToken() != JsonToken.START_OBJECT) {
      return EMPTY;
    }
    String content = "";
    String reasoning = "";
    int tokens = -1;
    String error = null;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String field = p.currentName();
      JsonToken value = p.nextToken();
      switch (field) {
        case "choices" -> {
          if (value == JsonToken.START_ARRAY) {
            String[] cr = readFirstChoice(p);
            content = cr[0];
            reasoning = cr[1];
          } else {
            p.skipChildren();
          }
        }
        case "usage" -> {
          if (value == JsonToken.START_OBJECT) {
            tokens = readCompletionTokens(p);
          } else {
            p.skipChildren();
          }
        }
        case "error" -> {
          error = value == JsonToken.START_OBJECT ? readErrorMessage(p) : value == JsonToken.VALUE_NULL ? null : p.getText();
        }
        default -> p.skipChildren();
      }
    }
    return new ChunkContent(content, reasoning, tokens, error);
  }

  /** Reads the choices array (parser on START_ARRAY); returns {content, reasoning} of its first element. */
  private static String[] readFirstChoice(JsonParser p) throws IOException {
    String[] out = {"", ""};
    boolean first = true;
    while (p.nextToken() != JsonToken.END_ARRAY) {
      if (!first || p.currentToken() != JsonToken.START_OBJECT) {
        p.skipChildren();
        continue;
      }
      first = false;
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String field = p.currentName();
        JsonToken value = p.nextToken();
        if (field.equals("text") && value == JsonToken.VALUE_STRING) {
          out[0] = p.getText();
        } else if ((field.equals("delta") || field.equals("message")) && value == JsonToken.START_OBJECT) {
          while (p.nextToken() == JsonToken.FIELD_NAME) {
            String f = p.currentName();
            JsonToken v = p.nextToken();
            if (v == JsonToken.VALUE_STRING && f.equals("content")) {
              out[0] = p.getText();
            } else if (v == JsonToken.VALUE_STRING && (f.equals("reasoning_content") || f.equals("reasoning"))) {
              out[1] = p.getText();
            } else {
              p.skipChildren();
            }
          }
        } else {
          p.skipChildren();
        }
      }
    }
    return out;
  }

  private static int readCompletionTokens(JsonParser p) throws IOException {
    int tokens = -1;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String field = p.currentName();
      JsonToken value = p.nextToken();
      if (field.equals("completion_tokens") && value == JsonToken.VALUE_NUMBER_INT) {
        tokens = p.getIntValue();
      } else {
        p.skipChildren();
      }
    }
    return tokens;
  }

  private static String readErrorMessage(JsonParser p) throws IOException {
    String message = "error";
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String field = p.currentName();
      JsonToken value = p.nextToken();
      if (field.equals("message") && value == JsonToken.VALUE_STRING) {
        message = p.getText();
      } else {
        p.skipChildren();
      }
    }
    return message;
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
