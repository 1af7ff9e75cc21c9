package dev.tokenpipe.client;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokenpipe.openai.Json;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * The request shapes tokenpipe's clients know how to build. Bodies always ask for a stream, and for
 * {@code usage} in it where the API has that, so output tokens come from the server.
 */
public enum ApiKind {
  /** {@code POST /v1/chat/completions}: {@code messages}, {@code stream_options.include_usage}. */
  OPENAI_CHAT("openai-chat"),
  /** {@code POST /v1/completions}: {@code prompt}. */
  OPENAI_COMPLETIONS("openai-completions"),
  /** tokenpipe's token API {@code POST /v1/stream}: {@code {"prompt": ...}}, one {@code data: <token>} per token. */
  STREAM("stream"),
  /** Whatever body the user gives; any response framing. */
  RAW("raw");

  private final String flag;

  ApiKind(String flag) {
    this.flag = flag;
  }

  public String flag() {
    return flag;
  }

  /** Parses a flag value such as {@code openai-chat}. */
  public static ApiKind parse(String value) {
    String v = value.trim().toLowerCase(Locale.ROOT).replace('_', '-');
    for (ApiKind k : values()) {
      if (k.flag.equals(v) || k.name().toLowerCase(Locale.ROOT).replace('_', '-').equals(v)) {
        return k;
      }
    }
    throw new IllegalArgumentException("unknown API '" + value + "' (use openai-chat, openai-completions, stream or raw)");
  }

  /** The API an endpoint path most likely speaks: by its last segments, chat when unsure. */
  public static ApiKind forPath(String path) {
    if (path.endsWith("/completions") && !path.endsWith("/chat/completions")) {
      return OPENAI_COMPLETIONS;
    }
    if (path.endsWith("/v1/stream")) {
      return STREAM;
    }
    return OPENAI_CHAT;
  }

  /**
   * The JSON body for one prompt.
   *
   * @param model     model id, may be null for {@link #STREAM}
   * @param maxTokens upper bound on output tokens; {@code <= 0} = not sent
   */
  public byte[] body(String model, String prompt, int maxTokens) {
    ObjectNode root = Json.MAPPER.createObjectNode();
    switch (this) {
      case OPENAI_CHAT -> {
        root.put("model", model);
        root.putArray("messages").addObject().put("role", "user").put("content", prompt);
        root.put("stream", true);
        root.putObject("stream_options").put("include_usage", true);
        if (maxTokens > 0) {
          root.put("max_tokens", maxTokens);
        }
      }
      case OPENAI_COMPLETIONS -> {
        root.put("model", model);
        root.put("prompt", prompt);
        root.put("stream", true);
        root.putObject("stream_options").put("include_usage", true);
        if (maxTokens > 0) {
          root.put("max_tokens", maxTokens);
        }
      }
      case STREAM -> {
        root.put("prompt", prompt);
        if (model != null) {
          root.put("model", model);
        }
        if (maxTokens > 0) {
          root.put("max_tokens", maxTokens);
        }
      }
      case RAW -> {
        return prompt.getBytes(StandardCharsets.UTF_8);
      }
    }
    return root.toString().getBytes(StandardCharsets.UTF_8);
  }
}
