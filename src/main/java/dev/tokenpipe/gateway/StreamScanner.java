package dev.tokenpipe.gateway;

import dev.tokenpipe.dialect.ByteWords;
import dev.tokenpipe.dialect.EventClassifier;
import dev.tokenpipe.dialect.EventKind;
import dev.tokenpipe.dialect.EventShape;
import dev.tokenpipe.dialect.Framing;
import dev.tokenpipe.sse.SseEncoder;
import dev.tokenpipe.sse.SseEvent;
import dev.tokenpipe.sse.SseListener;
import dev.tokenpipe.sse.SseParser;
import io.netty.buffer.ByteBuf;
import io.netty.util.concurrent.FastThreadLocal;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Reads the relayed bytes on the side, after they were forwarded: finds event boundaries (where a
 * heartbeat may be inserted), timestamps content events, counts tokens and reads {@code usage}. It never
 * changes, holds or delays the bytes; it only keeps books for {@link ProxyExchange}.
 *
 * <p>SSE has two paths with one result, and a shortcut on the first. The common case, a buffer of whole events ({@link EventRelay} cuts
 * them so) with LF line ends and one {@code data:} line per event, while {@link SseParser} holds nothing, is
 * classified in place: the buffer is copied once into an event-loop-wide scratch array, each event's
 * {@code data:} value is handed to {@link EventClassifier} as bytes and no String is made (issue 15: the
 * parser's String per event was the largest allocation per relayed event). Everything else (the stream's
 * first buffer when it may start with a BOM; CR line ends; multi-line data; a part of an oversized event; a line
 * beyond 1 MiB) goes through {@link SseParser}, which implements the WHATWG rules in full. Both paths
 * dispatch exactly the events the spec dispatches, with the same type and data; the parser is made only when
 * first needed (most streams never need it). On the in-place path, a read that is the stream's last token event
 * with another text (id, padding) takes that event's kind without being classified again ({@link EventShape}). NDJSON goes through a line
 * scanner. One scanner per stream, on the stream's event loop.
 */
final class StreamScanner implements SseListener {
  /** Told about each classified event, in stream order, with the time its bytes were read. */
  interface Sink {
    void onChunk(Chunk chunk, long readNanos);

    /**
     * An event whose text no one reads (it is no in-band error), classified in place: {@link #onChunk} of
     * {@code new Chunk(kind, null, false)}. Once per relayed event, so {@link StreamBooks} takes it without the
     * record, which escaped through this interface (JFR: the largest allocation per relayed event).
     */
    default void onEvent(long kind, long readNanos) {
      onChunk(new Chunk(kind, null, false), readNanos);
    }

    /** An event in no dialect the gateway knows (not JSON, not a terminator): it cannot be held back. */
    default void onOpaqueEvent() {}
  }

