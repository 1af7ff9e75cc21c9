package dev.tokenpipe.doctor;

/**
 * What doctor can find, one constant per timing or header signature. {@link #buffering} problems hold tokens
 * back on the measured path and make the exit code 1; the others are advice.
 */
public enum Problem {
  /** Every event arrives in the last moments of the response: something buffered the whole body. */
  HELD_UNTIL_END("held-until-end", "Whole response held until the end", true),
  /**
   * {@code Content-Encoding} on an event stream: a compressor sits in the path. A risk, not holding by itself:
   * when the compressor held events, {@link #HELD_UNTIL_END} or a burst finding says so.
   */
  COMPRESSED_STREAM("compressed-stream", "Event stream is compressed", false),
  /** Events arrive in groups whose size sits at a buffer page (4/8/16/32 KB): a buffer flushed when full. */
  SIZE_BURSTS("size-bursts", "Bursts released by buffer size", true),
  /** Events arrive in groups on a fixed clock, unrelated to size: a timer flush or TCP cork. */
  CLOCK_BURSTS("clock-bursts", "Bursts released on a fixed clock", true),
  /** Events split across two reads with a ~40 ms (or ~200 ms) gap: Nagle's algorithm meets delayed ACK. */
  NAGLE_STALLS("nagle-stalls", "Nagle / delayed-ACK stalls", true),
  /** Every event carries the same number of tokens at a fixed cadence: a model server's stream interval. */
  TOKEN_GROUPS("token-groups", "Tokens handed out in groups by the model server", true),
  /** Several connections receive their held events in the same instants: one loop flushes all sockets. */
  GROUP_COMMIT("group-commit", "Batching synchronised across connections (group commit)", true),
  /** Events are held without a recognisable pattern. */
  EVENTS_HELD("events-held", "Events held in transit", true),
  /** The quiet stream was cut (closed or errored) before it ended. */
  IDLE_CUT("idle-cut", "Quiet stream cut by an idle timeout", true),
  /** The quiet stream got no heartbeat comments: idle timeouts further out will cut it. */
  NO_HEARTBEATS("no-heartbeats", "No heartbeats while the stream is quiet", false),
  /** The idle test was shorter than the heartbeat interval the server advertises, so it could not judge them. */
  IDLE_NOT_TESTED("idle-not-tested", "Heartbeats not tested", false),
  /** The response does not carry the headers that tell proxies not to buffer or transform it. */
  HEADERS_MISSING("headers-missing", "Anti-buffering headers missing", false),
  /** First byte early, first token late: the wait is before the model's first token, not in the plumbing. */
  SLOW_FIRST_TOKEN("slow-first-token", "Slow first token (not buffering)", false),
  /** No byte at all until the first token: clients and proxies see a silent connection. */
  SLOW_FIRST_BYTE("slow-first-byte", "Slow first byte", false);

  private final String id;
  private final String title;
  private final boolean buffering;

  Problem(String id, String title, boolean buffering) {
    this.id = id;
    this.title = title;
    this.buffering = buffering;
  }

  /** Stable machine name, used in the JSON report. */
  public String id() {
    return id;
  }

  public String title() {
    return title;
  }

  public boolean buffering() {
    return buffering;
  }
}
