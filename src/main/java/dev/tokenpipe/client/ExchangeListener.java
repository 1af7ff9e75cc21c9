package dev.tokenpipe.client;

import io.netty.handler.codec.http.HttpHeaders;

/**
 * Receives one exchange as it happens, on the connection's event loop, in this order: {@link #onWritten},
 * {@link #onHead}, any number of {@link #onRead}/{@link #onEvent}/{@link #onComment}, then exactly one
 * {@link #onEnd} (which may also come first, when the request could not be written). Implementations must
 * not block: they run on the I/O thread of many connections.
 */
public interface ExchangeListener {

  /**
   * The request's last byte was handed to the socket at {@code nanos} ({@code System.nanoTime()}), stamped when
   * the write completed. A response that starts before then (the server answered early) is preceded by this
   * call with the moment the write began.
   */
  default void onWritten(long nanos, long wallMicros) {}

  /** The response status line and headers arrived. */
  default void onHead(int status, HttpHeaders headers, long nanos) {}

  /** One socket read of {@code bytes} bytes (after TLS), including the head's bytes. */
  default void onRead(long nanos, long wallMicros, int bytes) {}

  /** One parsed event of the body; the stream's terminator ({@link StreamEvent#isTerminator()}) is delivered too. */
  default void onEvent(StreamEvent event) {}

  /** An SSE comment (a heartbeat such as {@code : ping}) read at {@code nanos}. */
  default void onComment(String text, long nanos) {}

  /** The exchange is over; called exactly once. */
  void onEnd(ExchangeOutcome outcome);
}
