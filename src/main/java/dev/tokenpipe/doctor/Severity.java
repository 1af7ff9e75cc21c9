package dev.tokenpipe.doctor;

/** How much a finding costs the user; {@link #HIGH} and {@link #MEDIUM} on a buffering problem fail the run. */
public enum Severity {
  /** Tokens held for seconds or the stream cut. */
  HIGH,
  /** Tokens held tens to hundreds of milliseconds, or a stream exposed to a buffering layer. */
  MEDIUM,
  /** Worth fixing, no measured holding. */
  LOW,
  /** Context for the reader. */
  INFO;

  public String key() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
