package dev.tokenpipe.sse;

/**
 * Receives what an {@link SseParser} finds. Called synchronously from {@link SseParser#feed}, on the
 * caller's thread, in stream order. An exception thrown here propagates out of {@code feed} and leaves
 * the parser dead (see {@link SseParser}).
 */
public interface SseListener {

  /** Called once per event, i.e. per empty line that ends a non-empty data buffer. */
  void onEvent(SseEvent event);

  /**
   * Called for every comment line ({@code ":" ...}). The text is what follows the colon, with one leading
   * space removed (so the heartbeat {@code ": ping"} yields {@code "ping"}). Comments never dispatch or
   * split an event; proxies use them as keep-alives.
   */
  default void onComment(String comment) {}

  /**
   * Called for a {@code retry:} field whose value is ASCII digits only (the spec ignores any other value,
   * and so do we, including the empty value and values too large for a {@code long}).
   */
  default void onRetry(long millis) {}
}
