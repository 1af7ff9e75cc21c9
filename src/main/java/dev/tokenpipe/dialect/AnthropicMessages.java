package dev.tokenpipe.dialect;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.sse.SseEncoder;
import java.util.List;
import java.util.Map;

/**
 * Anthropic Messages, {@code POST /v1/messages} with {@code "stream": true}: named SSE events
 * {@code message_start} (input usage), {@code content_block_start/delta/stop} ({@code text_delta},
 * {@code thinking_delta}, {@code input_json_delta}), {@code message_delta} (output usage), {@code ping}, and
 * {@code message_stop} at the end; no {@code [DONE]}. Auth is {@code x-api-key} with {@code anthropic-version}.
 * Errors are {@code {"type":"error","error":{"type","message"}}}, mid-stream as an SSE event named
 * {@code error} (docs.anthropic.com/en/api/messages-streaming, /en/api/errors).
 */
public final class AnthropicMessages implements Dialect {
  /** The API version sent when tokenpipe sets the key itself. */
  public static final String VERSION = "2023-06-01";
  /** Anthropic requires {@code max_tokens}; used when the caller gives none. */
  static final int DEFAULT_MAX_TOKENS = 4096;

  @Override
  public String flag() {
    return "anthropic-messages";
  }

  @Override
  public String path() {
    return "/v1/messages";
  }

  @Override
  public byte[] streamRequest(String model, String prompt, int maxTokens) {
    ObjectNode root = Dialect.object();
    root.put("model", model);
    root.put("max_tokens", maxTokens > 0 ? maxTokens : DEFAULT_MAX_TOKENS);
    root.putArray("messages").addObject().put("role", "user").put("content", prompt);
    root.put("stream", true);
    return Dialect.bytes(root);
  }

  @Override
  public List<Map.Entry<String, String>> authHeaders(String key) {
    return List.of(Map.entry("x-api-key", key), Map.entry("anthropic-version", VERSION));
  }

  @Override
  public List<String> authHeaderNames() {
    return List.of("x-api-key", "Authorization");
  }

  /** Anthropic's error types by status; 529 (and tokenpipe's own overload) is {@code overloaded_error}. */
  @Override
  public String errorType(int status) {
    return switch (status) {
      case 400 -> "invalid_request_error";
      case 401 -> "authentication_error";
      case 402 -> "billing_error";
      case 403 -> "permission_error";
      case 404 -> "not_found_error";
      case 413 -> "request_too_large";
      case 429 -> "rate_limit_error";
      case 504 -> "timeout_error";
      case 529 -> "overloaded_error";
      default -> status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
    };
  }

  @Override
  public String errorBody(ApiError error) {
    String type = "gateway_overloaded".equals(error.code()) ? "overloaded_error" : errorType(error.status().code());
    ObjectNode root = Dialect.object().put("type", "error");
    root.putObject("error").put("type", type).put("message", error.message());
    return root.toString();
  }

  @Override
  public String inBandError(ApiError error) {
    return SseEncoder.event("error", null, errorBody(error));
  }

  @Override
  public boolean isErrorBody(JsonNode body) {
    return body != null && "error".equals(body.path("type").asText()) && body.path("error").isObject();
  }
}
