package dev.tokenpipe.sse;

import java.util.Objects;

/**
 * One dispatched server-sent event.
 *
 * @param type        the event type: the last {@code event:} value of the event, or {@code "message"} when
 *                    none (or an empty one) was given, as the spec's dispatch step defines
 * @param data        the concatenated {@code data:} values joined with LF, with the one trailing LF removed
 *                    per spec (an event made of a single {@code data:} line with an empty value has data "")
 * @param lastEventId the parser's last-event-id buffer at dispatch time; it persists across events, so an
 *                    event without an {@code id:} field carries the previous id (may be "")
 */
public record SseEvent(String type, String data, String lastEventId) {
  public SseEvent {
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(data, "data");
    Objects.requireNonNull(lastEventId, "lastEventId");
  }
}
