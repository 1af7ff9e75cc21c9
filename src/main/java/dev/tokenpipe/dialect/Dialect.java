package dev.tokenpipe.dialect;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.sse.SseEncoder;
import java.util.List;
import java.util.Map;

/**
 * One streaming LLM API as every tokenpipe command speaks it: the seam between the wire format and the
 * commands. A dialect owns how a request asks for a stream (and for usage), how the key is sent, how the
 * response is framed, and how an error is written in the API's own shape, as a response body and as an
 * in-band event of a stream that has already begun. Which events carry generated output, usage or the
 * terminator is the one shared definition of {@link EventClassifier}, which reads every dialect's events.
 *
 * <p>The defaults are OpenAI's (chat completions): {@code Authorization: Bearer}, errors as
 * {@code {"error":{"message","type","param","code"}}}, in-band as an SSE event named {@code error}. The
 * registry of the known dialects is {@link Dialects}; adding one is one class implementing this interface
 * plus its line in {@link Dialects#ALL} (and, if its events have new shapes, their types in
 * {@link EventClassifier}).
 */
public interface Dialect {

  /** The {@code --api} value, e.g. {@code openai-chat}. */
  String flag();

  /** The canonical request path below the API's base, e.g. {@code /v1/chat/completions}. */
  String path();

  /** Whether a request path speaks this dialect: by its last segments, so any base prefix works. */
  default boolean speaks(String requestPath) {
    return requestPath.endsWith(path());
  }

  /**
   * This dialect as one request path speaks it: itself, or for an API whose endpoints take different requests
   * (Ollama's {@code /api/chat} and {@code /api/generate}) the variant whose {@link #streamRequest} fits the path.
   * Flag, framing, auth and errors are the same.
   */
  default Dialect at(String requestPath) {
    return this;
  }

  /** How the streamed response is framed. */
  default Framing framing() {
    return Framing.SSE;
  }

  /** Whether a request without a {@code "stream"} field streams (Ollama's native API does). */
  default boolean streamsByDefault() {
    return false;
  }

  /** Whether a request body names a model (the token API does not need one). */
  default boolean namesModel() {
    return true;
  }

  /**
   * The JSON body of a streaming request for one prompt, asking for usage in the stream where the API can.
   *
   * @param model     model id; may be null where {@link #namesModel()} is false
   * @param maxTokens upper bound on output tokens; {@code <= 0} = the API's default (a fixed bound where the
   *                  API requires one)
   */
  byte[] streamRequest(String model, String prompt, int maxTokens);

  /**
   * The request field {@link #streamRequest} bounds the output tokens with, as users know it from the API's
   * reference ({@code max_tokens}, {@code max_output_tokens}, {@code options.num_predict}): for messages that name it.
   */
  default String maxTokensField() {
    return "max_tokens";
  }

  /** The request headers that carry {@code key} (a secret: never logged), in order. */
  default List<Map.Entry<String, String>> authHeaders(String key) {
    return List.of(Map.entry("Authorization", "Bearer " + key));
  }

  /** The names of the request headers {@link #authHeaders} sets (to remove or replace them). */
  default List<String> authHeaderNames() {
    return List.of("Authorization");
  }

  /** The API's error type for an HTTP status (OpenAI: {@code invalid_request_error}, ..., {@code server_error}). */
  default String errorType(int status) {
    if (status == 429) {
      return "rate_limit_error";
    }
    return status >= 400 && status < 500 ? "invalid_request_error" : "server_error";
  }

  /** The JSON body of an error response in the API's own shape. */
  default String errorBody(ApiError error) {
    return error.toJson();
  }

  /**
   * One complete in-band error event in the API's own shape, for a stream whose head has gone out: the SSE
   * event with its blank line, or the NDJSON line with its newline.
   */
  default String inBandError(ApiError error) {
    return SseEncoder.event("error", null, error.toJson());
  }

  /**
   * The in-band error of {@link #inBandError(ApiError)} for a body framed as {@code framing}, which a broken
   * upstream can make differ from the API's own (an SSE answer on Ollama's NDJSON paths): the framing is the
   * body's, the error object still this API's ({@link #errorBody}), the shape its client parses.
   */
  default String inBandError(ApiError error, Framing framing) {
    if (framing == framing()) {
      return inBandError(error);
    }
    return framing == Framing.SSE ? SseEncoder.event("error", null, errorBody(error)) : errorBody(error) + "\n";
  }

  /** Whether a parsed upstream error body is already in this API's error shape (then it passes unchanged). */
  default boolean isErrorBody(JsonNode body) {
    return body != null && body.path("error").isObject();
  }

  /** Helper for implementations: a JSON object node. */
  static ObjectNode object() {
    return Json.MAPPER.createObjectNode();
  }

  /** Helper for implementations: the node as UTF-8 JSON bytes. */
  static byte[] bytes(JsonNode node) {
    return node.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
  }
}
