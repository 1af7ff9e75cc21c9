package dev.tokenpipe.sim;

import dev.tokenpipe.openai.Json;
import dev.tokenpipe.sse.SseEncoder;
import java.util.UUID;

/**
 * OpenAI chat completions, legacy completions and the simple token API: the data payloads of one stream
 * (unnamed SSE events ending with {@code [DONE]}) and the non-streaming body. The JSON is assembled from a
 * per-stream prefix and pre-escaped token text: at 200,000 events per second the simulated model cannot
 * afford a JSON serializer per event.
 *
 * <p>Chat reasoning is {@code delta.reasoning_content} (as DeepSeek and vLLM send it); the tool call is
 * {@code delta.tool_calls[0]}, its id, type and name on the first piece of arguments
 * (platform.openai.com/docs/api-reference/chat-streaming). Completions and the token API have neither:
 * their plans are all content.
 */
final class ChunkFormat implements StreamFormat {
  private final SimRequest request;
  private final OutputPlan plan;
  private final String id;
  private final long created;
  private final String prefix;
  private final String usageNull;
  private int toolSent;

  ChunkFormat(SimRequest request, OutputPlan plan, long createdEpochSeconds) {
    this.request = request;
    this.plan = plan;
    String uuid = UUID.randomUUID().toString().replace("-", "");
    this.id = (request.api() == SimApi.CHAT ? "chatcmpl-" : "cmpl-") + uuid.substring(0, 24);
    this.created = createdEpochSeconds;
    String object = request.api() == SimApi.CHAT ? "chat.completion.chunk" : "text_completion";
    this.prefix = "{\"id\":\"" + id + "\",\"object\":\"" + object + "\",\"created\":" + created
        + ",\"model\":" + Json.quote(request.model()) + ",\"system_fingerprint\":\"fp_tokenpipe\",\"choices\":[";
    // With include_usage, OpenAI sends "usage":null on every chunk but the last.
    this.usageNull = request.includeUsage() ? ",\"usage\":null}" : "}";
  }

  @Override
  public void open(Sink out) {
    if (request.api() == SimApi.CHAT) {
      // The assistant role with empty content: not a token; the first byte comes before the first token.
      out.event(null, prefix + "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
          + "\"finish_reason\":null}]" + usageNull);
    }
  }

  @Override
  public void tokens(Sink out, OutputPlan.Part part, CharSequence jsonEscaped, CharSequence raw, int count) {
    String data = switch (request.api()) {
      case CHAT -> prefix + "{\"index\":0,\"delta\":" + chatDelta(part, jsonEscaped, count)
          + ",\"logprobs\":null,\"finish_reason\":null}]" + usageNull;
      case COMPLETIONS -> prefix + "{\"index\":0,\"text\":\"" + jsonEscaped
          + "\",\"logprobs\":null,\"finish_reason\":null}]" + usageNull;
      default -> raw.toString();
    };
    out.event(null, data);
  }

  private String chatDelta(OutputPlan.Part part, CharSequence jsonEscaped, int count) {
    return switch (part) {
      case CONTENT -> "{\"content\":\"" + jsonEscaped + "\"}";
      case REASONING -> "{\"reasoning_content\":\"" + jsonEscaped + "\"}";
      case TOOL -> {
        boolean first = toolSent == 0;
        toolSent += count;
        String args = OutputPlan.escape(OutputPlan.toolPiece(jsonEscaped, first, toolSent >= plan.tool()));
        yield first
            ? "{\"tool_calls\":[{\"index\":0,\"id\":\"" + toolCallId() + "\",\"type\":\"function\",\"function\":{\"name\":"
                + Json.quote(plan.toolName()) + ",\"arguments\":\"" + args + "\"}}]}"
            : "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"" + args + "\"}}]}";
      }
    };
  }

  @Override
  public void finish(Sink out) {
    if (request.api() != SimApi.TOKENS) {
      String reason = Json.quote(finishReason());
      out.event(null, request.api() == SimApi.CHAT
          ? prefix + "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":" + reason + "}]" + usageNull
          : prefix + "{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":" + reason + "}]" + usageNull);
      if (request.includeUsage()) {
        out.event(null, prefix + "]," + usageJson() + "}");
      }
    }
    out.event(null, SseEncoder.DONE);
  }

  private String finishReason() {
    return plan.truncated() ? "length" : plan.tool() > 0 ? "tool_calls" : "stop";
  }

  private String toolCallId() {
    return "call_" + id.substring(id.length() - 24);
  }

  private String usageJson() {
    int prompt = request.promptTokens();
    int completion = plan.total();
    String details = plan.reasoning() > 0
        ? ",\"completion_tokens_details\":{\"reasoning_tokens\":" + plan.reasoning() + "}" : "";
    return "\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion
        + ",\"total_tokens\":" + (prompt + completion) + details + "}";
  }

  @Override
  public String completeBody() {
    String reason = Json.quote(finishReason());
    String choice;
    if (request.api() == SimApi.CHAT) {
      StringBuilder message = new StringBuilder("{\"role\":\"assistant\",\"content\":");
      message.append(plan.content() == 0 && plan.tool() > 0 ? "null" : Json.quote(plan.text(OutputPlan.Part.CONTENT)));
      if (plan.reasoning() > 0) {
        message.append(",\"reasoning_content\":").append(Json.quote(plan.text(OutputPlan.Part.REASONING)));
      }
      if (plan.tool() > 0) {
        message.append(",\"tool_calls\":[{\"id\":\"").append(toolCallId()).append("\",\"type\":\"function\",\"function\":{")
            .append("\"name\":").append(Json.quote(plan.toolName())).append(",\"arguments\":")
            .append(Json.quote(plan.text(OutputPlan.Part.TOOL))).append("}}]");
      }
      choice = "{\"index\":0,\"message\":" + message + ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":" + reason + "}";
    } else {
      choice = "{\"index\":0,\"text\":" + Json.quote(plan.text(OutputPlan.Part.CONTENT))
          + ",\"logprobs\":null,\"finish_reason\":" + reason + "}";
    }
    String object = request.api() == SimApi.CHAT ? "chat.completion" : "text_completion";
    return "{\"id\":\"" + id + "\",\"object\":\"" + object + "\",\"created\":" + created + ",\"model\":"
        + Json.quote(request.model()) + ",\"system_fingerprint\":\"fp_tokenpipe\",\"choices\":[" + choice + "],"
        + usageJson() + "}";
  }
}
