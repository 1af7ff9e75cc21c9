package dev.tokenpipe.sse;

import java.time.Instant;
import java.util.Optional;

/**
 * The emission stamp the simulated model puts in every event's SSE {@code id} field,
 * {@code "tp.<seq>.<emitMicros>"}, so that whoever receives the event (gateway, load generator, doctor)
 * can measure its one-way delay. The id field is used because every SSE hop must pass it through
 * unchanged and it does not disturb the JSON payload.
 *
 * <p>The time is wall clock, the one place tokenpipe uses it on purpose: it crosses processes, so
 * {@code System.nanoTime()} (which has an arbitrary origin per JVM) cannot be used. Delays computed from it
 * are only as good as the clock synchronisation between the two hosts (exact on one host).
 *
 * @param seq        0-based index of the event in its stream, {@code >= 0}
 * @param emitMicros wall-clock microseconds since the Unix epoch when the event was generated, {@code >= 0}
 */
public record EmissionStamp(long seq, long emitMicros) {

  private static final String PREFIX = "tp.";

  public EmissionStamp {
    if (seq < 0 || emitMicros < 0) {
      throw new IllegalArgumentException("seq and emitMicros must be >= 0: " + seq + ", " + emitMicros);
    }
  }

  /** The SSE id value, e.g. {@code "tp.12.1732600000123456"}. */
  public String toId() {
    return PREFIX + seq + '.' + emitMicros;
  }

  /**
   * Reads an id written by {@link #toId()}. Returns empty for {@code null}, for ids of any other form
   * (other servers' ids, signs, spaces, extra parts) and for numbers that overflow a {@code long}; never
   * throws, since ids come from the network.
   */
  public static Optional<EmissionStamp> parse(String id) {
    if (id == null || !id.startsWith(PREFIX)) {
      return Optional.empty();
    }
    int dot = id.indexOf('.', PREFIX.length());
    if (dot < 0) {
      return Optional.empty();
    }
    long seq = parseDigits(id, PREFIX.length(), dot);
    long micros = parseDigits(id, dot + 1, id.length());
    if (seq < 0 || micros < 0) {
      return Optional.empty();
    }
    return Optional.of(new EmissionStamp(seq, micros));
  }

  /** Wall-clock microseconds since the epoch (from {@link Instant#now()}, microsecond precision where the OS offers it). */
  public static long nowMicros() {
    Instant now = Instant.now();
    return now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
  }

  /** ASCII digits only (no sign, no blanks), without overflow; -1 if that is not what {@code s[from, to)} holds. */
  private static long parseDigits(String s, int from, int to) {
    if (from >= to || to - from > 19) {
      return -1;
    }
    long value = 0;
    for (int i = from; i < to; i++) {
      int digit = s.charAt(i) - '0';
      if (digit < 0 || digit > 9 || value > (Long.MAX_VALUE - digit) / 10) {
        return -1;
      }
      value = value * 10 + digit;
    }
    return value;
  }
}
