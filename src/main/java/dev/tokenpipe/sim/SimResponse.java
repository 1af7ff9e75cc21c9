package dev.tokenpipe.sim;

/**
 * A response that takes time (a stream, a delayed complete body, a probe), as its connection's handler
 * sees it. Methods run on the connection's event loop.
 */
interface SimResponse {
  /** The connection drained below the low-water mark: a paused response may go on. */
  void onWritable();

  /**
   * The drain period ran out: end now, telling the client it is incomplete (an in-band error event and
   * the terminating chunk for a stream, a 503 for a body not sent yet), then close the connection.
   */
  void shutdown();

  /**
   * The connection closed (the client left, or it was cut). Called by the connection's handler, once, on its
   * event loop: a response never hangs a listener on its connection, which on keep-alive would hold every
   * response the connection ever answered.
   */
  void onClientGone();
}
