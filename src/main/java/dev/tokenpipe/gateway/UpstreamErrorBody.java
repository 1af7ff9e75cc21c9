package dev.tokenpipe.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.openai.Json;
import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * Turns an upstream's error response body into the OpenAI error shape the client's SDK parses
 * ({@code {"error":{"message","type","param","code"}}}). An OpenAI error object passes unchanged; anything
 * else (plain text, HTML, {@code {"error":"..."}} as Ollama and some proxies send, {@code {"detail":...}} as
 * FastAPI sends) is wrapped, with its text as the message. The type follows the status class as OpenAI's
 * own API does: 4xx are the caller's ({@code invalid_request_error}, {@code authentication_error} for 401,
 * {@code permission_error} for 403, {@code not_found_error} for 404, {@code rate_limit_error} for 429), 5xx
 * the server's.
 */
final class UpstreamErrorBody {
  private static final int MAX_MESSAGE_CHARS = 500;

  private UpstreamErrorBody() {}

  static String toOpenAi(int status, String body) {
    JsonNode root = parse(body);
    if (root != null && root.path("error").isObject()) {
      return root.toString();
    }
    String message = null;
    if (root != null && root.isObject()) {
      for (String field : new String[] {"error", "message", "detail"}) {
        JsonNode n = root.get(field);
        if (n != null && !n.isNull()) {
          message = n.isTextual() ? n.asText() : n.toString();
          break;
        }
      }
    }
    if (message == null) {
      message = body.strip();
    }
    if (message.length() > MAX_MESSAGE_CHARS) {
      message = message.substring(0, MAX_MESSAGE_CHARS) + "...";
    }
    String text = "The upstream answered " + status + (message.isEmpty() ? "." : ": " + message);
    return new ApiError(HttpResponseStatus.valueOf(status), text, type(status), null,
        ErrorKind.UPSTREAM_STATUS.code).toJson();
  }

  static String type(int status) {
    return switch (status) {
      case 401 -> "authentication_error";
      case 403 -> "permission_error";
      case 404 -> "not_found_error";
      case 429 -> "rate_limit_error";
      default -> status >= 400 && status < 500 ? "invalid_request_error" : "server_error";
    };
  }

  private static JsonNode parse(String body) {
    try {
      return Json.MAPPER.readTree(body);
    } catch (Exception e) {
      return null;
    }
  }
}
