package dev.tokenpipe.sse;

/**
 * Thrown by {@link SseParser} when a single line or the data of a single event exceeds the configured
 * limit: the upstream is not speaking sane SSE and buffering more would let it exhaust our memory. After
 * this exception the parser is dead; every further {@code feed} throws {@link IllegalStateException}.
 */
public final class SseException extends RuntimeException {

  public SseException(String message) {
    super(message);
  }
}
