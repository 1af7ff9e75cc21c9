package dev.tokenpipe.dialect;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * OpenAI legacy completions, {@code POST /v1/completions}: {@code text_completion} events with
 * {@code choices[].text}, usage and {@code [DONE]} as in chat.
 */
public final class OpenAiCompletions implements Dialect {
  @Override
  public String flag() {
    return "openai-completions";
  }

  @Override
  public String path() {
    return "/v1/completions";
  }

  @Override
  public boolean speaks(String requestPath) {
    return requestPath.endsWith("/completions") && !requestPath.endsWith("/chat/completions");
  }

  @Override
  public byte[] streamRequest(String model, String prompt, int maxTokens) {
    ObjectNode root = Dialect.object();
    root.put("model", model);
    root.put("prompt", prompt);
    root.put("stream", true);
    root.putObject("stream_options").put("include_usage", true);
    if (maxTokens > 0) {
      root.put("max_tokens", maxTokens);
    }
    return Dialect.bytes(root);
  }
}
