package dev.tokenpipe.sse;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

/**
 * Incremental parser for {@code text/event-stream}, following WHATWG HTML §9.2.6 "Interpreting an event
 * stream". Bytes go in through {@link #feed}, in chunks split anywhere (mid line, mid UTF-8 sequence,
 * between the CR and LF of a CRLF); events, comments and retry values come out through the
 * {@link SseListener}, synchronously, the moment the line that completes them has been fed. The parser
 * knows nothing about networking.
 *
 * <p>Decoding: the stream is UTF-8. Lines are split on CR/LF bytes (which never occur inside a multi-byte
 * UTF-8 sequence), kept as bytes, and decoded only when a value is needed, with invalid sequences replaced
 * by U+FFFD. Decoding per value gives the same result as decoding the whole stream first, because every
 * value ends at an ASCII line break.
 *
 * <p>Memory: one reusable line buffer (used only for lines that span chunks; lines complete within a
 * chunk are parsed in place) and one data buffer, each bounded by {@code maxEventBytes}.
 *
 * <p>Failure: if a line or an event's data exceeds {@code maxEventBytes}, {@code feed} throws
 * {@link SseException}. After any exception out of {@code feed} (including one thrown by the listener),
 * the parser is <b>dead</b>: the rest of that chunk was not parsed, so its state no longer matches the
 * stream, and every later {@code feed} throws {@link IllegalStateException} ({@link #end()} stays allowed, as
 * cleanup). After {@code end()} the parser is finished and also rejects further input.
 *
 * <p>Not thread-safe: one parser per stream, driven by the thread that owns the stream (in Netty, the
 * channel's event loop).
 */
public final class SseParser {

  /** Default limit for one line and for one event's data: 1 MiB. */
  public static final int DEFAULT_MAX_EVENT_BYTES = 1 << 20;

  private static final byte CR = '\r';
  private static final byte LF = '\n';
  private static final byte COLON = ':';
  private static final byte SPACE = ' ';
  private static final byte[] BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
  private static final byte[] DATA = ascii("data");
  private static final byte[] EVENT = ascii("event");
  private static final byte[] ID = ascii("id");
  private static final byte[] RETRY = ascii("retry");
  private static final int INITIAL_BUFFER_BYTES = 256;
  /** The copy buffer for direct reads grows from this ... */
  private static final int MIN_SCRATCH_BYTES = 512;
  /** ... to this, the largest piece a direct read is copied in. */
  private static final int MAX_SCRATCH_BYTES = 8192;

  private final SseListener listener;
  private final int maxEventBytes;

  /** Bytes of the current line that arrived in earlier chunks (the line has no terminator yet). */
  private byte[] line = new byte[INITIAL_BUFFER_BYTES];
  private int lineLength;

  /** The spec's data buffer, as UTF-8 bytes: each data value followed by LF. */
  private byte[] data = new byte[INITIAL_BUFFER_BYTES];
  private int dataLength;

  /** The spec's event type buffer; null stands for the empty string (no event: field since dispatch). */
  private String eventType;

  /** The spec's last event ID buffer: survives dispatch, changed only by an id: field. */
  private String lastEventId = "";

  /** How many bytes of a leading BOM have been matched so far; -1 once the BOM question is settled. */
  private int bomMatched;

  /** The previous line ended with CR: an LF that follows it belongs to the same line end (CRLF). */
  private boolean skipLf;

  private boolean dead;
  private boolean ended;
  private long eventsDispatched;
  private byte[] scratch;

  /** A parser with {@link #DEFAULT_MAX_EVENT_BYTES}. */
  public SseParser(SseListener listener) {
    this(listener, DEFAULT_MAX_EVENT_BYTES);
  }

  /**
   * @param listener      receives events, comments and retry values
   * @param maxEventBytes the largest line, and the largest data of one event (each data value plus one
   *                      byte per data line), in bytes; at least 1. Larger input throws {@link SseException}.
   */
  public SseParser(SseListener listener, int maxEventBytes) {
    this.listener = Objects.requireNonNull(listener, "listener");
    if (maxEventBytes < 1) {
      throw new IllegalArgumentException("maxEventBytes must be >= 1: " + maxEventBytes);
    }
    this.maxEventBytes = maxEventBytes;
  }

