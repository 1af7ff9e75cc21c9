package dev.tokenpipe.dialect;

/**
 * Tests on eight bytes at once, a {@code long} read from a byte array (SWAR: "SIMD within a register", the
 * zero-byte tests of Hacker's Delight §6-1 and Sean Anderson's Bit Twiddling Hacks). Each answers exactly whether
 * <em>any</em> of the eight bytes qualifies, whatever the byte order of the read; it does not say which one, so
 * a caller skips whole words that hold nothing of interest and finds the byte itself with a byte loop. Used by
 * the per-event scans of the relay path (issue 15), where most bytes are plain JSON string contents.
 */
public final class ByteWords {
  private static final long ONES = 0x0101010101010101L;
  private static final long HIGHS = 0x8080808080808080L;

  private ByteWords() {}

  /** True when a byte of {@code word} is {@code '"'}, {@code '\\'} or below 0x20 (what ends a JSON string's plain run). */
  public static boolean hasQuoteBackslashOrControl(long word) {
    return ((zeroBytes(word ^ ('"' * ONES)) | zeroBytes(word ^ ('\\' * ONES)) | below(word, 0x20)) & HIGHS) != 0;
  }

  /** True when a byte of {@code word} is CR or LF. */
  public static boolean hasCrOrLf(long word) {
    return ((zeroBytes(word ^ ('\r' * ONES)) | zeroBytes(word ^ ('\n' * ONES))) & HIGHS) != 0;
  }

  /** True when a byte of {@code word} equals {@code b}. */
  public static boolean has(long word, byte b) {
    return (zeroBytes(word ^ ((b & 0xFFL) * ONES)) & HIGHS) != 0;
  }

  /** High bit set in some byte iff some byte of {@code x} is zero (exact as to whether any is). */
  private static long zeroBytes(long x) {
    return (x - ONES) & ~x;
  }

  /** High bit set in some byte iff some byte of {@code x} is below {@code n} (exact as to whether any is; n <= 128). */
  private static long below(long x, int n) {
    return (x - n * ONES) & ~x;
  }
}
