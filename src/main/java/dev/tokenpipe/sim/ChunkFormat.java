package dev.tokenpipe.sim;

import dev.tokenpipe.openai.Json;
import java.util.UUID;

/**
 * The data payloads of one stream in its API's wire shape. The JSON is assembled from a
 * per-stream prefix and pre-escaped token text: at 200,000 events per second the simulated model
 * cannot afford a JSON serializer per event.
 */
final class ChunkFormat {
  private final SimRequest request;
  private final String id;
  private final long created;
  private final String prefix;
  private final String usageNull;

  ChunkFormat(SimRequest request, long createdEpochSeconds) {
    this.request = request;
    String uuid = UUID.randomUUID().toString().replace("-", "");
    this.id = (request.api() == SimApi.CHAT ? "chatcmpl-" : "cmpl-") + uuid.substring(0, 24);
    this.created = createdEpochSeconds;
    String object = request.api() == SimApi.CHAT ? "chat.completion.chunk" : "text_completion";
    this.prefix = "{\"id\":\"" + id + "\",\"object\":\"" + object + "\",\"created\":" + created
        + ",\"model\":" + Json.quote(request.model()) + ",\"system_fingerprint\":\"fp_tokenpipe\",\"choices\":[";
    // With include_usage, OpenAI sends "usage":null on every chunk but the last.
    this.usageNull = request.includeUsage() ? ",\"usage\":null}" : "}";
  }

  String id() {
    return id;
  }

  long created() {
    return created;
  }

  /** The chat stream's opening chunk: the assistant role with empty content (not a token). */
  String roleChunk() {
    return prefix + "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]" + usageNull;
  }

  /** One event carrying generated text; for TOKENS the raw text (the encoder splits lines). */
  String contentChunk(CharSequence jsonEscapedText, CharSequence rawText) {
    return switch (request.api()) {
      case CHAT -> prefix + "{\"index\":0,\"delta\":{\"content\":\"" + jsonEscapedText
          + "\"},\"logprobs\":null,\"finish_reason\":null}]" + usageNull;
      case COMPLETIONS -> prefix + "{\"index\":0,\"text\":\"" + jsonEscapedText
          + "\",\"logprobs\":null,\"finish_reason\":null}]" + usageNull;
      case TOKENS -> rawText.toString();
    };
  }

  /** The chunk that carries finish_reason; null for TOKENS, which has no such event. */
  String finishChunk() {
    String reason = Json.quote(request.finishReason());
    return switch (request.api()) {
      case CHAT -> prefix + "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":" + reason + "}]" + usageNull;
      case COMPLETIONS -> prefix + "{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":" + reason + "}]" + usageNull;
      case TOKENS -> null;
    };
  }

  /** The final usage chunk (choices empty), sent when stream_options.include_usage is true. */
  String usageChunk(int completionTokens) {
    return prefix + "]," + usageJson(completionTokens) + "}";
  }

  String usageJson(int completionTokens) {
    int prompt = request.promptTokens();
    return "\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completionTokens
        + ",\"total_tokens\":" + (prompt + completionTokens) + "}";
  }

  /** The whole non-streaming response body. */
  String completeResponse(String text, int completionTokens) {
    String reason = Json.quote(request.finishReason());
    String choice = request.api() == SimApi.CHAT
        ? "{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":" + Json.quote(text)
            + ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":" + reason + "}"
        : "{\"index\":0,\"text\":" + Json.quote(text) + ",\"logprobs\":null,\"finish_reason\":" + reason + "}";
    String object = request.api() == SimApi.CHAT ? "chat.completion" : "text_completion";
    return "{\"id\":\"" + id + "\",\"object\":\"" + object + "\",\"created\":" + created + ",\"model\":"
        + Json.quote(request.model()) + ",\"system_fingerprint\":\"fp_tokenpipe\",\"choices\":[" + choice + "],"
        + usageJson(completionTokens) + "}";
  }
}
