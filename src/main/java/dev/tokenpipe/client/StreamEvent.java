package dev.tokenpipe.client;

import dev.tokenpipe.dialect.EventKind;
import dev.tokenpipe.sse.SseEvent;

/**
 * One event of a response stream with its two timestamps, so client parsing delay is separable from
 * arrival, and what it carries by the shared definition of a generated token.
 *
 * @param event          the SSE event; for NDJSON one line (type "message"), for other bodies one chunk
 *                       (type "chunk")
 * @param readNanos      {@code System.nanoTime()} when the socket read that completed this event returned
 * @param readWallMicros wall-clock microseconds of that read, comparable with an {@code EmissionStamp}
 * @param parsedNanos    {@code System.nanoTime()} when the parser handed the event out
 * @param index          0-based position of the event in its response
 * @param kind           the {@link EventKind} bits of the event as {@link dev.tokenpipe.dialect.EventClassifier}
 *                       classified it ({@link EventKind#NONE} for chunks of a body that is not a stream)
 */
public record StreamEvent(SseEvent event, long readNanos, long readWallMicros, long parsedNanos, int index, long kind) {

  public String data() {
    return event.data();
  }

  /**
   * True for the event that ends the stream in its API: {@code data: [DONE]} (OpenAI, the token API),
   * {@code message_stop} (Anthropic), {@code response.completed} / {@code .incomplete} / {@code .failed}
   * (Responses), Ollama's {@code "done": true}. It may carry usage (Responses, Ollama) or an error.
   */
  public boolean isTerminator() {
    return EventKind.has(kind, EventKind.TERMINATOR);
  }
}
