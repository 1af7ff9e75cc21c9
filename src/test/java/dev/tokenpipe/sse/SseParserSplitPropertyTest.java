package dev.tokenpipe.sse;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Property: however a stream is cut into chunks (one byte at a time, random cuts, through direct
 * ByteBufs), the parser reports exactly what it reports for the whole stream, and that is exactly what
 * the generator meant to encode. Streams are built from random events with multi-byte UTF-8, comments,
 * retries, unknown fields, ids with and without NUL, BOMs and mixed line-end styles.
 */
class SseParserSplitPropertyTest {

  private static final int STREAMS = 1000;

  private static final String[] TOKENS = {
      "hello", "world", " ", "  ", "é", "日本", "😀", "👩‍💻", ":", "a: b", "data:", "id", "\u0000", "\uFEFF", "\t",
      "x", "0", "[DONE]", "{\"k\":\"v\"}", "Ωμέγα"};

  /** What a stream should produce; compared with {@link RecordingListener#all()}. */
  private record Generated(byte[] bytes, List<SseEvent> events, List<String> comments, List<Long> retries) {
    List<Object> expected() {
      return List.of(events, comments, retries);
    }
  }

  @Test
  void anySplitOfRandomStreamsGivesTheExpectedEvents() {
    long totalEvents = 0;
    for (int seed = 0; seed < STREAMS; seed++) {
      Random rnd = new Random(seed);
      Generated g = generate(rnd);
      totalEvents += g.events.size();

      assertThat(RecordingListener.parse(g.bytes).all()).as("seed %d whole", seed).isEqualTo(g.expected());
      assertThat(feedByteByByte(g.bytes)).as("seed %d byte by byte", seed).isEqualTo(g.expected());
      for (int round = 0; round < 3; round++) {
        assertThat(feedRandomSplits(g.bytes, rnd)).as("seed %d random splits", seed).isEqualTo(g.expected());
      }
      assertThat(feedRandomDirectBufs(g.bytes, rnd)).as("seed %d direct ByteBufs", seed).isEqualTo(g.expected());
    }
    assertThat(totalEvents).as("generator produces events").isGreaterThan(STREAMS);
  }

  private static List<Object> feedByteByByte(byte[] bytes) {
    RecordingListener r = new RecordingListener();
    SseParser p = new SseParser(r);
    for (int i = 0; i < bytes.length; i++) {
      p.feed(bytes, i, 1);
    }
    p.end();
    return r.all();
  }

  private static List<Object> feedRandomSplits(byte[] bytes, Random rnd) {
    RecordingListener r = new RecordingListener();
    SseParser p = new SseParser(r);
    for (int i = 0; i < bytes.length; ) {
      int n = Math.min(bytes.length - i, rnd.nextInt(12)); // includes empty feeds
      // Copy into a fresh array so no state can leak through the caller's array.
      byte[] chunk = new byte[n + 2];
      System.arraycopy(bytes, i, chunk, 1, n);
      p.feed(chunk, 1, n);
      i += n;
    }
    p.end();
    return r.all();
  }

  private static List<Object> feedRandomDirectBufs(byte[] bytes, Random rnd) {
    RecordingListener r = new RecordingListener();
    SseParser p = new SseParser(r);
    for (int i = 0; i < bytes.length; ) {
      // Mostly small reads, some past the parser's 512 B copy buffer, so it grows in the middle of a stream.
      int n = Math.min(bytes.length - i, 1 + (rnd.nextInt(8) == 0 ? rnd.nextInt(3_000) : rnd.nextInt(40)));
      ByteBuf buf = Unpooled.directBuffer(n).writeBytes(bytes, i, n);
      try {
        p.feed(buf);
        assertThat(buf.readerIndex()).isZero();
      } finally {
        buf.release();
      }
      i += n;
    }
    p.end();
    return r.all();
  }

  // --- generator -----------------------------------------------------------------------------------------

