package dev.tokenpipe.gateway;

import dev.tokenpipe.sse.SseEvent;
import dev.tokenpipe.sse.SseListener;
import dev.tokenpipe.sse.SseParser;
import io.netty.buffer.ByteBuf;

/**
 * Reads the relayed bytes on the side, after they were forwarded: finds event boundaries (where a
 * heartbeat may be inserted), timestamps content events, counts tokens and reads {@code usage}. It never
 * changes, holds or delays the bytes; it only keeps books for {@link ProxyExchange}.
 *
 * <p>SSE goes through {@link SseParser}; NDJSON through a line scanner. One scanner per stream, on the
 * stream's event loop.
 */
final class StreamScanner implements SseListener {
  /** Told about each classified event, in stream order, with the time its bytes were read. */
  interface Sink {
    void onChunk(Chunk chunk, long readNanos);

    /** An event in no dialect the gateway knows (not JSON, not a terminator): it cannot be held back. */
    default void onOpaqueEvent() {}
  }

  private static final int MAX_LINE_BYTES = SseParser.DEFAULT_MAX_EVENT_BYTES;

  private final Framing framing;
  private final boolean plainTokens;
  private final Sink sink;
  private final SseParser sse;
  private long readNanos;
  /** NDJSON: bytes of the current line not yet ended by LF (bounded; beyond the bound only counted). */
  private final java.io.ByteArrayOutputStream ndjsonLine = new java.io.ByteArrayOutputStream(256);

  StreamScanner(Framing framing, boolean plainTokens, Sink sink) {
    this.framing = framing;
    this.plainTokens = plainTokens;
    this.sink = sink;
    this.sse = framing == Framing.SSE ? new SseParser(this) : null;
  }

  /**
   * Scans {@code buf} without moving its reader index or touching its reference count.
   *
   * @throws dev.tokenpipe.sse.SseException when the upstream's SSE is not sane (a line beyond 1 MiB)
   */
  void feed(ByteBuf buf, long readNanos) {
    this.readNanos = readNanos;
    switch (framing) {
      case SSE -> sse.feed(buf);
      case NDJSON -> feedLines(buf);
      case RAW -> { }
    }
  }

  /** True when a comment may be inserted without changing any event the client sees. */
  boolean atEventBoundary() {
    return switch (framing) {
      case SSE -> sse.atEventBoundary();
      case NDJSON, RAW -> false; // NDJSON has no comments; raw bodies have no boundaries we know
    };
  }

  void end() {
    if (sse != null) {
      sse.end();
    }
  }

  @Override
  public void onEvent(SseEvent event) {
    String data = event.data();
    if (!plainTokens && !data.startsWith("{") && !data.equals(dev.tokenpipe.sse.SseEncoder.DONE)) {
      sink.onOpaqueEvent();
    }
    sink.onChunk(Chunk.classify(event.type(), data, plainTokens), readNanos);
  }

  private void feedLines(ByteBuf buf) {
    for (int i = buf.readerIndex(), end = buf.writerIndex(); i < end; i++) {
      byte b = buf.getByte(i);
      if (b == '\n') {
        String line = ndjsonLine.toString(java.nio.charset.StandardCharsets.UTF_8).trim();
        ndjsonLine.reset();
        if (!line.isEmpty()) {
          sink.onChunk(Chunk.classify(line, false), readNanos);
        }
      } else if (ndjsonLine.size() < MAX_LINE_BYTES) {
        ndjsonLine.write(b);
      }
    }
  }
}
