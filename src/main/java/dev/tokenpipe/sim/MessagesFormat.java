package dev.tokenpipe.sim;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import java.util.UUID;

/**
 * Anthropic Messages, {@code POST /v1/messages} (docs.anthropic.com/en/api/messages-streaming): named SSE
 * events, each with {@code "type"} equal to its name.
 *
 * <pre>
 * message_start                         (message with empty content, usage.input_tokens)
 * content_block_start  index 0          (thinking / text / tool_use, the plan's first part)
 * ping
 * content_block_delta  thinking_delta | text_delta | input_json_delta   (one per token event)
 * [content_block_delta signature_delta] (ends a thinking block)
 * content_block_stop, content_block_start index+1 ... (at each change of part)
 * content_block_stop
 * message_delta                         (stop_reason end_turn | max_tokens | tool_use, usage.output_tokens)
 * message_stop
 * </pre>
 *
 * The first block is opened with the head (as the API does before its first token); the deltas' JSON is a
 * per-block prefix plus the escaped token text. The request reader ({@link #request}) checks the fields the
 * sim uses: {@code messages}, {@code system}, {@code max_tokens} (required), {@code stream},
 * {@code thinking}, {@code tools}, {@code tool_choice}.
 */
final class MessagesFormat implements StreamFormat {
  /** What a thinking block is signed with: opaque to clients, checked only by Anthropic's servers. */
  static final String SIGNATURE = "dG9rZW5waXBlLXNpbSB0aGlua2luZyBzaWduYXR1cmU=";

  private final SimRequest request;
  private final OutputPlan plan;
  private final String id;
  private final String toolId;
  private OutputPlan.Part part;
  private int index = -1;
  private String deltaPrefix;
  private String deltaSuffix;
  private int toolSent;

  MessagesFormat(SimRequest request, OutputPlan plan, long createdEpochSeconds) {
    this.request = request;
    this.plan = plan;
    String uuid = UUID.randomUUID().toString().replace("-", "");
    this.id = "msg_01" + uuid.substring(0, 22);
    this.toolId = "toolu_01" + uuid.substring(10, 32);
  }

  @Override
  public void open(Sink out) {
    out.event("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"" + id + "\",\"type\":\"message\","
        + "\"role\":\"assistant\",\"model\":" + Json.quote(request.model()) + ",\"content\":[],\"stop_reason\":null,"
        + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + request.promptTokens()
        + ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":0}}}");
    OutputPlan.Part first = plan.firstPart();
    if (first != null) {
      startBlock(out, first);
    }
    out.event("ping", "{\"type\":\"ping\"}");
  }

  @Override
  public void tokens(Sink out, OutputPlan.Part p, CharSequence jsonEscaped, CharSequence raw, int count) {
    if (p != part) {
      stopBlock(out);
      startBlock(out, p);
    }
    if (p == OutputPlan.Part.TOOL) {
      boolean first = toolSent == 0;
      toolSent += count;
      out.event("content_block_delta", deltaPrefix
          + OutputPlan.escape(OutputPlan.toolPiece(jsonEscaped, first, toolSent >= plan.tool())) + deltaSuffix);
    } else {
      out.event("content_block_delta", deltaPrefix + jsonEscaped + deltaSuffix);
    }
  }

