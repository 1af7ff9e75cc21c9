package dev.tokenpipe.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.dialect.Dialect;
import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.openai.Json;
import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * Turns an upstream's error (a response body, or the data of an in-band error event) into the error shape
 * of the client's API ({@link Dialect#errorBody}): OpenAI's {@code {"error":{"message","type","param","code"}}},
 * Anthropic's {@code {"type":"error","error":{"type","message"}}}, Ollama's {@code {"error":"..."}}. A body
 * already in that shape passes unchanged; anything else (plain text, HTML, another API's error object,
 * {@code {"detail":...}} as FastAPI sends) is wrapped, with its text as the message. The type follows the
 * status as the API's own server does ({@link Dialect#errorType}); SDKs pick their error class from the status.
 */
final class UpstreamErrorBody {
  private static final int MAX_MESSAGE_CHARS = 500;

  private UpstreamErrorBody() {}

  /** The body of the client's error response for an upstream error response. */
  static String forClient(Dialect dialect, int status, String body) {
    JsonNode root = parse(body);
    if (dialect.isErrorBody(root)) {
      return root.toString();
    }
    return dialect.errorBody(wrap(dialect, status, root, body));
  }

  /**
   * The upstream's error as an {@link ApiError}, for an in-band error event or a retry that ran out: the
   * message, type, param and code of an error object it sent are kept; anything else is wrapped.
   */
  static ApiError toApiError(Dialect dialect, int status, String body) {
    JsonNode root = parse(body);
    JsonNode error = root == null ? null : root.get("error");
    if (error != null && error.isObject() && error.path("message").isTextual()) {
      return new ApiError(HttpResponseStatus.valueOf(status), clip(error.path("message").asText(), MAX_KEPT_MESSAGE_CHARS),
          error.path("type").isTextual() ? clip(error.path("type").asText(), MAX_FIELD_CHARS) : dialect.errorType(status),
          error.path("param").isTextual() ? clip(error.path("param").asText(), MAX_FIELD_CHARS) : null,
          error.path("code").isTextual() ? clip(error.path("code").asText(), MAX_FIELD_CHARS) : ErrorKind.UPSTREAM_STATUS.code);
    }
    return wrap(dialect, status, root, body);
  }

  /**
   * A kept message longer than this is cut (with "..."): the error is written as one event, and an event up to
   * the scanner's 1 MiB would be one write of that size for a client (docs/serve.md, "Memory per stream"). Real
   * messages (a context-length error, a rate limit) are a few hundred characters.
   */
  private static final int MAX_KEPT_MESSAGE_CHARS = 8192;
  private static final int MAX_FIELD_CHARS = 256;

  /** {@code s}, or its first {@code max} characters and "...", never half a surrogate pair (a lone one is not UTF-8). */
  static String clip(String s, int max) {
    if (s.length() <= max) {
      return s;
    }
    int end = Character.isHighSurrogate(s.charAt(max - 1)) ? max - 1 : max;
    return s.substring(0, end) + "...";
  }

  private static ApiError wrap(Dialect dialect, int status, JsonNode root, String body) {
    String message = null;
    if (root != null && root.isObject()) {
      for (String field : new String[] {"error", "message", "detail"}) {
        JsonNode n = root.get(field);
        if (n != null && !n.isNull()) {
          JsonNode inner = n.isObject() ? n.get("message") : null;
          message = n.isTextual() ? n.asText() : inner != null && inner.isTextual() ? inner.asText() : n.toString();
          break;
        }
      }
    }
    if (message == null) {
      message = body.strip();
    }
    message = clip(message, MAX_MESSAGE_CHARS);
    String text = "The upstream answered " + status + (message.isEmpty() ? "." : ": " + message);
    return new ApiError(HttpResponseStatus.valueOf(status), text, dialect.errorType(status), null,
        ErrorKind.UPSTREAM_STATUS.code);
  }

  private static JsonNode parse(String body) {
    try {
      return Json.MAPPER.readTree(body);
    } catch (Exception e) {
      return null;
    }
  }
}
