package dev.tokenpipe.client;

/**
 * How an exchange ended.
 *
 * @param error      null on success
 * @param status     HTTP status, 0 when no response head arrived
 * @param message    one line for humans: the server's error message, the exception, or "ok"
 * @param sawTerminator the stream's terminator event was received ({@link StreamEvent#isTerminator()}:
 *                   {@code [DONE]}, {@code message_stop}, {@code response.completed}, Ollama's {@code done}, ...)
 * @param endNanos   {@code System.nanoTime()} of the end: the read that carried the terminator (or the last
 *                   byte), the close, or the failure
 * @param reusable   the connection may carry another request
 */
public record ExchangeOutcome(
    ErrorClass error, int status, String message, boolean sawTerminator, long endNanos, boolean reusable) {

  public boolean ok() {
    return error == null;
  }

  /** {@code "http_503"} for status errors, the class key otherwise, {@code "ok"} on success. */
  public String errorKey() {
    if (error == null) {
      return "ok";
    }
    return error == ErrorClass.HTTP_STATUS ? "http_" + status : error.key();
  }
}
