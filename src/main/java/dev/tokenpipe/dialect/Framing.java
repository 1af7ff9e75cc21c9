package dev.tokenpipe.dialect;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.Locale;

/**
 * How a stream's body is cut into events, decided by its Content-Type: the one framing enum of serve, the
 * clients and the sim.
 */
public enum Framing {
  /** {@code text/event-stream}: events end at a blank line; heartbeats are comments. */
  SSE,
  /** {@code application/x-ndjson} (Ollama) or JSON Lines: one JSON value per line; no heartbeats exist. */
  NDJSON,
  /** Anything else: relayed chunk by chunk as it arrives, not scanned. */
  RAW;

  /** The framing a response head announces; {@link #RAW} when it names none of the stream types. */
  public static Framing of(HttpHeaders headers) {
    String type = headers.get(HttpHeaderNames.CONTENT_TYPE);
    if (type == null) {
      return RAW;
    }
    String t = type.toLowerCase(Locale.ROOT);
    if (t.startsWith("text/event-stream")) {
      return SSE;
    }
    if (t.startsWith("application/x-ndjson") || t.startsWith("application/jsonl") || t.startsWith("application/json-seq")) {
      return NDJSON;
    }
    return RAW;
  }

  /** Whether the body is cut into events (SSE or NDJSON). */
  public boolean isStream() {
    return this != RAW;
  }
}
