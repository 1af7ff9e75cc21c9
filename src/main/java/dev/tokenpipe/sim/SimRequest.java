package dev.tokenpipe.sim;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.openai.ApiException;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.tokens.Tokenizer;
import java.util.Map;

/**
 * A validated generation request. Parsing checks every field the simulated model uses and
 * reports the first problem as an OpenAI-style 400/404 naming the field.
 *
 * @param maxTokens the request's max_tokens, or -1 when absent
 * @param promptTokens prompt length counted with the real tokenizer, for {@code usage}
 */
record SimRequest(
    SimApi api,
    String model,
    boolean stream,
    boolean includeUsage,
    int maxTokens,
    int promptTokens,
    StreamProfile profile) {

  /** Tokens this request will produce and whether max_tokens cut it short. */
  int outputTokens() {
    return maxTokens >= 0 ? Math.min(maxTokens, profile.tokens()) : profile.tokens();
  }

  String finishReason() {
    return maxTokens >= 0 && maxTokens < profile.tokens() ? "length" : "stop";
  }

  static SimRequest parse(SimApi api, String body, String overrideHeader, SimConfig config) {
    JsonNode root;
    try {
      root = Json.MAPPER.readTree(body);
    } catch (JacksonException e) {
      throw bad("We could not parse the JSON body of your request. (" + firstLine(e.getOriginalMessage()) + ")", null);
    }
    if (root == null || !root.isObject()) {
      throw bad("The request body must be a JSON object.", null);
    }
    String model = model(api, root, config);
    int promptTokens = prompt(api, root);
    boolean stream = api == SimApi.TOKENS || optionalBoolean(root, "stream", false);
    boolean includeUsage = false;
    JsonNode so = root.get("stream_options");
    if (so != null && !so.isNull()) {
      if (!so.isObject()) {
        throw bad("Invalid type for 'stream_options': expected an object.", "stream_options");
      }
      includeUsage = optionalBoolean(so, "include_usage", false);
    }
    int maxTokens = optionalPositiveInt(root, "max_completion_tokens");
    if (maxTokens < 0) {
      maxTokens = optionalPositiveInt(root, "max_tokens");
    }
    JsonNode n = root.get("n");
    if (n != null && !n.isNull() && !(n.isIntegralNumber() && n.asInt() == 1)) {
      throw bad("Only n=1 is supported by the simulated model.", "n");
    }
    return new SimRequest(api, model, stream, includeUsage, maxTokens, promptTokens, profile(root, overrideHeader, config));
  }

  private static String model(SimApi api, JsonNode root, SimConfig config) {
    JsonNode m = root.get("model");
    if (m == null || m.isNull()) {
      if (api == SimApi.TOKENS) {
        return config.models().getFirst();
      }
      throw bad("you must provide a model parameter", "model");
    }
    if (!m.isTextual()) {
      throw bad("Invalid type for 'model': expected a string.", "model");
    }
    if (!config.models().contains(m.asText())) {
      throw new ApiException(ApiError.notFound(
          "The model `" + m.asText() + "` does not exist or you do not have access to it.", "model_not_found"));
    }
    return m.asText();
  }

  private static int prompt(SimApi api, JsonNode root) {
    return switch (api) {
      case CHAT -> messages(root.get("messages"));
      case COMPLETIONS -> completionPrompt(root.get("prompt"));
      case TOKENS -> {
        JsonNode p = root.get("prompt");
        if (p == null || !p.isTextual()) {
          throw bad(p == null ? "Missing required parameter: 'prompt'." : "Invalid type for 'prompt': expected a string.", "prompt");
        }
        yield Tokenizer.cl100k().count(p.asText());
      }
    };
  }

  private static int messages(JsonNode messages) {
    if (messages == null || messages.isNull()) {
      throw bad("Missing required parameter: 'messages'.", "messages");
    }
    if (!messages.isArray() || messages.isEmpty()) {
      throw bad("Invalid 'messages': expected a non-empty array of message objects.", "messages");
    }
    int tokens = 0;
    for (int i = 0; i < messages.size(); i++) {
      JsonNode msg = messages.get(i);
      String where = "messages[" + i + "]";
      if (!msg.isObject()) {
        throw bad("Invalid type for '" + where + "': expected an object.", where);
      }
      JsonNode role = msg.get("role");
      if (role == null || !role.isTextual()) {
        throw bad("Missing required parameter: '" + where + ".role'.", where + ".role");
      }
      JsonNode content = msg.get("content");
      if (content == null || content.isNull()) {
        continue; // assistant tool-call messages may have null content
      }
      if (content.isTextual()) {
        tokens += Tokenizer.cl100k().count(content.asText());
      } else if (content.isArray()) {
        for (JsonNode part : content) {
          JsonNode text = part.get("text");
          if (text != null && text.isTextual()) {
            tokens += Tokenizer.cl100k().count(text.asText());
          }
        }
      } else {
        throw bad("Invalid type for '" + where + ".content': expected a string or an array of parts.", where + ".content");
      }
      tokens += 4; // per-message framing, as OpenAI counts it for chat models
    }
    return tokens + 3;
  }

  private static int completionPrompt(JsonNode p) {
    if (p == null || p.isNull()) {
      throw bad("Missing required parameter: 'prompt'.", "prompt");
    }
    if (p.isTextual()) {
      return Tokenizer.cl100k().count(p.asText());
    }
    if (p.isArray() && !p.isEmpty()) {
      int tokens = 0;
      for (JsonNode s : p) {
        if (!s.isTextual()) {
          throw bad("Invalid type for 'prompt': expected a string or an array of strings.", "prompt");
        }
        tokens += Tokenizer.cl100k().count(s.asText());
      }
      return tokens;
    }
    throw bad("Invalid type for 'prompt': expected a string or an array of strings.", "prompt");
  }

  private static StreamProfile profile(JsonNode root, String overrideHeader, SimConfig config) {
    StreamProfile profile = config.defaultProfile();
    try {
      if (overrideHeader != null) {
        profile = profile.with(StreamProfile.parseOverrides(overrideHeader));
      }
      JsonNode ext = root.get(StreamProfile.BODY_FIELD);
      if (ext != null && !ext.isNull()) {
        profile = profile.with(bodyOverrides(ext));
      }
    } catch (IllegalArgumentException e) {
      throw bad("Invalid simulation override: " + e.getMessage(), StreamProfile.BODY_FIELD);
    }
    return profile;
  }

  private static Map<String, String> bodyOverrides(JsonNode ext) {
    if (ext.isTextual()) {
      return StreamProfile.parseOverrides(ext.asText());
    }
    if (ext.isObject()) {
      Map<String, String> out = new java.util.LinkedHashMap<>();
      ext.properties().forEach(e -> out.put(e.getKey(), e.getValue().asText()));
      return out;
    }
    throw new IllegalArgumentException("expected a string or an object");
  }

  private static boolean optionalBoolean(JsonNode obj, String field, boolean dflt) {
    JsonNode v = obj.get(field);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (!v.isBoolean()) {
      throw bad("Invalid type for '" + field + "': expected a boolean.", field);
    }
    return v.asBoolean();
  }

  private static int optionalPositiveInt(JsonNode obj, String field) {
    JsonNode v = obj.get(field);
    if (v == null || v.isNull()) {
      return -1;
    }
    if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < 1) {
      throw bad("Invalid '" + field + "': expected an integer >= 1.", field);
    }
    return v.asInt();
  }

  private static ApiException bad(String message, String param) {
    return new ApiException(ApiError.invalidRequest(message, param));
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "malformed JSON";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
