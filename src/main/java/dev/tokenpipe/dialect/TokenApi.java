package dev.tokenpipe.dialect;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * tokenpipe's simple token API, {@code POST /v1/stream} with {@code {"prompt": ...}}: one {@code data: <token>}
 * event per token (the text itself, not JSON), {@code data: [DONE]} at the end, OpenAI-shaped errors. No
 * usage: the events are the count.
 */
public final class TokenApi implements Dialect {
  @Override
  public String flag() {
    return "stream";
  }

  @Override
  public String path() {
    return "/v1/stream";
  }

  @Override
  public boolean namesModel() {
    return false;
  }

  @Override
  public byte[] streamRequest(String model, String prompt, int maxTokens) {
    ObjectNode root = Dialect.object();
    root.put("prompt", prompt);
    if (model != null) {
      root.put("model", model);
    }
    if (maxTokens > 0) {
      root.put("max_tokens", maxTokens);
    }
    return Dialect.bytes(root);
  }
}