  @Override
  public void finish(Sink out) {
    stopBlock(out);
    out.event("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"" + stopReason()
        + "\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":" + plan.total() + "}}");
    out.event("message_stop", "{\"type\":\"message_stop\"}");
  }

  private void startBlock(Sink out, OutputPlan.Part p) {
    part = p;
    index++;
    String block = switch (p) {
      case REASONING -> "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}";
      case CONTENT -> "{\"type\":\"text\",\"text\":\"\"}";
      case TOOL -> "{\"type\":\"tool_use\",\"id\":\"" + toolId + "\",\"name\":" + Json.quote(plan.toolName()) + ",\"input\":{}}";
    };
    out.event("content_block_start", "{\"type\":\"content_block_start\",\"index\":" + index + ",\"content_block\":" + block + "}");
    deltaPrefix = "{\"type\":\"content_block_delta\",\"index\":" + index + ",\"delta\":{\"type\":" + switch (p) {
      case REASONING -> "\"thinking_delta\",\"thinking\":\"";
      case CONTENT -> "\"text_delta\",\"text\":\"";
      case TOOL -> "\"input_json_delta\",\"partial_json\":\"";
    };
    deltaSuffix = "\"}}";
  }

  private void stopBlock(Sink out) {
    if (part == null) {
      return;
    }
    if (part == OutputPlan.Part.REASONING) {
      out.event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":" + index
          + ",\"delta\":{\"type\":\"signature_delta\",\"signature\":\"" + SIGNATURE + "\"}}");
    }
    out.event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":" + index + "}");
    part = null;
  }

  private String stopReason() {
    return plan.truncated() ? "max_tokens" : plan.tool() > 0 ? "tool_use" : "end_turn";
  }

  @Override
  public String completeBody() {
    StringBuilder content = new StringBuilder();
    if (plan.reasoning() > 0) {
      content.append("{\"type\":\"thinking\",\"thinking\":").append(Json.quote(plan.text(OutputPlan.Part.REASONING)))
          .append(",\"signature\":\"").append(SIGNATURE).append("\"}");
    }
    if (plan.content() > 0) {
      content.append(content.isEmpty() ? "" : ",").append("{\"type\":\"text\",\"text\":")
          .append(Json.quote(plan.text(OutputPlan.Part.CONTENT))).append('}');
    }
    if (plan.tool() > 0) {
      content.append(content.isEmpty() ? "" : ",").append("{\"type\":\"tool_use\",\"id\":\"").append(toolId)
          .append("\",\"name\":").append(Json.quote(plan.toolName())).append(",\"input\":")
          .append(plan.text(OutputPlan.Part.TOOL)).append('}');
    }
    return "{\"id\":\"" + id + "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":" + Json.quote(request.model())
        + ",\"content\":[" + content + "],\"stop_reason\":\"" + stopReason() + "\",\"stop_sequence\":null,"
        + "\"usage\":{\"input_tokens\":" + request.promptTokens() + ",\"cache_creation_input_tokens\":0,"
        + "\"cache_read_input_tokens\":0,\"output_tokens\":" + plan.total() + "}}";
  }

  // ------------------------------------------------------------------------------------------ request

  /** Anthropic Messages: {@code max_tokens} required; {@code thinking}, {@code tools}, {@code tool_choice}. */
  static SimRequest request(SimApi api, JsonNode root, String model, StreamProfile profile) {
    JsonNode messages = root.get("messages");
    // Anthropic's own wording (field path, then what is wrong), not OpenAI's "Missing required parameter".
    if (messages == null || messages.isNull()) {
      throw SimRequest.bad("messages: Field required", "messages");
    }
    if (!messages.isArray()) {
      throw SimRequest.bad("messages: Input should be a valid list", "messages");
    }
    if (messages.isEmpty()) {
      throw SimRequest.bad("messages: at least one message is required", "messages");
    }
    int promptTokens = SimRequest.messages(messages) + SimRequest.system(root.get("system"));
    boolean stream = SimRequest.optionalBoolean(root, "stream", false);
    JsonNode mt = root.get("max_tokens");
    if (mt == null || mt.isNull()) {
      throw SimRequest.bad("max_tokens: Field required", "max_tokens");
    }
    int maxTokens = SimRequest.optionalPositiveInt(root, "max_tokens");
    boolean reasoning = false;
    int budget = -1;
    JsonNode thinking = root.get("thinking");
    if (thinking != null && !thinking.isNull()) {
      String type = thinking.path("type").asText("");
      switch (type) {
        case "enabled" -> {
          JsonNode b = thinking.get("budget_tokens");
          if (b == null || !b.isIntegralNumber() || !b.canConvertToInt() || b.asInt() < 1024) {
            throw SimRequest.bad("thinking.budget_tokens: expected an integer >= 1024", "thinking.budget_tokens");
          }
          if (b.asInt() >= maxTokens) {
            throw SimRequest.bad("`max_tokens` must be greater than `thinking.budget_tokens`", "thinking.budget_tokens");
          }
          reasoning = true;
          budget = b.asInt();
        }
        case "adaptive" -> reasoning = true;
        case "disabled" -> { }
        default -> throw SimRequest.bad("thinking.type: expected 'enabled', 'adaptive' or 'disabled'", "thinking.type");
      }
    }
    String first = null;
    JsonNode tools = root.get("tools");
    if (tools != null && !tools.isNull()) {
      if (!tools.isArray()) {
        throw SimRequest.bad("tools: expected an array", "tools");
      }
      for (int i = 0; i < tools.size(); i++) {
        JsonNode name = tools.get(i).get("name");
        if (name == null || !name.isTextual()) {
          throw SimRequest.bad("tools." + i + ".name: Field required", "tools." + i + ".name");
        }
        first = first == null ? name.asText() : first;
      }
    }
    boolean forced = false;
    String named = null;
    JsonNode choice = root.get("tool_choice");
    if (choice != null && !choice.isNull()) {
      switch (choice.path("type").asText("")) {
        case "any" -> forced = true;
        case "tool" -> {
          forced = true;
          named = choice.path("name").asText(null);
          if (named == null) {
            throw SimRequest.bad("tool_choice.name: Field required", "tool_choice.name");
          }
        }
        case "auto", "none" -> { }
        default -> throw SimRequest.bad("tool_choice.type: expected 'auto', 'any', 'tool' or 'none'", "tool_choice.type");
      }
    }
    return new SimRequest(api, model, stream, false, maxTokens, promptTokens, profile, reasoning, budget,
        forced, named != null ? named : first != null ? first : SimRequest.DEFAULT_TOOL);
  }
}
