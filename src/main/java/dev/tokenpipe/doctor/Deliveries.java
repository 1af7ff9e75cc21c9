package dev.tokenpipe.doctor;

import java.util.ArrayList;
import java.util.List;
import org.HdrHistogram.Histogram;

/**
 * Groups a response's events into deliveries: the events that reached the client together (completed by
 * reads less than {@link #MERGE_NANOS} apart). One event per delivery is a stream that flows; many events per
 * delivery is a buffer releasing what it held. Pure functions over {@link Trace} values.
 */
final class Deliveries {
  /** Reads closer than this are one delivery: a buffer flush can take a few reads to drain. */
  static final long MERGE_NANOS = 2_000_000;

  /**
   * Events that arrived together.
   *
   * @param startNanos  read time of the first event
   * @param endNanos    read time of the last event
   * @param events      content events in it
   * @param bytes       socket bytes read since the previous delivery, up to this one's last read
   * @param maxHoldMicros largest hold of its events, -1 without emission stamps
   */
  record Delivery(long startNanos, long endNanos, int events, long bytes, long maxHoldMicros) {}

  private Deliveries() {}

  static List<Delivery> of(Trace.Response r) {
    List<Delivery> out = new ArrayList<>();
    List<Trace.Arrival> events = r.contentEvents();
    int readIndex = 0;
    int i = 0;
    while (i < events.size()) {
      long start = events.get(i).readNanos();
      long end = start;
      int n = 0;
      long maxHold = -1;
      while (i < events.size() && events.get(i).readNanos() - end <= MERGE_NANOS) {
        Trace.Arrival a = events.get(i);
        end = a.readNanos();
        if (a.emitMicros() >= 0) {
          maxHold = Math.max(maxHold, a.readWallMicros() - a.emitMicros());
        }
        n++;
        i++;
      }
      long bytes = 0;
      while (readIndex < r.reads().size() && r.reads().get(readIndex).nanos() <= end) {
        bytes += r.reads().get(readIndex).bytes();
        readIndex++;
      }
      out.add(new Delivery(start, end, n, bytes, maxHold));
    }
    return out;
  }

  /** Hold of every stamped content event (arrival wall clock - emission), microseconds, clamped at 0. */
  static long[] holdsMicros(Trace.Response r) {
    return r.contentEvents().stream().filter(a -> a.emitMicros() >= 0)
        .mapToLong(a -> Math.max(0, a.readWallMicros() - a.emitMicros())).toArray();
  }

  /** A histogram of non-negative values (any unit), 3 significant digits. */
  static Histogram histogram(long[] values) {
    Histogram h = new Histogram(3);
    for (long v : values) {
      h.recordValue(Math.max(0, v));
    }
    return h;
  }

  static long median(long[] values) {
    return values.length == 0 ? 0 : histogram(values).getValueAtPercentile(50);
  }

  static long percentile(long[] values, double p) {
    return values.length == 0 ? 0 : histogram(values).getValueAtPercentile(p);
  }

  /** Fraction of {@code values} within {@code tolerance} (relative) of {@code center}. */
  static double shareNear(long[] values, long center, double tolerance) {
    if (values.length == 0) {
      return 0;
    }
    int near = 0;
    for (long v : values) {
      if (Math.abs(v - center) <= tolerance * center) {
        near++;
      }
    }
    return near / (double) values.length;
  }
}
