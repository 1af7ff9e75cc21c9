package dev.tokenpipe.dialect;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.sse.SseEncoder;

/**
 * OpenAI Responses, {@code POST /v1/responses} with {@code "stream": true}: named SSE events whose data carry
 * the same {@code type} and a {@code sequence_number} ({@code response.created}, {@code
 * response.output_text.delta}, {@code response.reasoning_summary_text.delta}, {@code
 * response.function_call_arguments.delta}, ...), ending with {@code response.completed} (usage),
 * {@code response.incomplete} or {@code response.failed}; no {@code [DONE]}. Error responses are OpenAI's
 * shape; mid-stream the error is the {@code error} event {@code {"type":"error","code","message","param"}}, with
 * the same fields also as an {@code "error"} object, which is what makes the official SDKs raise
 * (platform.openai.com/docs/api-reference/responses-streaming). The gateway's own error event carries no
 * {@code sequence_number}: it does not renumber the upstream's events.
 */
public final class OpenAiResponses implements Dialect {
  @Override
  public String flag() {
    return "openai-responses";
  }

  @Override
  public String path() {
    return "/v1/responses";
  }

  @Override
  public byte[] streamRequest(String model, String prompt, int maxTokens) {
    ObjectNode root = Dialect.object();
    root.put("model", model);
    root.put("input", prompt);
    root.put("stream", true);
    if (maxTokens > 0) {
      root.put(maxTokensField(), maxTokens);
    }
    return Dialect.bytes(root);
  }

  @Override
  public String maxTokensField() {
    return "max_output_tokens";
  }

  @Override
  public String inBandError(ApiError error) {
    ObjectNode e = Dialect.object().put("type", "error").put("code", error.code()).put("message", error.message());
    e.putNull("param");
    // The official SDKs raise their APIError for an event whose data carries an "error" object (openai-node
    // core/streaming.js, openai-python _streaming.py) and pass the bare documented shape on as one more
    // event, which an application iterating the stream never sees as a failure; so both are sent.
    ObjectNode inner = e.putObject("error").put("type", error.type()).put("code", error.code())
        .put("message", error.message());
    inner.putNull("param");
    return SseEncoder.event("error", null, e.toString());
  }
}
