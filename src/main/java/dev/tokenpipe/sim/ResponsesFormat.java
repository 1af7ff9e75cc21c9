package dev.tokenpipe.sim;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.tokens.Tokenizer;
import java.util.UUID;

/**
 * OpenAI Responses, {@code POST /v1/responses} (platform.openai.com/docs/api-reference/responses-streaming):
 * named SSE events, each with {@code "type"} equal to its name and a {@code sequence_number} counting the
 * stream's events from 0. One output item per part of the plan, in order:
 *
 * <pre>
 * response.created, response.in_progress             (status in_progress, output [])
 * reasoning item:  response.output_item.added, response.reasoning_summary_part.added,
 *                  response.reasoning_summary_text.delta ..., response.reasoning_summary_text.done,
 *                  response.reasoning_summary_part.done, response.output_item.done
 * message item:    response.output_item.added, response.content_part.added (output_text),
 *                  response.output_text.delta ..., response.output_text.done,
 *                  response.content_part.done, response.output_item.done
 * function_call:   response.output_item.added, response.function_call_arguments.delta ...,
 *                  response.function_call_arguments.done, response.output_item.done
 * response.completed  (status completed, every item, usage)   or   response.incomplete (max_output_tokens)
 * </pre>
 *
 * The first item is opened with the head. The done events and the final response repeat each item's whole
 * text, as the API does: they are rebuilt from the plan when the item ends, not accumulated while
 * streaming. Memory: nothing that grows with the output while tokens stream; the closing events of a message
 * item plus {@code response.completed} are about four copies of its text (about 25 bytes per output token),
 * built and written together at the end. The request reader ({@link #request}) checks {@code input},
 * {@code instructions}, {@code max_output_tokens}, {@code stream}, {@code reasoning}, {@code tools} and
 * {@code tool_choice}.
 */
final class ResponsesFormat implements StreamFormat {
  private final SimRequest request;
  private final OutputPlan plan;
  private final long created;
  private final String id;
  private final String suffix;
  private long seq;
  private OutputPlan.Part part;
  private int outputIndex = -1;
  private String deltaPrefix;
  private String deltaSuffix;
  private int toolSent;

  ResponsesFormat(SimRequest request, OutputPlan plan, long createdEpochSeconds) {
    this.request = request;
    this.plan = plan;
    this.created = createdEpochSeconds;
    String uuid = UUID.randomUUID().toString().replace("-", "");
    this.id = uuid.substring(0, 24);
    this.suffix = uuid.substring(8, 32);
  }

  @Override
  public void open(Sink out) {
    String response = response("in_progress", false);
    emit(out, "response.created", ",\"response\":" + response + "}");
    emit(out, "response.in_progress", ",\"response\":" + response + "}");
    OutputPlan.Part first = plan.firstPart();
    if (first != null) {
      startItem(out, first);
    }
  }

  @Override
  public void tokens(Sink out, OutputPlan.Part p, CharSequence jsonEscaped, CharSequence raw, int count) {
    if (p != part) {
      stopItem(out);
      startItem(out, p);
    }
    String name = switch (p) {
      case REASONING -> "response.reasoning_summary_text.delta";
      case CONTENT -> "response.output_text.delta";
      case TOOL -> "response.function_call_arguments.delta";
    };
    CharSequence delta = jsonEscaped;
    if (p == OutputPlan.Part.TOOL) {
      boolean first = toolSent == 0;
      toolSent += count;
      delta = OutputPlan.escape(OutputPlan.toolPiece(jsonEscaped, first, toolSent >= plan.tool()));
    }
    out.event(name, deltaPrefix + seq++ + deltaSuffix + delta + "\"" + (p == OutputPlan.Part.CONTENT ? ",\"logprobs\":[]}" : "}"));
  }

  @Override
  public void finish(Sink out) {
    stopItem(out);
    boolean incomplete = plan.truncated();
    emit(out, incomplete ? "response.incomplete" : "response.completed",
        ",\"response\":" + response(incomplete ? "incomplete" : "completed", true) + "}");
  }