  private static Generated generate(Random rnd) {
    Writer w = new Writer(rnd);
    List<SseEvent> events = new ArrayList<>();
    String lastId = "";
    if (rnd.nextInt(4) == 0) {
      w.out.append('\uFEFF');
    }
    int eventCount = rnd.nextInt(8);
    for (int e = 0; e < eventCount; e++) {
      // Core fields of the event in random order; data lines keep their relative order.
      List<String[]> fields = new ArrayList<>();
      List<String> data = new ArrayList<>();
      int dataLines = rnd.nextInt(5) == 0 ? 0 : 1 + rnd.nextInt(3); // 0 lines: nothing is dispatched
      for (int i = 0; i < dataLines; i++) {
        String value = value(rnd);
        data.add(value);
        fields.add(new String[] {"data", value});
      }
      String type = null;
      if (rnd.nextInt(3) == 0) {
        type = rnd.nextInt(5) == 0 ? "" : value(rnd);
        fields.add(rnd.nextInt(fields.size() + 1), new String[] {"event", type});
      }
      if (rnd.nextInt(3) == 0) {
        String id = rnd.nextInt(4) == 0 ? "tp." + e + "." + rnd.nextInt(1_000_000) : value(rnd);
        fields.add(rnd.nextInt(fields.size() + 1), new String[] {"id", id});
        if (id.indexOf('\0') < 0) { // spec: an id containing NUL is ignored
          lastId = id;
        }
      }
      for (String[] field : fields) {
        w.noise();
        w.field(field[0], field[1]);
      }
      w.noise();
      w.blankLine();
      if (dataLines > 0) {
        String t = type == null || type.isEmpty() ? "message" : type;
        events.add(new SseEvent(t, String.join("\n", data), lastId));
      }
    }
    if (rnd.nextInt(3) == 0) {
      // An event cut off by the end of the stream: must not be dispatched.
      w.field("data", value(rnd));
      if (rnd.nextBoolean()) {
        w.out.append("data: unterminated");
      }
    }
    return new Generated(w.out.toString().getBytes(UTF_8), events, w.comments, w.retries);
  }

  /** 0..4 random tokens; never CR or LF (those would end the line). */
  private static String value(Random rnd) {
    StringBuilder sb = new StringBuilder();
    int n = rnd.nextInt(5);
    for (int i = 0; i < n; i++) {
      sb.append(TOKENS[rnd.nextInt(TOKENS.length)]);
    }
    if (rnd.nextInt(50) == 0) {
      sb.append("long".repeat(100 + rnd.nextInt(200))); // exercises line-buffer growth across chunks
    }
    return sb.toString();
  }

  /** Appends lines with random line-end styles and records the comments/retries they must produce. */
  private static final class Writer {
    final StringBuilder out = new StringBuilder();
    final List<String> comments = new ArrayList<>();
    final List<Long> retries = new ArrayList<>();
    private final Random rnd;
    private boolean lastEolWasCr;

    Writer(Random rnd) {
      this.rnd = rnd;
    }

    /** "name: value", "name:value" (only if value has no leading space to lose) or bare "name". */
    void field(String name, String value) {
      int style = rnd.nextInt(4);
      if (value.isEmpty() && style == 0) {
        line(name);
      } else if (style == 1 && !value.startsWith(" ")) {
        line(name + ":" + value);
      } else {
        line(name + ": " + value);
      }
    }

    /** Sometimes a comment, a retry (valid or not) or an ignored field; none of them changes the event. */
    void noise() {
      switch (rnd.nextInt(12)) {
        case 0 -> {
          String text = value(rnd);
          comments.add(text);
          line(":" + (text.startsWith(" ") || rnd.nextBoolean() ? " " : "") + text);
        }
        case 1 -> {
          long millis = rnd.nextInt(100_000);
          retries.add(millis);
          field("retry", Long.toString(millis));
        }
        case 2 -> field("retry", rnd.nextBoolean() ? "12a" : "-5");
        case 3 -> field(rnd.nextBoolean() ? "Data" : "foo", value(rnd));
        default -> {}
      }
    }

    void blankLine() {
      line("");
    }

    private void line(String content) {
      out.append(content);
      // A CR line end followed by an empty line ending in LF would be read as one CRLF, so after CR an
      // empty line must not start with LF.
      int choice = (lastEolWasCr && content.isEmpty()) ? 1 + rnd.nextInt(2) : rnd.nextInt(3);
      String eol = switch (choice) {
        case 0 -> "\n";
        case 1 -> "\r";
        default -> "\r\n";
      };
      out.append(eol);
      lastEolWasCr = eol.equals("\r");
    }
  }
}