  private static final int MAX_LINE_BYTES = SseParser.DEFAULT_MAX_EVENT_BYTES;
  /** Buffers up to this size take the in-place path (an event beyond it is rare and goes to the parser). */
  private static final int MAX_INPLACE_BYTES = 64 * 1024;
  private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.BIG_ENDIAN);
  private static final byte[] DONE = SseEncoder.DONE.getBytes(StandardCharsets.US_ASCII);
  private static final String MESSAGE = "message";
  private static final byte[] LF = {'\n'};

  /** Per event loop: scanning is synchronous, so one array and one classifier serve all its streams. */
  private static final FastThreadLocal<Scratch> SCRATCH = new FastThreadLocal<>() {
    @Override
    protected Scratch initialValue() {
      return new Scratch();
    }
  };

  private static final class Scratch {
    byte[] bytes = new byte[4096];
    final EventClassifier classifier = new EventClassifier();
  }

  private final Framing framing;
  private final boolean plainTokens;
  private final Sink sink;
  /** Made on the first buffer the in-place path cannot read (most streams never need one). */
  private SseParser sse;
  /**
   * The stream's token event as a template ({@link EventShape}): replaced by each read of one qualifying event
   * that the in-place path classifies in full; made on the first.
   */
  private EventShape shape;
  /** The text span of the event {@link #dispatch} classified last ({@link EventClassifier#soleTextSpan}). */
  private long lastSpan;
  private long readNanos;
  /** A byte of the stream was read: a BOM from here on is data, not the stream's leading BOM. */
  private boolean started;
  /** The last {@code event:} type seen and its bytes: types repeat, so one String serves them all. */
  private String lastType;
  private byte[] lastTypeBytes;
  /**
   * NDJSON: bytes of the current line not yet ended by LF (bounded; beyond the bound only counted). Made on the
   * first NDJSON byte: an SSE stream never needs it.
   */
  private java.io.ByteArrayOutputStream ndjsonLine;

  StreamScanner(Framing framing, boolean plainTokens, Sink sink) {
    this.framing = framing;
    this.plainTokens = plainTokens;
    this.sink = sink;
  }

  /**
   * Scans {@code buf} without moving its reader index or touching its reference count.
   *
   * @throws dev.tokenpipe.sse.SseException when the upstream's SSE is not sane (a line beyond 1 MiB)
   */
  void feed(ByteBuf buf, long readNanos) {
    feed(buf, buf.readerIndex(), buf.writerIndex(), readNanos);
  }

  /** {@link #feed(ByteBuf, long)} for the bytes [from, to) of {@code buf} (absolute indexes). */
  void feed(ByteBuf buf, int from, int to, long readNanos) {
    this.readNanos = readNanos;
    switch (framing) {
      case SSE -> {
        boolean bomPossible = !started && from < to && buf.getByte(from) == (byte) 0xEF;
        if (plainTokens || bomPossible || (sse != null && !sse.atEventBoundary()) || !scanInPlace(buf, from, to)) {
          parser().feed(from == buf.readerIndex() && to == buf.writerIndex() ? buf : buf.slice(from, to - from));
        }
        started |= from < to;
      }
      case NDJSON -> feedLines(buf, from, to);
      case RAW -> { }
    }
  }

  private SseParser parser() {
    if (sse == null) {
      sse = new SseParser(this);
      if (started) {
        // Mid-stream a BOM is data: a blank line (a no-op on a fresh parser) settles the BOM question.
        sse.feed(LF, 0, 1);
      }
    }
    return sse;
  }

  /** True when a comment may be inserted without changing any event the client sees. */
  boolean atEventBoundary() {
    return switch (framing) {
      case SSE -> sse == null || sse.atEventBoundary(); // the in-place path reads whole events only
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
    if (!plainTokens && !data.startsWith("{") && !data.equals(SseEncoder.DONE)) {
      sink.onOpaqueEvent();
    }
    sink.onChunk(Chunk.classify(event.type(), data, plainTokens), readNanos);
  }

  /**
   * The in-place path: true when {@code buf} was whole events it could read (and they were dispatched),
   * false when it touched nothing and the parser must read the buffer. First the stream's {@link EventShape};
   * then two passes: the first only checks
   * the shape (LF line ends, whole events, at most one data line each), so that nothing is dispatched
   * twice when the parser takes over.
   */
  private boolean scanInPlace(ByteBuf buf, int from, int to) {
    int length = to - from;
    if (length < 2 || length > MAX_INPLACE_BYTES) {
      return false;
    }
    Scratch s = SCRATCH.get();
    if (s.bytes.length < length) {
      s.bytes = new byte[Math.max(length, s.bytes.length * 2)];
    }
    byte[] b = s.bytes;
    copy(buf, from, b, length);
    if (shape != null) {
      long kind = shape.match(b, length, s.classifier);
      if (kind >= 0) {
        sink.onEvent(kind, readNanos); // the last token's event with another text: the same one dispatch
        return true;
      }
    }
    if (b[length - 1] != '\n' || b[length - 2] != '\n' || !simpleShape(b, length)) {
      return false;
    }
    int dataFrom = -1;
    int dataTo = -1;
    String type = MESSAGE;
    int dispatched = 0;
    long kind = -1;
    long span = -1;
    int learnFrom = -1;
    int i = 0;
    while (i < length) {
      int eol = indexOfLf(b, i, length);
      if (eol == i) { // a blank line: dispatch
        if (dataFrom >= 0) {
          kind = dispatch(s.classifier, type, b, dataFrom, dataTo - dataFrom);
          span = lastSpan;
          learnFrom = dataFrom;
          dispatched++;
        }
        dataFrom = -1;
        type = MESSAGE;
      } else if (b[i] != ':') { // a comment line is ignored
        int colon = indexOf(b, (byte) ':', i, eol);
        int nameEnd = colon < 0 ? eol : colon;
        int value = colon < 0 ? eol : (colon + 1 < eol && b[colon + 1] == ' ' ? colon + 2 : colon + 1);
        int nameLength = nameEnd - i;
        if (nameLength == 4 && b[i] == 'd' && b[i + 1] == 'a' && b[i + 2] == 't' && b[i + 3] == 'a') {
          dataFrom = value;
          dataTo = eol;
        } else if (nameLength == 5 && b[i] == 'e' && b[i + 1] == 'v' && b[i + 2] == 'e' && b[i + 3] == 'n'
            && b[i + 4] == 't') {
          type = type(b, value, eol - value);
        }
        // id and retry change nothing the books read; other fields are ignored (spec).
      }
      i = eol + 1;
    }
    if (dispatched == 1) { // whether the event qualifies is EventShape's to say
      if (shape == null) {
        shape = new EventShape();
      }
      shape.learn(b, length, learnFrom, kind, span, s.classifier);
    }
    return true;
  }

  /** Events classified by their likeness to the stream's last token event ({@link EventShape}), for tests. */
  long shapeHits() {
    return shape == null ? 0 : shape.hits();
  }

  /** LF line ends only, no line beyond the limit, at most one data line per event, and no stray CR. */
  private static boolean simpleShape(byte[] b, int length) {
    int dataLines = 0;
    int lineStart = 0;
    for (int i = 0; i < length; i++) {
      while (i + 8 <= length && !ByteWords.hasCrOrLf((long) LONGS.get(b, i))) {
        i += 8; // only CR and LF matter here; most words hold neither
      }
      if (i >= length) {
        break;
      }
      byte c = b[i];
      if (c == '\r') {
        return false;
      }
      if (c == '\n') {
        if (i == lineStart) {
          dataLines = 0;
        } else if (i - lineStart >= 4 && b[lineStart] == 'd' && b[lineStart + 1] == 'a' && b[lineStart + 2] == 't'
            && b[lineStart + 3] == 'a' && (i - lineStart == 4 || b[lineStart + 4] == ':') && ++dataLines > 1) {
          return false;
        }
        lineStart = i + 1;
      }
    }
    return true;
  }

  /** Classifies and dispatches one event; returns its kind. */
  private long dispatch(EventClassifier classifier, String type, byte[] b, int from, int length) {
    boolean json = length > 0 && b[from] == '{';
    if (!json && !(length == DONE.length && java.util.Arrays.equals(b, from, from + length, DONE, 0, DONE.length))) {
      sink.onOpaqueEvent();
    }
    long kind = classifier.of(type, b, from, length);
    lastSpan = json ? classifier.soleTextSpan() : -1; // before the sink, which may lead anywhere
    if (EventKind.has(kind, EventKind.ERROR)) { // the text is kept only where the books read it
      sink.onChunk(new Chunk(kind, new String(b, from, length, StandardCharsets.UTF_8), false), readNanos);
    } else {
      sink.onEvent(kind, readNanos);
    }
    return kind;
  }

  private String type(byte[] b, int from, int length) {
    if (length == 0) {
      return MESSAGE; // an empty event: field means the default type (spec)
    }
    byte[] last = lastTypeBytes;
    if (last == null || !java.util.Arrays.equals(b, from, from + length, last, 0, last.length)) {
      lastTypeBytes = java.util.Arrays.copyOfRange(b, from, from + length);
      lastType = new String(lastTypeBytes, StandardCharsets.UTF_8);
    }
    return lastType;
  }

  /** Eight bytes per checked read: {@code getBytes} into an array allocates an NIO duplicate per call on a direct buffer. */
  private static void copy(ByteBuf buf, int index, byte[] to, int length) {
    if (buf.hasArray()) {
      System.arraycopy(buf.array(), buf.arrayOffset() + index, to, 0, length);
      return;
    }
    int i = 0;
    for (; i + 8 <= length; i += 8) {
      LONGS.set(to, i, buf.getLong(index + i));
    }
    for (; i < length; i++) {
      to[i] = buf.getByte(index + i);
    }
  }

  private static int indexOfLf(byte[] b, int from, int end) {
    return indexOf(b, (byte) '\n', from, end);
  }

  private static int indexOf(byte[] b, byte c, int from, int end) {
    int i = from;
    while (i + 8 <= end && !ByteWords.has((long) LONGS.get(b, i), c)) {
      i += 8;
    }
    for (; i < end; i++) {
      if (b[i] == c) {
        return i;
      }
    }
    return -1;
  }

  private void feedLines(ByteBuf buf, int from, int to) {
    if (ndjsonLine == null) {
      ndjsonLine = new java.io.ByteArrayOutputStream(256);
    }
    for (int i = from; i < to; i++) {
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
