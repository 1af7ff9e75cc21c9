package dev.tokenpipe.gateway;

import dev.tokenpipe.dialect.Framing;
import dev.tokenpipe.openai.Json;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufInputStream;
import io.netty.buffer.CompositeByteBuf;
import io.netty.util.ByteProcessor;
import java.io.IOException;
import java.io.InputStream;

/**
 * Cuts an upstream stream body into whole events for the relay, without changing a byte: an SSE event ends
 * at a blank line (WHATWG HTML §9.2.6: a line ends at CRLF, LF or CR), an NDJSON line at LF. A client cannot
 * dispatch an event before its terminator arrives, so forwarding each event the moment its terminator is
 * read adds no latency to any event; in exchange a cut inside an event never reaches the client as a
 * truncated event, and a heartbeat or an in-band error can always be written between whole events.
 *
 * <p>Memory: an event that spans upstream reads is copied into one buffer until it is complete, at most
 * {@link #MAX_EVENT_BYTES} (plus one read). A larger event is the documented exception: its bytes are
 * forwarded as they come, and until it ends the client is mid-event ({@link #atBoundary()} is false).
 *
 * <p>A leading UTF-8 BOM belongs to the stream (the client's decoder strips one at the very start). When
 * the gateway wrote something before the upstream's first byte (its own head comment or a heartbeat), the
 * upstream's BOM would land mid-stream and become data, so {@link #stripLeadingBom()} drops exactly one;
 * a second BOM stays data, as it would be on the direct stream.
 *
 * <p>One instance per stream, on its event loop; not thread-safe.
 */
final class EventRelay implements ByteProcessor {
  /** Largest event held back until its terminator; larger ones are forwarded as they come. */
  static final int MAX_EVENT_BYTES = 64 * 1024;

  private final Framing framing;
  private final ByteBufAllocator alloc;

  // Line state of the SSE scanner, carried across reads.
  private boolean lineStart = true;
  private boolean afterCr;
  /** The last event ended at a CR: an LF right after it is still that event's. */
  private boolean endedAtCr;
  /** Index (absolute, in the buffer being scanned) just past the last event terminator, or -1. */
  private int boundary;
  private int index;

  /** Bytes of the event in progress that arrived in earlier reads. */
  private ByteBuf partial;
  /** The event in progress grew past {@link #MAX_EVENT_BYTES}: its bytes are being forwarded as they come. */
  private boolean oversized;
  private boolean stripBom;
  private boolean firstOutput = true;

  EventRelay(Framing framing, ByteBufAllocator alloc) {
    if (!framing.isStream()) {
      throw new IllegalArgumentException("no events in a " + framing + " body");
    }
    this.framing = framing;
    this.alloc = alloc;
  }

  /** Drop one leading BOM of the upstream's stream: the gateway already wrote to the client before it. */
  void stripLeadingBom() {
    stripBom = true;
  }

  /**
   * Takes one upstream read (not released, reader index unchanged) and returns the bytes now ready for the
   * client: every whole event completed by this read, preceded by their start from earlier reads; or, for
   * an oversized event, whatever arrived of it. Null when nothing is ready. The caller owns the result.
   */
  ByteBuf feed(ByteBuf in) {
    return feed(in, in.readerIndex(), in.writerIndex());
  }

  /** {@link #feed(ByteBuf)} for the bytes [from, to) of {@code in} (absolute indexes). */
  ByteBuf feed(ByteBuf in, int from, int to) {
    if (from == to) {
      return null;
    }
    scan(in, from, to);
    ByteBuf out = null;
    if (boundary >= 0) {
      out = takeUpTo(in, from, boundary);
      oversized = false;
      from = boundary;
    }
    if (from < to) {
      if (oversized) {
        out = join(out, in.retainedSlice(from, to - from));
      } else {
        if (partial == null) {
          partial = alloc.buffer(Math.min(MAX_EVENT_BYTES, Math.max(256, (to - from) * 2)));
        }
        partial.writeBytes(in, from, to - from);
        if (partial.readableBytes() > MAX_EVENT_BYTES) {
          oversized = true;
          out = join(out, partial);
          partial = null;
        }
      }
    }
    return out == null ? null : bomChecked(out);
  }

  /**
   * The zero-copy path's question: are the bytes [from, to) of {@code in} whole events, with nothing of an
   * earlier read held and the stream's first bytes already out? If so they count as relayed (the relay is at a
   * boundary, as after {@link #feed} returned exactly them) and the caller forwards them itself; if not, nothing
   * changed and they go through {@link #feed}.
   */
  boolean wholeEvents(ByteBuf in, int from, int to) {
    if (from == to || partial != null || oversized || firstOutput) {
      return false;
    }
    // With nothing of an event held, the read starts at a boundary, so its last bytes alone say whether it
    // ends at one: an SSE read ending in LF LF ends with an empty line whatever came before (the first LF ends
    // a line, alone or as CRLF's), an NDJSON read ending in LF ends a line. No scan of the bytes between: the
    // books' scan reads them anyway. Other ends (CR, CRLF CRLF) take the full scan.
    if (in.getByte(to - 1) == '\n'
        && (framing == Framing.NDJSON || to - from >= 2 && in.getByte(to - 2) == '\n')) {
      lineStart = true;
      afterCr = false;
      endedAtCr = false;
      boundary = to;
      return true;
    }
    boolean wasLineStart = lineStart;
    boolean wasAfterCr = afterCr;
    boolean wasEndedAtCr = endedAtCr;
    scan(in, from, to);
    if (boundary == to) {
      return true;
    }
    lineStart = wasLineStart;
    afterCr = wasAfterCr;
    endedAtCr = wasEndedAtCr;
    return false;
  }

