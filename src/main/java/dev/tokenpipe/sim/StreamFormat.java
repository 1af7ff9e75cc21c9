package dev.tokenpipe.sim;

/**
 * One generation in its API's wire shape: the events of a stream, driven by {@link TokenStream}, and the
 * body of a non-streaming response. One implementation per API family ({@link ChunkFormat} for OpenAI chat,
 * completions and the token API, {@link MessagesFormat} for Anthropic Messages, {@link ResponsesFormat} for
 * OpenAI Responses). A new API is one class, implementing this and holding a static request reader (see
 * {@link SimApi.Reader}, e.g. {@link MessagesFormat#request}), plus its line in {@link SimApi}.
 *
 * <p>The stream calls {@link #open}, then {@link #tokens} once per token event, in the order of the
 * {@link OutputPlan} (reasoning, then content, then the tool call; one event never mixes parts), then
 * {@link #finish}. The format writes every event it needs around them (block starts and stops, done events,
 * usage, the terminator) through the {@link Sink}, which stamps each one. Implementations assemble JSON from
 * per-stream prefixes and the pre-escaped token text: no JSON serializer per event. Text an API repeats
 * whole at the end (Responses' done events, non-streaming bodies) is rebuilt from the plan, not kept.
 */
interface StreamFormat {
  /** Where a format writes: each call is one SSE event, stamped with its emission time and written at once. */
  interface Sink {
    /**
     * @param name the SSE event type, or null for an unnamed event
     * @param data the event's data: JSON, {@code [DONE]}, or the raw token text of the token API
     */
    void event(String name, String data);
  }

  /** The events sent with the response head, before the first token (never generated output). */
  void open(Sink out);

  /**
   * One event of {@code count} generated tokens of one part.
   *
   * @param jsonEscaped the tokens' text as JSON string content (without quotes)
   * @param raw the same text unescaped
   */
  void tokens(Sink out, OutputPlan.Part part, CharSequence jsonEscaped, CharSequence raw, int count);

  /** The events after the last token: closing events, usage and the terminator ({@code [DONE]}, ...). */
  void finish(Sink out);

  /** The whole non-streaming response body. */
  String completeBody();
}
