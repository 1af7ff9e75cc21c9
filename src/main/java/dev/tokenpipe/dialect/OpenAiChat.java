package dev.tokenpipe.dialect;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * OpenAI chat completions, {@code POST /v1/chat/completions}: {@code chat.completion.chunk} events, usage in a
 * last chunk when {@code stream_options.include_usage} is set, {@code data: [DONE]} at the end
 * (platform.openai.com/docs/api-reference/chat-streaming).
 */
public final class OpenAiChat implements Dialect {
  @Override
  public String flag() {
    return "openai-chat";
  }

  @Override
  public String path() {
    return "/v1/chat/completions";
  }

  @Override
  public byte[] streamRequest(String model, String prompt, int maxTokens) {
    ObjectNode root = Dialect.object();
    root.put("model", model);
    root.putArray("messages").addObject().put("role", "user").put("content", prompt);
    root.put("stream", true);
    root.putObject("stream_options").put("include_usage", true);
    if (maxTokens > 0) {
      root.put("max_tokens", maxTokens);
    }
    return Dialect.bytes(root);
  }
}
