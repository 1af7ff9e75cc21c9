package dev.tokenpipe.bench;

import dev.tokenpipe.client.ErrorClass;
import dev.tokenpipe.client.ExchangeOutcome;
import java.util.Set;

/**
 * Stops a run whose first requests are all refused alike: the same HTTP client error for each of the first
 * {@link #REQUESTS} requests to end, and no success among them. Such a run measures only the refusal (a wrong
 * path, a missing key, a model the server does not serve), and would otherwise send the same refused request as
 * fast as the target answers for the whole run; load generators for model servers make one test request first
 * for the same reason. Only statuses that say the request itself is wrong count (400, 401, 403, 404, 405, 413,
 * 415, 422): timeouts, 408, 429, 5xx, cut streams and connect failures never stop a run, they are what a load
 * test is there to measure. Counts warm-up requests too: a refusal is one whenever it comes.
 *
 * <p>Thread-safe: outcomes arrive from every event loop.
 */
final class FailFast {
  /** Requests that must all be refused alike before the run stops. */
  static final int REQUESTS = 8;

  private static final Set<Integer> REFUSALS = Set.of(400, 401, 403, 404, 405, 413, 415, 422);

  private int refused;
  private int warmupRefusals;
  private int status;
  private String message;
  private boolean decided;

  /**
   * Takes one finished request's outcome ({@code measured}: past the warm-up); true exactly once, for the
   * outcome that makes the run's first {@link #REQUESTS} ends the same refusal. After any other outcome among
   * them it never stops the run.
   */
  synchronized boolean stop(ExchangeOutcome outcome, boolean measured) {
    if (decided) {
      return false;
    }
    boolean refusal = outcome.error() == ErrorClass.HTTP_STATUS && REFUSALS.contains(outcome.status());
    if (!refusal || (refused > 0 && outcome.status() != status)) {
      decided = true;
      return false;
    }
    if (refused++ == 0) {
      status = outcome.status();
      message = outcome.message();
    }
    if (!measured) {
      warmupRefusals++;
    }
    if (refused < REQUESTS) {
      return false;
    }
    decided = true;
    return true;
  }

  /** How many of the refusals that stopped the run came during the warm-up (not counted as errors yet). */
  synchronized int warmupRefusals() {
    return warmupRefusals;
  }

  /** The refusal's message as the first request got it, e.g. {@code HTTP 404: Invalid URL (POST /)}. */
  synchronized String message() {
    return message;
  }

  /** Why the run stopped, one line: the refusal as the first request got it. */
  synchronized String reason() {
    return "the first " + REQUESTS + " requests were all refused: " + message;
  }
}