  /** Parses {@code length} bytes of {@code bytes} starting at {@code offset}. Chunks may be split anywhere. */
  public void feed(byte[] bytes, int offset, int length) {
    Objects.checkFromIndexSize(offset, length, bytes.length);
    checkUsable();
    try {
      parse(bytes, offset, offset + length);
    } catch (RuntimeException | Error e) {
      dead = true;
      throw e;
    }
  }

  /**
   * Parses the readable bytes of {@code buf} without changing its reader index (a relay forwards the same
   * buffer downstream unchanged after scanning it). Does not retain or release {@code buf}.
   */
  public void feed(ByteBuf buf) {
    int from = buf.readerIndex();
    int length = buf.readableBytes();
    if (buf.hasArray()) {
      feed(buf.array(), buf.arrayOffset() + from, length);
      return;
    }
    // Direct or composite buffer: copy through one reusable array, no per-call allocation.
    byte[] s = scratchFor(length);
    for (int done = 0; done < length; ) {
      int n = Math.min(s.length, length - done);
      buf.getBytes(from + done, s, 0, n);
      feed(s, 0, n);
      done += n;
    }
  }

  /**
   * The copy buffer for a direct read of {@code length} bytes: the next power of two that holds it, between
   * 512 B and 8 KiB, kept for the next read and grown only when a read is larger. A model server's stream
   * arrives as one small event per read (150-400 B), so an open stream keeps 512 B here, not 8 KiB: at 1,000
   * streams bench's live young objects, which each of its young collections copies, were 15-17 MB, half of it
   * these buffers (docs/benchmarks.md, "bench at 1,000 streams: its own collector").
   */
  private byte[] scratchFor(int length) {
    byte[] s = scratch;
    if (s == null || (s.length < length && s.length < MAX_SCRATCH_BYTES)) {
      int size = length > MAX_SCRATCH_BYTES / 2 ? MAX_SCRATCH_BYTES : Integer.highestOneBit(Math.max(1, length - 1)) << 1;
      s = scratch = new byte[Math.max(MIN_SCRATCH_BYTES, size)];
    }
    return s;
  }

  /** Bytes held for copying direct reads (0 until the first); for the per-stream memory test. */
  int scratchBytes() {
    return scratch == null ? 0 : scratch.length;
  }

  /**
   * The line ends that would dispatch the event in progress, for a stream whose body has provably ended (its
   * HTTP framing said so) with its last event short of its blank line, which some servers send
   * (openai/openai-node#2725): the blank line alone when the event's lines are whole (in the line-end style of
   * its last line: CR after a CR), or a line end and a blank line when its unfinished line is the OpenAI
   * terminator {@code data: [DONE]}. Null when nothing is pending, or when the unfinished line is anything else
   * (a cut line of data is never completed into an event).
   */
  public byte[] endOfPendingEvent() {
    if (dead || ended || bomMatched > 0) {
      return null;
    }
    if (lineLength > 0) {
      return isDoneLine(line, 0, lineLength) ? new byte[] {LF, LF} : null;
    }
    if (dataLength == 0 && eventType == null) {
      return null;
    }
    return new byte[] {skipLf ? CR : LF};
  }

  /** Whether {@code bytes[from, to)} is the line {@code data: [DONE]} (or {@code data:[DONE]}). */
  public static boolean isDoneLine(byte[] bytes, int from, int to) {
    int i = from;
    for (byte b : DATA) {
      if (i >= to || bytes[i++] != b) {
        return false;
      }
    }
    if (i >= to || bytes[i++] != COLON) {
      return false;
    }
    if (i < to && bytes[i] == SPACE) {
      i++;
    }
    return Arrays.equals(bytes, i, to, DONE_BYTES, 0, DONE_BYTES.length);
  }

  private static final byte[] DONE_BYTES = ascii(SseEncoder.DONE);

  /**
   * Marks the end of the stream. Per spec, an event whose final empty line never arrived is discarded,
   * not dispatched ("if the file ends in the middle of an event, before the final empty line, the
   * incomplete event is not dispatched"); so is an unterminated last line. Idempotent and safe to call
   * from cleanup code, also on a dead parser; afterwards {@code feed} throws {@link IllegalStateException}.
   */
  public void end() {
    ended = true;
    lineLength = 0;
    dataLength = 0;
    eventType = null;
  }

