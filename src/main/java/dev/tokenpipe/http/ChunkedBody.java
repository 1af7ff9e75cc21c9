package dev.tokenpipe.http;

import io.netty.buffer.ByteBuf;
import java.util.HexFormat;

/**
 * A chunked HTTP/1.1 message body (RFC 9112 §7.1) decoded in place: the data of each chunk is reported as an
 * index range of the buffer it arrived in, never copied or held, so a relay can forward the data, or a whole
 * read with its framing, as it came. Chunk extensions are skipped (§7.1.1: a recipient ignores the ones it
 * does not know); trailer fields are read and dropped (§7.1.2).
 *
 * <p>A pull decoder: each {@link #next} call moves the buffer's reader index past what it read and says what
 * it found. One instance per body; not thread-safe.
 *
 * <pre>{@code
 * for (Step s; (s = body.next(in)) != Step.NEED_MORE; ) {
 *   if (s == Step.DATA) relay(in, body.dataFrom(), body.dataTo()); else { end(); break; }
 * }
 * }</pre>
 *
 * <p>Memory: nothing is held between reads but a few counters. Bounds: a chunk-size line (with its extensions)
 * of at most {@link #MAX_LINE_BYTES}, a trailer section of at most {@link #MAX_TRAILER_BYTES}, a chunk size of
 * at most 15 hex digits. Line ends are CRLF; a bare LF is also accepted, as Netty's own decoder does.
 */
public final class ChunkedBody {
  /** What {@link #next} found. */
  public enum Step {
    /** Chunk data at [{@link #dataFrom()}, {@link #dataTo()}) of the buffer (a chunk may come in several pieces). */
    DATA,
    /** The buffer is used up; call again with the next read. */
    NEED_MORE,
    /** The last chunk and the trailer section were read: the body ended just before the reader index. */
    END
  }

  /** Broken chunk framing: the connection cannot be trusted to carry anything else. */
  public static final class FramingException extends RuntimeException {
    FramingException(String message) {
      super(message, null, false, false);
    }
  }

  public static final int MAX_LINE_BYTES = 4096;
  public static final int MAX_TRAILER_BYTES = 8192;
  private static final int MAX_SIZE_DIGITS = 15;

  private enum State { SIZE, EXTENSION, SIZE_LF, DATA, DATA_CR, DATA_LF, TRAILER_LINE_START, TRAILER_LINE, ENDED }

  private State state = State.SIZE;
  private long size;
  private int digits;
  private int lineBytes;
  private int trailerBytes;
  private long remaining;
  private int dataFrom;
  private int dataTo;

  /** Start of the last {@link Step#DATA} range, an absolute index in the buffer passed to {@link #next}. */
  public int dataFrom() {
    return dataFrom;
  }

  /** End (exclusive) of the last {@link Step#DATA} range. */
  public int dataTo() {
    return dataTo;
  }

  /** True between chunks: the next byte starts a chunk-size line (and no chunk is half read). */
  public boolean atChunkStart() {
    return state == State.SIZE && digits == 0;
  }

  /** True once the body's end was read. */
  public boolean ended() {
    return state == State.ENDED;
  }

  /**
   * Reads {@code in} from its reader index until it finds data, the body's end, or the buffer's end.
   *
   * @throws FramingException on broken framing (a bad size line, data not followed by CRLF, a bound exceeded)
   */
  public Step next(ByteBuf in) {
    int i = in.readerIndex();
    int to = in.writerIndex();
    try {
      while (i < to) {
        switch (state) {
          case DATA -> {
            int n = (int) Math.min(remaining, to - i);
            remaining -= n;
            dataFrom = i;
            dataTo = i + n;
            i += n;
            if (remaining == 0) {
              state = State.DATA_CR;
            }
            return Step.DATA;
          }
          case ENDED -> {
            return Step.END;
          }
          default -> {
            if (lineByte(in.getByte(i++))) {
              return Step.END;
            }
          }
        }
      }
      return state == State.ENDED ? Step.END : Step.NEED_MORE;
    } finally {
      in.readerIndex(i);
    }
  }

