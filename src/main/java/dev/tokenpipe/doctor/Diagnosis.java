package dev.tokenpipe.doctor;

import java.util.List;

/**
 * What {@link Analyzer} concluded from a {@link Trace}.
 *
 * @param verdict   the one-word answer, which decides the exit code
 * @param reason    one line: why the probe failed, or the headline finding, or "no buffering found"
 * @param findings  most severe first
 * @param layers    layers the response headers name, outermost first
 * @param stats     the key numbers of the run
 */
public record Diagnosis(Verdict verdict, String reason, List<Finding> findings, List<Attribution.Detected> layers, Stats stats) {

  public Diagnosis {
    findings = List.copyOf(findings);
    layers = List.copyOf(layers);
  }

  public enum Verdict {
    /** Every event arrived when it was sent: exit 0. */
    CLEAN(0),
    /** Some layer holds tokens back: exit 1. */
    BUFFERED(1),
    /** No stream could be measured: exit 2. */
    FAILED(2);

    private final int exitCode;

    Verdict(int exitCode) {
      this.exitCode = exitCode;
    }

    public int exitCode() {
      return exitCode;
    }

    public String key() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /**
   * Key numbers; times in milliseconds, -1 when not measured.
   *
   * @param streams          responses measured
   * @param okStreams        of which ended normally
   * @param eventsPerStream  median events per stream
   * @param eventsPerRead    content events per delivering read, mean over all streams (1.0 = one event per read)
   * @param ttfbMillis       median time to first byte
   * @param ttftMillis       median time to first content event
   * @param ttftMaxMillis    the slowest stream's: with two streams the median is the faster one, and a stream that
   *                         waited for the other (a model server that runs one at a time) would not show
   * @param holdP50Millis    per-event hold (arrival - emission, less {@code pathDelayMillis}), only with emission stamps
   * @param holdP90Millis    ditto
   * @param holdP99Millis    ditto
   * @param holdMaxMillis    ditto
   * @param httpVersion      of the first response
   * @param contentType      of the first response
   * @param contentEncoding  of the first response, "" when none
   * @param pathDelayMillis  what {@link PathDelay} found every stamped event took without a hold (the link's one-way
   *                         delay and the server clock's offset), taken out of the holds; 0 when none was
   * @param fastestEventMillis the least arrival - emission {@code pathDelayMillis} was read from, before anything was
   *                         taken out: more than it when half the quickest round trip to the server bounded it; -1 unstamped
   */
  public record Stats(
      int streams, int okStreams, int eventsPerStream, double eventsPerRead, double ttfbMillis, double ttftMillis,
      double ttftMaxMillis,
      double holdP50Millis, double holdP90Millis, double holdP99Millis, double holdMaxMillis,
      String httpVersion, String contentType, String contentEncoding, double pathDelayMillis,
      double fastestEventMillis) {}
}
