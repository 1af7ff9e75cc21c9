package dev.tokenpipe.doctor;

import java.util.ArrayList;
import java.util.List;

/**
 * Synthetic {@link Trace.Response}s for analyzer tests, in milliseconds from the request write. Times are
 * turned into nanoTime values on an arbitrary base and wall-clock micros on another, as in a real run.
 */
final class StreamBuilder {
  static final long NANO_BASE = 5_000_000_000L;
  static final long WALL_BASE = 1_700_000_000_000_000L;

  private final List<Trace.Header> headers = new ArrayList<>();
  private final List<Trace.Read> reads = new ArrayList<>();
  private final List<Trace.Arrival> events = new ArrayList<>();
  private final List<Long> comments = new ArrayList<>();
  private int status = 200;
  private String error;
  private String message = "ok";
  private double endMs = -1;

  StreamBuilder() {
    header("Content-Type", "text/event-stream");
  }

  static long nanos(double ms) {
    return NANO_BASE + Math.round(ms * 1e6);
  }

  static long wall(double ms) {
    return WALL_BASE + Math.round(ms * 1e3);
  }

  StreamBuilder header(String name, String value) {
    headers.add(new Trace.Header(name, value));
    return this;
  }

  /** A socket read of {@code bytes} at {@code ms}; {@code mid}: it ended inside an event. */
  StreamBuilder read(double ms, int bytes, boolean mid) {
    reads.add(new Trace.Read(nanos(ms), wall(ms), bytes, mid));
    return this;
  }

  /** An event completed by the read at {@code readMs}, emitted at {@code emitMs} (-1 = no stamp), with {@code tokens}. */
  StreamBuilder event(double readMs, double emitMs, int tokens) {
    events.add(new Trace.Arrival(nanos(readMs), wall(readMs), emitMs < 0 ? -1 : wall(emitMs), 200, tokens, false));
    return this;
  }

  /** An event in its own read of {@code bytes}. */
  StreamBuilder eventRead(double readMs, double emitMs, int bytes) {
    read(readMs, bytes, false);
    return event(readMs, emitMs, 1);
  }

  StreamBuilder comment(double ms) {
    comments.add(nanos(ms));
    return this;
  }

  StreamBuilder done(double ms) {
    events.add(new Trace.Arrival(nanos(ms), wall(ms), -1, 6, 0, true));
    endMs = ms;
    return this;
  }

  StreamBuilder failed(String error, String message, double ms) {
    this.error = error;
    this.message = message;
    this.endMs = ms;
    return this;
  }

  StreamBuilder status(int status) {
    this.status = status;
    return this;
  }

  Trace.Response build() {
    double end = endMs >= 0 ? endMs : events.isEmpty() ? 0 : (events.getLast().readNanos() - NANO_BASE) / 1e6;
    long head = reads.isEmpty() ? 0 : reads.getFirst().nanos();
    return new Trace.Response(nanos(0), status, status == 0 ? "" : "HTTP/1.1", status == 0 ? List.of() : headers, head,
        reads, events, comments, nanos(end), error, message);
  }

  static Trace probe(long intervalMs, int count, Trace.Response... responses) {
    return new Trace("http://127.0.0.1:8080/v1/chat/completions", "http://127.0.0.1:8080/tokenpipe/probe",
        new Trace.Pacing(intervalMs * 1_000_000L, count, 256), List.of(responses), null, 0);
  }

  static Trace endpoint(Trace.Response... responses) {
    return new Trace("http://127.0.0.1:8080/v1/chat/completions", null, null, List.of(responses), null, 0);
  }
}
