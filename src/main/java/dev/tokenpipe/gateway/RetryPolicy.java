package dev.tokenpipe.gateway;

/**
 * The one place that says which failed attempts may be tried again on another upstream, and which failures
 * count against an upstream's health. An attempt may be retried only while the client has seen nothing a
 * fresh attempt could contradict ({@link ClientStream#canStartOver()}: at most the head and comments, no
 * upstream event), and within {@code --max-attempts}.
 */
final class RetryPolicy {
  private RetryPolicy() {}

  /**
   * Upstream statuses worth another upstream: overload and server faults. Other 4xx are about the request
   * itself and would fail the same way anywhere. 529 is how Anthropic's API says it is overloaded
   * ({@code overloaded_error}), its most common passing failure, which its SDKs retry.
   */
  static boolean retriableStatus(int status) {
    return status == 429 || status == 500 || status == 502 || status == 503 || status == 504 || status == OVERLOADED;
  }

  /** Statuses that say the upstream (or what stands in front of it) is unwell right now. */
  static boolean unhealthyStatus(int status) {
    return status == 502 || status == 503 || status == 504 || status == OVERLOADED;
  }

  /** Anthropic's "overloaded" status. */
  private static final int OVERLOADED = 529;

  static boolean mayRetry(ClientStream client, int attempts, int maxAttempts) {
    return client.canStartOver() && attempts < maxAttempts;
  }
}