  /**
   * True when the bytes fed so far end exactly between events: no partial line, no pending data and no
   * pending {@code event:} type. A relay may insert a comment such as {@code ": ping\n\n"} here without
   * changing any event the client sees (the blank line after the comment finds an empty data buffer and
   * an empty type buffer, so it dispatches nothing and resets nothing that matters; the last event id is
   * never reset by a blank line).
   *
   * <p>A CR at the very end of the input (whose LF may still come) does not make this false: if the LF
   * arrives after an inserted heartbeat, the client sees one extra empty line, which at a boundary is a
   * no-op.
   *
   * <p>Before the first byte this is true, but the client's parser only skips a BOM at the very start of
   * the stream: a relay that sends a heartbeat before the upstream's first byte must drop a leading BOM
   * from the upstream (otherwise the first line would start with U+FEFF and its field name would not
   * match).
   */
  public boolean atEventBoundary() {
    return lineLength == 0 && bomMatched <= 0 && dataLength == 0 && eventType == null;
  }

  /** Number of events dispatched to the listener so far. */
  public long eventsDispatched() {
    return eventsDispatched;
  }

  private void checkUsable() {
    if (dead) {
      throw new IllegalStateException("SSE parser failed earlier; it cannot be used any more");
    }
    if (ended) {
      throw new IllegalStateException("SSE parser already ended");
    }
  }

  private void parse(byte[] bytes, int start, int end) {
    int i = start;
    if (bomMatched >= 0) {
      i = skipBom(bytes, i, end);
    }
    while (i < end) {
      if (skipLf) {
        // CR then LF is one line end, even when the two arrive in different chunks.
        skipLf = false;
        if (bytes[i] == LF) {
          i++;
          continue;
        }
      }
      int eol = indexOfLineEnd(bytes, i, end);
      if (eol < 0) {
        appendToLine(bytes, i, end - i);
        return;
      }
      if (lineLength == 0) {
        checkLineLimit(eol - i);
        processLine(bytes, i, eol - i); // whole line inside this chunk: parse in place, no copy
      } else {
        appendToLine(bytes, i, eol - i);
        int length = lineLength;
        lineLength = 0; // reset first: the listener may throw, and the line is consumed either way
        processLine(line, 0, length);
      }
      skipLf = bytes[eol] == CR;
      i = eol + 1;
    }
  }

  /**
   * Spec: "One leading U+FEFF BYTE ORDER MARK character must be ignored if any are present." Matches the
   * three BOM bytes at stream start even when they arrive in separate chunks; if the start turns out not
   * to be a BOM, the bytes matched so far are ordinary line content.
   */
  private int skipBom(byte[] bytes, int i, int end) {
    while (i < end && bomMatched >= 0) {
      if (bytes[i] == BOM[bomMatched]) {
        i++;
        bomMatched++;
        if (bomMatched == BOM.length) {
          bomMatched = -1;
        }
      } else {
        appendToLine(BOM, 0, bomMatched);
        bomMatched = -1;
      }
    }
    return i;
  }

  private static int indexOfLineEnd(byte[] bytes, int from, int end) {
    for (int i = from; i < end; i++) {
      byte b = bytes[i];
      if (b == LF || b == CR) {
        return i;
      }
    }
    return -1;
  }

  private void appendToLine(byte[] bytes, int offset, int length) {
    int needed = lineLength + length;
    checkLineLimit(needed);
    if (needed > line.length) {
      line = Arrays.copyOf(line, grow(line.length, needed));
    }
    System.arraycopy(bytes, offset, line, lineLength, length);
    lineLength = needed;
  }

  private void checkLineLimit(int length) {
    if (length > maxEventBytes) {
      throw new SseException("SSE line longer than " + maxEventBytes + " bytes");
    }
  }

  /** Doubling growth, capped at the limit (callers have already checked {@code needed <= maxEventBytes}). */
  private int grow(int current, int needed) {
    return (int) Math.min(Math.max((long) current * 2, needed), maxEventBytes);
  }

  /** One complete line, without its terminator. */
  private void processLine(byte[] bytes, int offset, int length) {
    if (length == 0) {
      dispatch(); // spec: "If the line is empty (a blank line) — Dispatch the event"
      return;
    }
    if (bytes[offset] == COLON) {
      // spec: "If the line starts with a U+003A COLON character (:) — Ignore the line" (a comment).
      int valueStart = skipOneSpace(bytes, offset + 1, offset + length);
      listener.onComment(decode(bytes, valueStart, offset + length - valueStart));
      return;
    }
    int end = offset + length;
    int colon = indexOf(bytes, COLON, offset, end);
    // spec: the field name is everything before the first colon (the whole line if there is none); the
    // value is everything after it, minus one leading space if present (empty if there is no colon).
    int nameEnd = colon < 0 ? end : colon;
    int valueStart = colon < 0 ? end : skipOneSpace(bytes, colon + 1, end);
    processField(bytes, offset, nameEnd - offset, valueStart, end - valueStart);
  }