  /** One event: {@code {"type":name,"sequence_number":n} + rest}, where rest starts with a comma and closes the object. */
  private void emit(Sink out, String name, String rest) {
    out.event(name, "{\"type\":\"" + name + "\",\"sequence_number\":" + seq++ + rest);
  }

  private String itemId(OutputPlan.Part p) {
    return switch (p) {
      case REASONING -> "rs_" + suffix;
      case CONTENT -> "msg_" + suffix;
      case TOOL -> "fc_" + suffix;
    };
  }

  /** The item as {@code output_item.added} (empty) or {@code output_item.done} and the final response (whole) show it. */
  private String item(OutputPlan.Part p, boolean done) {
    String itemId = "\"id\":\"" + itemId(p) + "\"";
    return switch (p) {
      case REASONING -> "{" + itemId + ",\"type\":\"reasoning\",\"summary\":["
          + (done ? summaryPart(plan.text(p)) : "") + "]}";
      case CONTENT -> "{" + itemId + ",\"type\":\"message\",\"status\":\"" + (done ? "completed" : "in_progress")
          + "\",\"role\":\"assistant\",\"content\":[" + (done ? textPart(plan.text(p)) : "") + "]}";
      case TOOL -> "{" + itemId + ",\"type\":\"function_call\",\"status\":\"" + (done ? "completed" : "in_progress")
          + "\",\"arguments\":" + (done ? Json.quote(plan.text(p)) : "\"\"") + ",\"call_id\":\"call_" + suffix
          + "\",\"name\":" + Json.quote(plan.toolName()) + "}";
    };
  }

  private static String summaryPart(String text) {
    return "{\"type\":\"summary_text\",\"text\":" + Json.quote(text) + "}";
  }

  private static String textPart(String text) {
    return "{\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[],\"text\":" + Json.quote(text) + "}";
  }

  private void startItem(Sink out, OutputPlan.Part p) {
    part = p;
    outputIndex++;
    String where = ",\"item_id\":\"" + itemId(p) + "\",\"output_index\":" + outputIndex;
    emit(out, "response.output_item.added", ",\"output_index\":" + outputIndex + ",\"item\":" + item(p, false) + "}");
    switch (p) {
      case REASONING -> emit(out, "response.reasoning_summary_part.added",
          where + ",\"summary_index\":0,\"part\":" + summaryPart("") + "}");
      case CONTENT -> emit(out, "response.content_part.added", where + ",\"content_index\":0,\"part\":" + textPart("") + "}");
      case TOOL -> { }
    }
    String name = switch (p) {
      case REASONING -> "response.reasoning_summary_text.delta";
      case CONTENT -> "response.output_text.delta";
      case TOOL -> "response.function_call_arguments.delta";
    };
    deltaPrefix = "{\"type\":\"" + name + "\",\"sequence_number\":";
    deltaSuffix = where + switch (p) {
      case REASONING -> ",\"summary_index\":0,\"delta\":\"";
      case CONTENT -> ",\"content_index\":0,\"delta\":\"";
      case TOOL -> ",\"delta\":\"";
    };
  }

  private void stopItem(Sink out) {
    if (part == null) {
      return;
    }
    OutputPlan.Part p = part;
    String where = ",\"item_id\":\"" + itemId(p) + "\",\"output_index\":" + outputIndex;
    String text = plan.text(p);
    switch (p) {
      case REASONING -> {
        emit(out, "response.reasoning_summary_text.done", where + ",\"summary_index\":0,\"text\":" + Json.quote(text) + "}");
        emit(out, "response.reasoning_summary_part.done", where + ",\"summary_index\":0,\"part\":" + summaryPart(text) + "}");
      }
      case CONTENT -> {
        emit(out, "response.output_text.done", where + ",\"content_index\":0,\"text\":" + Json.quote(text) + ",\"logprobs\":[]}");
        emit(out, "response.content_part.done", where + ",\"content_index\":0,\"part\":" + textPart(text) + "}");
      }
      case TOOL -> emit(out, "response.function_call_arguments.done",
          where + ",\"name\":" + Json.quote(plan.toolName()) + ",\"arguments\":" + Json.quote(text) + "}");
    }
    emit(out, "response.output_item.done", ",\"output_index\":" + outputIndex + ",\"item\":" + item(p, true) + "}");
    part = null;
  }

