package dev.tokenpipe.dialect;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * One stream's last generated-output event, kept as a template so that the next event of the same shape is not
 * classified again. A model server writes every token of a stream as the same event with another text in it
 * (OpenAI's chunk differs only in {@code delta.content}; Anthropic's {@code content_block_delta} only in {@code
 * delta.text}), and {@link EventClassifier}'s result depends on a generated-text string only through its being
 * non-empty (issue 15: classifying every relayed event was the largest part of the gateway's own work per
 * event).
 *
 * <p>The template is the event's bytes with holes where a next token event may differ and still have the same
 * kind:
 * <ul>
 *   <li>the generated text: the content of its JSON string, which must again be non-empty and valid;
 *   <li>the value of one SSE {@code id:} line before the data (the books do not read ids; {@code tokenpipe sim}
 *       stamps every event's, other servers number them), which must hold no CR;
 *   <li>the content of any {@code "obfuscation"} string (OpenAI pads each delta with random characters there by
 *       default; the classifier reads no such key), which must be valid.
 * </ul>
 * An event that equals the template outside its holes, each hole read by its rule, has the template's kind. One
 * that differs anywhere else (a {@code finish_reason}, a {@code usage}, a sequence number that counts up) is
 * classified in full and, when it qualifies, becomes the template.
 *
 * <p>Only events that carry exactly one generated kind, one text and nothing else the books read (no usage, no
 * terminator, no error) are learned. Memory: one array per stream, as large as the largest learned event and
 * at most {@value #MAX_BYTES} bytes, and a few fields. Not thread-safe: one per stream, on its event loop.
 */
public final class EventShape {
  /** Larger events are not learned: a model's token event is a few hundred bytes. */
  public static final int MAX_BYTES = 1024;

  private static final int MAX_HOLES = 4;
  private static final byte ID_VALUE = 0;
  private static final byte TEXT = 1;
  private static final byte STRING = 2;
  private static final byte[] OBFUSCATION = "\"obfuscation\":\"".getBytes(StandardCharsets.US_ASCII);

  private byte[] template;
  private int length;
  /** Holes in template order: {@code template[holeFrom[h], holeTo[h])} varies, read by the rule {@code holeRule[h]}. */
  private final int[] holeFrom = new int[MAX_HOLES];
  private final int[] holeTo = new int[MAX_HOLES];
  private final byte[] holeRule = new byte[MAX_HOLES];
  private int holes;
  private long kind = -1;
  private long hits;

  /**
   * The kind of the event {@code b[0, length)} when it has the learned shape, else -1 (classify it in full).
   * {@code classifier} reads the new strings by its JSON rules; it forgets its last input.
   */
  public long match(byte[] b, int length, EventClassifier classifier) {
    if (kind < 0) {
      return -1;
    }
    int t = 0; // in the template
    int i = 0; // in b
    for (int h = 0; h < holes; h++) {
      int to = i + holeFrom[h] - t;
      if (to > length || !Arrays.equals(b, i, to, template, t, holeFrom[h])) {
        return -1;
      }
      int end = switch (holeRule[h]) {
        case ID_VALUE -> lineEnd(b, to, length); // an id holds no CR
        case TEXT -> {
          int e = classifier.stringEnd(b, to, length);
          yield e > to ? e : -1; // non-empty
        }
        default -> classifier.stringEnd(b, to, length);
      };
      if (end < 0) {
        return -1;
      }
      i = end;
      t = holeTo[h];
    }
    if (length - i != this.length - t || !Arrays.equals(b, i, length, template, t, this.length)) {
      return -1;
    }
    hits++;
    return kind;
  }

  /**
   * Takes {@code b[0, length)}, one SSE block just classified in full as {@code kind}, its data starting at
   * {@code dataFrom} and {@code span} its text ({@link EventClassifier#soleTextSpan}), as the template when it
   * qualifies; otherwise keeps the template it has (a usage chunk or a heartbeat between tokens does not end
   * the shape). {@code classifier} finds the ends of the other strings; it forgets its last input.
   */
  public void learn(byte[] b, int length, int dataFrom, long kind, long span, EventClassifier classifier) {
    int generated = EventKind.flags(kind) & EventKind.GENERATED;
    if (span < 0 || length > MAX_BYTES || Integer.bitCount(generated) != 1 || EventKind.flags(kind) != generated
        || EventKind.usage(kind) >= 0) {
      return;
    }
    if (template == null || template.length < length) {
      template = new byte[Math.min(MAX_BYTES, Math.max(256, Integer.highestOneBit(length) << 1))];
    }
    System.arraycopy(b, 0, template, 0, length);
    this.length = length;
    this.kind = kind;
    holes = 0;
    for (int line = 0; line < dataFrom; ) { // the first id line before the data, if any
      if (template[line] == 'i' && template[line + 1] == 'd' && template[line + 2] == ':') {
        int end = lineEnd(template, line + 3, dataFrom);
        if (end > 0) {
          hole(line + 3, end, ID_VALUE);
        }
        break;
      }
      while (line < dataFrom && template[line] != '\n') {
        line++;
      }
      line++;
    }
    int textFrom = (int) (span >>> 32);
    int textTo = (int) span;
    hole(textFrom, textTo, TEXT);
    int dataTo = lineEnd(template, dataFrom, length); // the data line's LF (the line holds no CR)
    for (int at = indexOf(template, OBFUSCATION, dataFrom, dataTo); at >= 0 && holes < MAX_HOLES;
        at = indexOf(template, OBFUSCATION, at + 1, dataTo)) {
      int from = at + OBFUSCATION.length;
      int to = from == textFrom ? -1 : classifier.stringEnd(template, from, dataTo);
      if (to >= 0) {
        hole(from, to, STRING);
      }
    }
    sortHoles();
  }

  /** Events matched since this stream began (for tests and profiles). */
  public long hits() {
    return hits;
  }

  private void hole(int from, int to, byte rule) {
    holeFrom[holes] = from;
    holeTo[holes] = to;
    holeRule[holes] = rule;
    holes++;
  }

  /** Insertion sort of the few holes by position (an obfuscation string may come before the text). */
  private void sortHoles() {
    for (int h = 1; h < holes; h++) {
      for (int k = h; k > 0 && holeFrom[k] < holeFrom[k - 1]; k--) {
        swap(holeFrom, k);
        swap(holeTo, k);
        byte r = holeRule[k];
        holeRule[k] = holeRule[k - 1];
        holeRule[k - 1] = r;
      }
    }
  }

  private static void swap(int[] a, int k) {
    int x = a[k];
    a[k] = a[k - 1];
    a[k - 1] = x;
  }

  /** Where the line whose rest starts at {@code b[at]} ends (its LF), or -1 when a CR or the end comes first. */
  private static int lineEnd(byte[] b, int at, int length) {
    for (int i = at; i < length; i++) {
      if (b[i] == '\n') {
        return i;
      }
      if (b[i] == '\r') {
        return -1;
      }
    }
    return -1;
  }

  private static int indexOf(byte[] b, byte[] what, int from, int to) {
    for (int i = from; i + what.length <= to; i++) {
      if (b[i] == what[0] && Arrays.equals(b, i, i + what.length, what, 0, what.length)) {
        return i;
      }
    }
    return -1;
  }
}