  /** Field names are compared byte for byte: the spec's names are case-sensitive ("Data" is ignored). */
  private void processField(byte[] bytes, int name, int nameLength, int value, int valueLength) {
    switch (nameLength) {
      case 4 -> {
        if (matches(bytes, name, DATA)) {
          parseData(bytes, value, valueLength);
        }
      }
      case 5 -> {
        if (matches(bytes, name, EVENT)) {
          parseEvent(bytes, value, valueLength);
        } else if (matches(bytes, name, RETRY)) {
          parseRetry(bytes, value, valueLength);
        }
      }
      case 2 -> {
        if (matches(bytes, name, ID)) {
          parseId(bytes, value, valueLength);
        }
      }
      default -> {
        // spec: "Otherwise — The field is ignored."
      }
    }
  }

  /** spec "data": append the value, then a single LF, to the data buffer. */
  private void parseData(byte[] bytes, int value, int valueLength) {
    int needed = dataLength + valueLength + 1;
    if (needed > maxEventBytes) {
      throw new SseException("SSE event data longer than " + maxEventBytes + " bytes");
    }
    if (needed > data.length) {
      data = Arrays.copyOf(data, grow(data.length, needed));
    }
    System.arraycopy(bytes, value, data, dataLength, valueLength);
    data[needed - 1] = LF;
    dataLength = needed;
  }

  /** spec "event": set the event type buffer to the value. */
  private void parseEvent(byte[] bytes, int value, int valueLength) {
    eventType = decode(bytes, value, valueLength);
  }

  /**
   * spec "id": if the value contains U+0000 NULL, ignore the field; otherwise set the last event ID buffer
   * (which then persists across events until the next id field; an empty value resets it to "").
   */
  private void parseId(byte[] bytes, int value, int valueLength) {
    if (indexOf(bytes, (byte) 0, value, value + valueLength) >= 0) {
      return; // in UTF-8 the byte 0x00 only ever encodes U+0000
    }
    lastEventId = decode(bytes, value, valueLength);
  }

  /**
   * spec "retry": if the value consists of only ASCII digits, it is the new reconnection time in ms;
   * otherwise ignore the field. Empty values and values beyond {@code Long.MAX_VALUE} are ignored too.
   */
  private void parseRetry(byte[] bytes, int value, int valueLength) {
    if (valueLength == 0) {
      return;
    }
    long millis = 0;
    for (int i = value, end = value + valueLength; i < end; i++) {
      int digit = bytes[i] - '0';
      if (digit < 0 || digit > 9 || millis > (Long.MAX_VALUE - digit) / 10) {
        return;
      }
      millis = millis * 10 + digit;
    }
    listener.onRetry(millis);
  }

  /**
   * spec "dispatch the event": an empty data buffer only resets the buffers (the last event ID is kept);
   * otherwise one trailing LF is removed and the event is dispatched with type "message" unless the type
   * buffer holds a non-empty value.
   */
  private void dispatch() {
    if (dataLength == 0) {
      eventType = null;
      return;
    }
    String type = eventType == null || eventType.isEmpty() ? "message" : eventType;
    String text = decode(data, 0, dataLength - 1);
    // Reset before calling out, so the buffers are consistent whatever the listener does.
    dataLength = 0;
    eventType = null;
    eventsDispatched++;
    listener.onEvent(new SseEvent(type, text, lastEventId));
  }

  private static int skipOneSpace(byte[] bytes, int from, int end) {
    return from < end && bytes[from] == SPACE ? from + 1 : from;
  }

  private static int indexOf(byte[] bytes, byte b, int from, int end) {
    for (int i = from; i < end; i++) {
      if (bytes[i] == b) {
        return i;
      }
    }
    return -1;
  }

  private static boolean matches(byte[] bytes, int offset, byte[] name) {
    return Arrays.equals(bytes, offset, offset + name.length, name, 0, name.length);
  }

  /** UTF-8 with replacement: {@code new String} substitutes U+FFFD for malformed input and never throws. */
  private static String decode(byte[] bytes, int offset, int length) {
    return length == 0 ? "" : new String(bytes, offset, length, StandardCharsets.UTF_8);
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }
}
