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
 * 415, 422): timeouts, 408, 429, 5xx, cut streams and the failed connects of a target that did connect never
 * stop a run, they are what a load test is there to measure. Counts warm-up requests too: a refusal is one
 * whenever it comes.
 *
 * <p>Also stops a run that has never connected: no connect to the target succeeded, and one failed at least
 * {@link #UNREACHABLE_AFTER_NANOS} after the start (a wrong port, a host that is down). Such a run would fail
 * thousands of connects a second for its whole duration and only then say so. The grace lets a server that is
 * still starting come up; once any connect has succeeded, failed connects are the target's (a restart, a crash)
 * and are measured to the end of the run, however long the outage.
 *
 * <p>Thread-safe: outcomes arrive from every event loop.
 */
final class FailFast {
  /** Requests that must all be refused alike before the run stops. */
  static final int REQUESTS = 8;

  /** How long a run may fail to connect before it stops, when no connect has succeeded yet. */
  static final long UNREACHABLE_AFTER_NANOS = 2_000_000_000L;

  private static final Set<Integer> REFUSALS = Set.of(400, 401, 403, 404, 405, 413, 415, 422);

  private int refused;
  private int warmupRefusals;
  private int status;
  private String message;
  private boolean decided;

  private boolean connected;
  private int warmupConnectFailures;
  private String connectMessage;
  private long unreachableAfterNanos;

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

  /** A connect to the target succeeded: from now on the run never stops for failed connects. */
  synchronized void connected() {
    connected = true;
  }

  /**
   * Takes one failed connect, {@code sinceStartNanos} after the run started ({@code measured}: past the warm-up);
   * true exactly once, for the first failure at or after {@link #UNREACHABLE_AFTER_NANOS} while no connect has
   * succeeded.
   */
  synchronized boolean unreachable(String message, boolean measured, long sinceStartNanos) {
    if (connected || unreachableAfterNanos > 0) {
      return false;
    }
    if (!measured) {
      warmupConnectFailures++;
    }
    if (connectMessage == null) {
      connectMessage = message;
    }
    if (sinceStartNanos < UNREACHABLE_AFTER_NANOS) {
      return false;
    }
    unreachableAfterNanos = sinceStartNanos;
    return true;
  }

  /** How many of the failed connects of a run that never connected came during the warm-up. */
  synchronized int warmupConnectFailures() {
    return warmupConnectFailures;
  }

  /**
   * Why a run that never connected stopped, one line, e.g. {@code no connection in the first 2 s: connection
   * refused: 127.0.0.1:8000}. No count: connects still in flight fail after the stop, and the summary's error
   * count, which includes them, is the one to read.
   */
  synchronized String unreachableReason() {
    return "no connection in the first " + unreachableAfterNanos / 1_000_000_000L + " s: " + connectMessage;
  }
}