  /** The response object; with {@code done}, every item whole and the usage. */
  private String response(String status, boolean done) {
    StringBuilder output = new StringBuilder();
    if (done) {
      for (OutputPlan.Part p : OutputPlan.Part.values()) {
        if (plan.count(p) > 0) {
          output.append(output.isEmpty() ? "" : ",").append(item(p, true));
        }
      }
    }
    int prompt = request.promptTokens();
    int completion = plan.total();
    String usage = done
        ? "{\"input_tokens\":" + prompt + ",\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":" + completion
            + ",\"output_tokens_details\":{\"reasoning_tokens\":" + plan.reasoning() + "},\"total_tokens\":"
            + (prompt + completion) + "}"
        : "null";
    return "{\"id\":\"resp_" + id + "\",\"object\":\"response\",\"created_at\":" + created + ",\"status\":\"" + status
        + "\",\"error\":null,\"incomplete_details\":"
        + ("incomplete".equals(status) ? "{\"reason\":\"max_output_tokens\"}" : "null")
        + ",\"instructions\":null,\"max_output_tokens\":" + (request.maxTokens() > 0 ? request.maxTokens() : "null")
        + ",\"model\":" + Json.quote(request.model()) + ",\"output\":[" + output + "],\"parallel_tool_calls\":true,"
        + "\"previous_response_id\":null,\"store\":false,\"text\":{\"format\":{\"type\":\"text\"}},\"tool_choice\":\"auto\","
        + "\"tools\":[],\"truncation\":\"disabled\",\"usage\":" + usage + ",\"metadata\":{}}";
  }

  @Override
  public String completeBody() {
    return response(plan.truncated() ? "incomplete" : "completed", true);
  }

  // ------------------------------------------------------------------------------------------ request

  /** OpenAI Responses: {@code max_output_tokens}, {@code reasoning}, {@code tools}, {@code tool_choice}. */
  static SimRequest request(SimApi api, JsonNode root, String model, StreamProfile profile) {
    int promptTokens = input(root.get("input")) + SimRequest.system(root.get("instructions"));
    boolean stream = SimRequest.optionalBoolean(root, "stream", false);
    int maxTokens = SimRequest.optionalPositiveInt(root, "max_output_tokens");
    JsonNode r = root.get("reasoning");
    if (r != null && !r.isNull() && !r.isObject()) {
      throw SimRequest.bad("Invalid type for 'reasoning': expected an object.", "reasoning");
    }
    boolean reasoning = r != null && r.isObject() && !"none".equals(r.path("effort").asText(""));
    SimRequest.Tools tools = SimRequest.openAiTools(root, false);
    return new SimRequest(api, model, stream, false, maxTokens, promptTokens, profile, reasoning, -1,
        tools.forced(), tools.name());
  }

  /** Responses' {@code input}: a string, or an array of items (messages with string or part content, tool outputs). */
  private static int input(JsonNode input) {
    if (input == null || input.isNull()) {
      throw SimRequest.bad("Missing required parameter: 'input'.", "input");
    }
    if (input.isTextual()) {
      return Tokenizer.cl100k().count(input.asText());
    }
    if (!input.isArray()) {
      throw SimRequest.bad("Invalid type for 'input': expected a string or an array of input items.", "input");
    }
    int tokens = 0;
    for (int i = 0; i < input.size(); i++) {
      JsonNode item = input.get(i);
      if (!item.isObject()) {
        throw SimRequest.bad("Invalid type for 'input[" + i + "]': expected an object.", "input[" + i + "]");
      }
      JsonNode content = item.has("content") ? item.get("content") : item.get("output");
      if (content != null && content.isTextual()) {
        tokens += Tokenizer.cl100k().count(content.asText());
      } else if (content != null && content.isArray()) {
        for (JsonNode part : content) {
          JsonNode text = part.get("text");
          if (text != null && text.isTextual()) {
            tokens += Tokenizer.cl100k().count(text.asText());
          }
        }
      }
      tokens += 4;
    }
    return tokens + 3;
  }
}
