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
 * reports the first problem as a 400/404 naming the field (written in the API's own error shape by
 * {@link SimHttpHandler}).
 *
 * @param maxTokens the request's max_tokens (max_completion_tokens, max_output_tokens), or -1 when absent
 * @param promptTokens prompt length counted with the real tokenizer, for {@code usage}
 * @param asksReasoning the request enables thinking or reasoning (Anthropic {@code thinking}, Responses
 *     {@code reasoning}, chat {@code reasoning_effort})
 * @param reasoningBudget Anthropic's {@code thinking.budget_tokens}, or -1
 * @param forcesTool the request's tool choice requires a tool call (Anthropic {@code any}/{@code tool},
 *     OpenAI {@code required}/a named function)
 * @param toolName the tool a call goes to: the named one, else the first declared, else {@value #DEFAULT_TOOL}
 */
record SimRequest(
    SimApi api,
    String model,
    boolean stream,
    boolean includeUsage,
    int maxTokens,
    int promptTokens,
    StreamProfile profile,
    boolean asksReasoning,
    int reasoningBudget,
    boolean forcesTool,
    String toolName) {

  /** The tool name when the request declares none and the profile asks for a call. */
  static final String DEFAULT_TOOL = "sim_tool";

  /** Tokens this request will produce (the profile's length, capped by max_tokens). */
  int outputTokens() {
    return maxTokens >= 0 ? Math.min(maxTokens, profile.tokens()) : profile.tokens();
  }

  /**
   * What this request outputs, starting at {@code textStart} of the bundled text: the profile's
   * {@code reasoning} and {@code tool_call} counts, or, where they are -1, what the request asks for (half
   * the output as reasoning, capped by the thinking budget; all the rest as a tool call when one is
   * required). Completions and the token API output content only.
   */
  OutputPlan plan(long textStart) {
    int total = outputTokens();
    boolean truncated = maxTokens >= 0 && maxTokens < profile.tokens();
    if (!api.parts) {
      return new OutputPlan(textStart, 0, total, 0, toolName, truncated);
    }
    int reasoning = profile.reasoning() >= 0 ? profile.reasoning() : asksReasoning ? total / 2 : 0;
    if (profile.reasoning() < 0 && reasoningBudget > 0) {
      reasoning = Math.min(reasoning, reasoningBudget);
    }
    reasoning = Math.min(reasoning, total);
    int tool = profile.toolCall() >= 0 ? profile.toolCall() : forcesTool ? total - reasoning : 0;
    tool = Math.min(tool, total - reasoning);
    return new OutputPlan(textStart, reasoning, total - reasoning - tool, tool, toolName, truncated);
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
    StreamProfile profile = profile(root, overrideHeader, config);
    return api.reader.read(api, root, model, profile);
  }

  /**
   * The OpenAI chat and completions requests and the token API's: {@code messages} / {@code prompt},
   * {@code stream_options}, {@code max_completion_tokens} / {@code max_tokens}, {@code n}, and for chat
   * {@code reasoning_effort}, {@code tools}, {@code tool_choice}.
   */
  static SimRequest openAi(SimApi api, JsonNode root, String model, StreamProfile profile) {
    int promptTokens = switch (api) {
      case CHAT -> messages(root.get("messages"));
      case COMPLETIONS -> completionPrompt(root.get("prompt"));
      default -> {
        JsonNode p = root.get("prompt");
        if (p == null || !p.isTextual()) {
          throw bad(p == null ? "Missing required parameter: 'prompt'." : "Invalid type for 'prompt': expected a string.", "prompt");
        }
        yield Tokenizer.cl100k().count(p.asText());
      }
    };
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
    JsonNode effort = root.get("reasoning_effort");
    if (effort != null && !effort.isNull() && !effort.isTextual()) {
      throw bad("Invalid type for 'reasoning_effort': expected a string.", "reasoning_effort");
    }
    boolean reasoning = effort != null && effort.isTextual() && !"none".equals(effort.asText());
    Tools tools = openAiTools(root, true);
    return new SimRequest(api, model, stream, includeUsage, maxTokens, promptTokens, profile, reasoning, -1,
        tools.forced(), tools.name());
  }

  /** The tool a call goes to and whether the tool choice requires one. */
  record Tools(boolean forced, String name) {}

  /**
   * OpenAI's {@code tools} and {@code tool_choice}: chat nests the name in {@code function}
   * ({@code {"type":"function","function":{"name"}}}), Responses does not ({@code {"type":"function","name"}}).
   */
  static Tools openAiTools(JsonNode root, boolean nested) {
    String first = null;
    JsonNode tools = root.get("tools");
    if (tools != null && !tools.isNull()) {
      if (!tools.isArray()) {
        throw bad("Invalid type for 'tools': expected an array.", "tools");
      }
      for (int i = 0; i < tools.size(); i++) {
        JsonNode t = tools.get(i);
        if (!t.isObject()) {
          throw bad("Invalid type for 'tools[" + i + "]': expected an object.", "tools[" + i + "]");
        }
        JsonNode name = nested ? t.path("function").get("name") : t.get("name");
        if (first == null && name != null && name.isTextual()) {
          first = name.asText();
        }
      }
    }
    boolean forced = false;
    String named = null;
    JsonNode choice = root.get("tool_choice");
    if (choice != null && !choice.isNull()) {
      if (choice.isTextual()) {
        forced = "required".equals(choice.asText());
      } else if (choice.isObject()) {
        JsonNode name = nested ? choice.path("function").get("name") : choice.get("name");
        if (name != null && name.isTextual()) {
          forced = true;
          named = name.asText();
        }
      } else {
        throw bad("Invalid type for 'tool_choice': expected a string or an object.", "tool_choice");
      }
    }
    return new Tools(forced, named != null ? named : first != null ? first : DEFAULT_TOOL);
  }

  private static String model(SimApi api, JsonNode root, SimConfig config) {
    JsonNode m = root.get("model");
    if (m == null || m.isNull()) {
      if (!api.dialect.namesModel()) {
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

  static int messages(JsonNode messages) {
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

  /** Anthropic's {@code system} or Responses' {@code instructions}: a string or an array of text blocks. */
  static int system(JsonNode system) {
    if (system == null || system.isNull()) {
      return 0;
    }
    if (system.isTextual()) {
      return Tokenizer.cl100k().count(system.asText());
    }
    int tokens = 0;
    for (JsonNode block : system) {
      JsonNode text = block.get("text");
      if (text != null && text.isTextual()) {
        tokens += Tokenizer.cl100k().count(text.asText());
      }
    }
    return tokens;
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

  static boolean optionalBoolean(JsonNode obj, String field, boolean dflt) {
    JsonNode v = obj.get(field);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (!v.isBoolean()) {
      throw bad("Invalid type for '" + field + "': expected a boolean.", field);
    }
    return v.asBoolean();
  }

  static int optionalPositiveInt(JsonNode obj, String field) {
    JsonNode v = obj.get(field);
    if (v == null || v.isNull()) {
      return -1;
    }
    if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < 1) {
      throw bad("Invalid '" + field + "': expected an integer >= 1.", field);
    }
    return v.asInt();
  }

  static ApiException bad(String message, String param) {
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
