package dev.tokenpipe.openai;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * An error in OpenAI's wire shape: {@code {"error":{"message","type","param","code"}}}. Every
 * component of tokenpipe that answers an HTTP request with an error builds one of these, so
 * clients and SDKs always see the same shape.
 *
 * @param status HTTP status to send
 * @param message human-readable, never contains secrets or stack traces
 * @param type OpenAI error type, e.g. {@code invalid_request_error}
 * @param param offending request field, or null
 * @param code machine-readable code, or null
 */
public record ApiError(HttpResponseStatus status, String message, String type, String param, String code) {

  public static ApiError invalidRequest(String message, String param) {
    return new ApiError(HttpResponseStatus.BAD_REQUEST, message, "invalid_request_error", param, null);
  }

  public static ApiError notFound(String message, String code) {
    return new ApiError(HttpResponseStatus.NOT_FOUND, message, "invalid_request_error", null, code);
  }

  public static ApiError methodNotAllowed(String method, String path) {
    return new ApiError(
        HttpResponseStatus.METHOD_NOT_ALLOWED,
        "Method " + method + " is not allowed for " + path,
        "invalid_request_error",
        null,
        "method_not_allowed");
  }

  public static ApiError tooLarge(long limitBytes) {
    return new ApiError(
        HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE,
        "Request body is larger than the limit of " + limitBytes + " bytes",
        "invalid_request_error",
        null,
        "request_too_large");
  }

  /** 417: an {@code Expect} other than {@code 100-continue} (RFC 9110 §10.1.1), from serve and sim alike. */
  public static ApiError expectationFailed() {
    return new ApiError(HttpResponseStatus.EXPECTATION_FAILED, "Only 'Expect: 100-continue' is supported.",
        "invalid_request_error", null, "expectation_failed");
  }

  public static ApiError server(HttpResponseStatus status, String message, String code) {
    String type = status.code() == 429 ? "rate_limit_error" : "server_error";
    return new ApiError(status, message, type, null, code);
  }

  /** The JSON body, e.g. for an HTTP response or an in-band SSE error event. */
  public String toJson() {
    ObjectNode root = Json.MAPPER.createObjectNode();
    ObjectNode error = root.putObject("error");
    error.put("message", message);
    error.put("type", type);
    error.put("param", param);
    error.put("code", code);
    return root.toString();
  }
}
