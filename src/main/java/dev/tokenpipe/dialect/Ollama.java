package dev.tokenpipe.dialect;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokenpipe.openai.ApiError;

/**
 * Ollama's native API, {@code POST /api/chat} and {@code /api/generate}: NDJSON, one object per line, streaming
 * unless {@code "stream": false}; the last line has {@code "done": true} and {@code eval_count} (output tokens).
 * Errors are {@code {"error":"message"}}, also as a line mid-stream (github.com/ollama/ollama/blob/main/docs/api.md).
 * Ollama takes no key; one given is sent as a bearer token, as proxies in front of it expect. The two endpoints
 * share all that but not the request: chat takes {@code messages}, generate one {@code prompt}; so there are two
 * instances, {@link Dialects#OLLAMA} (chat) and {@link Dialects#OLLAMA_GENERATE}, and {@link #at} picks by path.
 */
public final class Ollama implements Dialect {
  private final boolean generate;

  /** Ollama's {@code /api/chat}. */
  public Ollama() {
    this(false);
  }

  /** @param generate the {@code /api/generate} variant: its request is a {@code prompt}, not {@code messages} */
  Ollama(boolean generate) {
    this.generate = generate;
  }

  @Override
  public String flag() {
    return "ollama";
  }

  @Override
  public String path() {
    return generate ? "/api/generate" : "/api/chat";
  }

  @Override
  public Dialect at(String requestPath) {
    return requestPath.endsWith("/api/generate") ? Dialects.OLLAMA_GENERATE : Dialects.OLLAMA;
  }

  @Override
  public boolean speaks(String requestPath) {
    return requestPath.endsWith("/api/chat") || requestPath.endsWith("/api/generate");
  }

  @Override
  public Framing framing() {
    return Framing.NDJSON;
  }

  @Override
  public boolean streamsByDefault() {
    return true;
  }

  @Override
  public byte[] streamRequest(String model, String prompt, int maxTokens) {
    ObjectNode root = Dialect.object();
    root.put("model", model);
    if (generate) {
      root.put("prompt", prompt);
    } else {
      root.putArray("messages").addObject().put("role", "user").put("content", prompt);
    }
    root.put("stream", true);
    if (maxTokens > 0) {
      root.putObject("options").put("num_predict", maxTokens);
    }
    return Dialect.bytes(root);
  }

  @Override
  public String maxTokensField() {
    return "options.num_predict";
  }

  @Override
  public String errorBody(ApiError error) {
    return Dialect.object().put("error", error.message()).toString();
  }

  @Override
  public String inBandError(ApiError error) {
    return errorBody(error) + "\n";
  }

  @Override
  public boolean isErrorBody(JsonNode body) {
    return body != null && body.path("error").isTextual();
  }
}