  /** One byte of a size line, a chunk's CRLF or the trailer section; true when it ended the body. */
  private boolean lineByte(byte b) {
    switch (state) {
      case SIZE -> {
        int v = hexValue(b);
        if (v >= 0) {
          if (++digits > MAX_SIZE_DIGITS) {
            throw new FramingException("chunk size longer than " + MAX_SIZE_DIGITS + " hex digits");
          }
          size = size << 4 | v;
          countLine();
        } else if (digits == 0) {
          throw new FramingException("chunk size line does not start with a hex digit");
        } else if (b == ';' || b == ' ' || b == '\t') {
          state = State.EXTENSION;
          countLine();
        } else if (b == '\r') {
          state = State.SIZE_LF;
        } else if (b == '\n') {
          sizeLineDone();
        } else {
          throw new FramingException("bad character in a chunk size");
        }
      }
      case EXTENSION -> {
        if (b == '\n') {
          sizeLineDone();
        } else {
          countLine();
        }
      }
      case SIZE_LF -> {
        if (b != '\n') {
          throw new FramingException("CR without LF after a chunk size");
        }
        sizeLineDone();
      }
      case DATA_CR -> {
        if (b == '\r') {
          state = State.DATA_LF;
        } else if (b == '\n') {
          nextChunk();
        } else {
          throw new FramingException("chunk data not followed by CRLF");
        }
      }
      case DATA_LF -> {
        if (b != '\n') {
          throw new FramingException("chunk data not followed by CRLF");
        }
        nextChunk();
      }
      case TRAILER_LINE_START, TRAILER_LINE -> {
        if (++trailerBytes > MAX_TRAILER_BYTES) {
          throw new FramingException("trailer section over " + MAX_TRAILER_BYTES + " bytes");
        }
        if (b == '\n') {
          if (state == State.TRAILER_LINE_START) {
            state = State.ENDED; // the empty line that ends the trailer section, and the body
            return true;
          }
          state = State.TRAILER_LINE_START;
        } else if (b != '\r') {
          state = State.TRAILER_LINE;
        }
      }
      default -> throw new IllegalStateException(state.name());
    }
    return false;
  }

  private void countLine() {
    if (++lineBytes > MAX_LINE_BYTES) {
      throw new FramingException("chunk size line over " + MAX_LINE_BYTES + " bytes");
    }
  }

  private void sizeLineDone() {
    if (size == 0) {
      state = State.TRAILER_LINE_START; // the last chunk: the trailer section follows
    } else {
      remaining = size;
      state = State.DATA;
    }
  }

  private void nextChunk() {
    state = State.SIZE;
    size = 0;
    digits = 0;
    lineBytes = 0;
  }

  /** The value of a hex digit (RFC 9112 §7.1: {@code chunk-size = 1*HEXDIG}), else -1. */
  private static int hexValue(byte b) {
    return HexFormat.isHexDigit(b) ? HexFormat.fromHexDigit(b) : -1;
  }

  /**
   * The data length when {@code in}'s readable bytes are exactly one whole chunk with data and no extension
   * ({@code HEX CRLF data CRLF}, what a streaming server writes per flush and the socket usually delivers per
   * read), else -1. The data then ends 2 bytes before the writer index. Reads only; a decoder that is
   * {@link #atChunkStart()} may skip such a read without calling {@link #next}, its state is the same after it.
   */
  public static int wholeChunk(ByteBuf in) {
    int i = in.readerIndex();
    int to = in.writerIndex();
    int size = 0;
    int start = i;
    for (; i < to && i - start < 8; i++) {
      int v = hexValue(in.getByte(i));
      if (v < 0) {
        break;
      }
      size = size << 4 | v;
    }
    if (i == start || size <= 0 || i + 2 > to || in.getByte(i) != '\r' || in.getByte(i + 1) != '\n') {
      return -1;
    }
    long end = (long) i + 2 + size + 2;
    if (end != to || in.getByte(to - 2) != '\r' || in.getByte(to - 1) != '\n') {
      return -1;
    }
    return size;
  }
}
