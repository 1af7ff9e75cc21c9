package dev.tokenpipe.dialect;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link ByteWords} against a byte loop: every byte value at every position of a word among fillers that are
 * their neighbours in value (where borrows between bytes would show), and random words.
 */
class ByteWordsTest {

  @Test
  void everyByteValueAtEveryPositionIsFoundExactlyWhenItQualifies() {
    for (int filler : new int[] {'a', 0x00, 0x1F, 0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F, 0x80, 0xFF, '\r' + 1, '\n' + 1}) {
      for (int v = 0; v < 256; v++) {
        for (int at = 0; at < 8; at++) {
          long word = 0;
          for (int k = 0; k < 8; k++) {
            word = word << 8 | (k == at ? v : filler);
          }
          assertAgainstLoop(word);
        }
      }
    }
  }

  @Test
  void randomWordsAgreeWithAByteLoop() {
    Random rnd = new Random(15);
    for (int n = 0; n < 200_000; n++) {
      assertAgainstLoop(rnd.nextLong());
    }
  }

  private static void assertAgainstLoop(long word) {
    boolean special = false;
    boolean crLf = false;
    boolean[] has = new boolean[256];
    for (int k = 0; k < 8; k++) {
      int b = (int) (word >>> (8 * k)) & 0xFF;
      special |= b == '"' || b == '\\' || b < 0x20;
      crLf |= b == '\r' || b == '\n';
      has[b] = true;
    }
    assertThat(ByteWords.hasQuoteBackslashOrControl(word)).as("%016x", word).isEqualTo(special);
    assertThat(ByteWords.hasCrOrLf(word)).as("%016x", word).isEqualTo(crLf);
    for (int b : new int[] {'\n', '\r', ':', 0, 0xFF, 0x80}) {
      assertThat(ByteWords.has(word, (byte) b)).as("%016x has %02x", word, b).isEqualTo(has[b]);
    }
  }
}
