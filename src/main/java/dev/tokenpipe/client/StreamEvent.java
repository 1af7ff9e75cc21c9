package dev.tokenpipe.client;

import dev.tokenpipe.sse.SseEvent;

/**
 * One event of a response stream with its two timestamps, so client parsing delay is separable from
 * arrival.
 *
 * @param event          the SSE event; for NDJSON one line (type "message"), for other bodies one chunk
 *                       (type "chunk")
 * @param readNanos      {@code System.nanoTime()} when the socket read that completed this event returned
 * @param readWallMicros wall-clock microseconds of that read, comparable with an {@code EmissionStamp}
 * @param parsedNanos    {@code System.nanoTime()} when the parser handed the event out
 * @param index          0-based position of the event in its response
 */
public record StreamEvent(SseEvent event, long readNanos, long readWallMicros, long parsedNanos, int index) {

  public String data() {
    return event.data();
  }

  public boolean isDone() {
    return "[DONE]".equals(event.data());
  }
}