  /** Runs the line state over [from, to) and leaves {@link #boundary} just past the last event end in it, or -1. */
  private void scan(ByteBuf in, int from, int to) {
    boundary = -1;
    index = from;
    if (framing == Framing.SSE && !afterCr && in.indexOf(from, to, (byte) '\r') < 0) {
      scanLineFeeds(in, from, to);
    } else {
      in.forEachByte(from, to - from, this);
    }
  }

  /** True when the client has received only whole events: a comment or an error event may go next. */
  boolean atBoundary() {
    return !oversized;
  }

  /** Bytes of an unfinished event held back (dropped if the stream is cut now). */
  int heldBytes() {
    return partial == null ? 0 : partial.readableBytes();
  }

  /**
   * The line ends that would end the unfinished SSE event held here, for a body that provably ended (by its
   * framing) without its blank line; see {@link dev.tokenpipe.sse.SseParser#endOfPendingEvent()} for which ones
   * are completed. For NDJSON, the line end of a last line that is one whole JSON value (Ollama's clients read
   * lines and take such a last line whole); a half line stays a cut. Null when nothing is held, or for an
   * oversized event (already out).
   */
  byte[] endOfHeldEvent() {
    if (partial == null || oversized || !partial.isReadable()) {
      return null;
    }
    if (framing == Framing.NDJSON) {
      return wholeJson(partial) ? new byte[] {'\n'} : null;
    }
    if (lineStart) {
      return new byte[] {(byte) (afterCr ? '\r' : '\n')};
    }
    int end = partial.writerIndex();
    int from = partial.readerIndex();
    for (int i = end - 1; i >= partial.readerIndex(); i--) {
      byte b = partial.getByte(i);
      if (b == '\n' || b == '\r') {
        from = i + 1;
        break;
      }
    }
    byte[] last = new byte[end - from];
    partial.getBytes(from, last);
    return dev.tokenpipe.sse.SseParser.isDoneLine(last, 0, last.length) ? new byte[] {'\n', '\n'} : null;
  }

  /** The unfinished event's bytes as UTF-8 text (at most {@link #MAX_EVENT_BYTES} and one read), or null. */
  String heldText() {
    return partial == null || oversized ? null : partial.toString(java.nio.charset.StandardCharsets.UTF_8);
  }

  /** Whether {@code line} is exactly one JSON value; read only at a body's end, never per event. */
  private static boolean wholeJson(ByteBuf line) {
    try {
      return Json.oneWholeValue(Json.MAPPER.createParser((InputStream) new ByteBufInputStream(line.duplicate())));
    } catch (IOException cut) {
      return false;
    }
  }

  /** Drops the unfinished event, if any. Idempotent. */
  void release() {
    if (partial != null) {
      partial.release();
      partial = null;
    }
  }

  @Override
  public boolean process(byte b) {
    int i = index++;
    if (framing == Framing.NDJSON) {
      if (b == '\n') {
        boundary = i + 1;
      }
      return true;
    }
    if (afterCr) {
      afterCr = false;
      if (b == '\n') {
        if (endedAtCr) {
          boundary = i + 1; // the LF of a CRLF blank line belongs to the event it ends, even in the next read
        }
        endedAtCr = false;
        return true;
      }
    }
    endedAtCr = false;
    if (b == '\r' || b == '\n') {
      if (lineStart) {
        boundary = i + 1; // an empty line: the event ends here
        endedAtCr = b == '\r';
      }
      lineStart = true;
      afterCr = b == '\r';
    } else {
      lineStart = false;
    }
    return true;
  }

  /**
   * {@link #process} for a read with no CR in it and no CR pending from the last one (the common case: LF line
   * ends), one LF search per line instead of a call per byte: a line that is empty ends the event.
   */
  private void scanLineFeeds(ByteBuf in, int from, int to) {
    endedAtCr = false;
    for (int i = from; i < to; ) {
      int lf = in.indexOf(i, to, (byte) '\n');
      if (lf < 0) {
        lineStart = false;
        return;
      }
      if (lf > i) {
        lineStart = false;
      }
      if (lineStart) {
        boundary = lf + 1;
      }
      lineStart = true;
      i = lf + 1;
    }
  }

  private ByteBuf takeUpTo(ByteBuf in, int from, int end) {
    if (partial == null) {
      // The read is exactly whole events (the common case): the read itself, no slice object. The reader
      // index is never moved on the way out (the writer copies), except to strip a BOM from the first output.
      return !firstOutput && from == in.readerIndex() && end == in.writerIndex() ? in.retain()
          : in.retainedSlice(from, end - from);
    }
    ByteBuf out = partial;
    partial = null;
    out.writeBytes(in, from, end - from);
    return out;
  }

  private ByteBuf join(ByteBuf a, ByteBuf b) {
    if (a == null) {
      return b;
    }
    CompositeByteBuf c = alloc.compositeBuffer(2);
    c.addComponents(true, a, b);
    return c;
  }

  private ByteBuf bomChecked(ByteBuf out) {
    if (firstOutput) {
      firstOutput = false;
      int i = out.readerIndex();
      if (stripBom && framing == Framing.SSE && out.readableBytes() >= 3 && out.getByte(i) == (byte) 0xEF
          && out.getByte(i + 1) == (byte) 0xBB && out.getByte(i + 2) == (byte) 0xBF) {
        out.skipBytes(3);
      }
    }
    return out;
  }
}
