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
 * own API does (it answers a bad key or an unknown model with {@code invalid_request_error} too): 4xx are
 * the caller's ({@code invalid_request_error}; {@code rate_limit_error} for 429, as the gateway's own 429),
 * 5xx the server's ({@code server_error}). SDKs pick their error class from the status.
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
    if (status == 429) {
      return "rate_limit_error";
    }
    return status >= 400 && status < 500 ? "invalid_request_error" : "server_error";
  }

  private static JsonNode parse(String body) {
    try {
      return Json.MAPPER.readTree(body);
    } catch (Exception e) {
      return null;
    }
  }
}
