package dev.tokenpipe.dialect;

/**
 * What one stream event carries, packed into a {@code long} so that classifying an event allocates nothing:
 * the low 8 bits are kind flags, the rest is the upstream's output-token count plus one (0 when the event
 * reports none). Produced by {@link EventClassifier}; the definition itself is in docs/metrics.md.
 *
 * <p>{@link #CONTENT}, {@link #REASONING} and {@link #TOOL_CALL} are generated output (a "token" for TTFT,
 * ITL and the first-token timeout); {@link #TERMINATOR} and {@link #ERROR} are not. One event may carry
 * several kinds (a chat chunk with content and a tool call; a {@code response.failed} that is both a
 * terminator and an error).
 */
public final class EventKind {
  /** Generated text the user reads: chat {@code delta.content}, legacy {@code text}, Anthropic {@code text_delta}, ... */
  public static final int CONTENT = 1;
  /** Generated reasoning: {@code reasoning_content} / {@code reasoning}, Anthropic {@code thinking_delta}, ... */
  public static final int REASONING = 2;
  /** Generated tool-call name or arguments: {@code tool_calls[].function}, Anthropic {@code input_json_delta}, ... */
  public static final int TOOL_CALL = 4;
  /** The stream's end: {@code [DONE]}, Ollama {@code "done":true}, {@code message_stop}, {@code response.completed}, ... */
  public static final int TERMINATOR = 8;
  /** An in-band error: an {@code error} object, an SSE event named {@code error}, {@code response.failed}. */
  public static final int ERROR = 16;

  /**
   * A choice's {@code finish_reason} (OpenAI chat and legacy completions): the model says its answer is finished.
   * Not a terminator, since OpenAI's stream goes on with a usage chunk and {@code [DONE]}; but servers that send
   * no {@code [DONE]} (llama.cpp before ggml-org/llama.cpp#9459, TGI before huggingface/text-generation-inference#2221,
   * ik_llama.cpp, llama-box) end with it, and a body that then ends by its own framing is complete
   * (docs/metrics.md, "Complete").
   */
  public static final int FINISHED = 32;

  /** Any of the generated-output kinds. */
  public static final int GENERATED = CONTENT | REASONING | TOOL_CALL;

  /** An event that carries nothing the books care about (role-only chunks, pings, malformed JSON, ...). */
  public static final long NONE = 0;

  private static final int FLAG_BITS = 8;
  /** Largest usage value that can be packed (2^55 - 2); larger reports are dropped as absurd. */
  static final long MAX_USAGE = (1L << (64 - FLAG_BITS)) - 2;

  private EventKind() {}

  /** Packs {@code flags} (an OR of the kind constants) and {@code usage} (-1 when absent). */
  public static long of(int flags, long usage) {
    long u = usage < 0 || usage > MAX_USAGE ? 0 : usage + 1;
    return (u << FLAG_BITS) | (flags & 0xFF);
  }

  /** The kind flags of a classification. */
  public static int flags(long event) {
    return (int) (event & 0xFF);
  }

  /** True when the event carries {@code kind} (one flag or several: true if any of them). */
  public static boolean has(long event, int kind) {
    return (event & kind) != 0;
  }

  /** True when the event carries generated output of any kind: content, reasoning or a tool call. */
  public static boolean generated(long event) {
    return (event & GENERATED) != 0;
  }

  /** The upstream's output-token count reported by this event (chat {@code usage.completion_tokens}, ...), else -1. */
  public static long usage(long event) {
    return (event >>> FLAG_BITS) - 1;
  }

  /** For logs and test failures: {@code CONTENT|TOOL_CALL usage=7}. */
  public static String describe(long event) {
    StringBuilder sb = new StringBuilder();
    String[] names = {"CONTENT", "REASONING", "TOOL_CALL", "TERMINATOR", "ERROR", "FINISHED"};
    for (int i = 0; i < names.length; i++) {
      if ((event & (1 << i)) != 0) {
        sb.append(sb.isEmpty() ? "" : "|").append(names[i]);
      }
    }
    if (sb.isEmpty()) {
      sb.append("NONE");
    }
    long usage = usage(event);
    return usage >= 0 ? sb.append(" usage=").append(usage).toString() : sb.toString();
  }
}
