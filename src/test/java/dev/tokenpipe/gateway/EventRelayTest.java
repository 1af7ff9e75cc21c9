package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.dialect.Framing;
import dev.tokenpipe.sse.SseEvent;
import dev.tokenpipe.sse.SseParser;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The relay forwards whole events only, with the upstream's bytes unchanged, however the reads split them. */
class EventRelayTest {
  private static final String[] LINE_ENDS = {"\n", "\r\n", "\r"};

  @Test
  void randomStreamsInRandomSplitsComeOutAsWholeEventsWithTheSameBytes() {
    Random rnd = new Random(42);
    for (int round = 0; round < 2_000; round++) {
      String eol = LINE_ENDS[rnd.nextInt(LINE_ENDS.length)];
      StringBuilder stream = new StringBuilder();
      if (rnd.nextInt(5) == 0) {
        stream.append('\uFEFF');
      }
      int events = 1 + rnd.nextInt(6);
      for (int e = 0; e < events; e++) {
        if (rnd.nextInt(4) == 0) {
          stream.append(": c").append(e).append(eol);
        }
        if (rnd.nextBoolean()) {
          stream.append("id: ").append(e).append(eol);
        }
        int lines = 1 + rnd.nextInt(3);
        for (int l = 0; l < lines; l++) {
          stream.append("data: {\"x\":\"").append("é".repeat(rnd.nextInt(3))).append(e).append(l).append("\"}").append(eol);
        }
        stream.append(eol);
      }
      String tail = rnd.nextBoolean() ? "data: cut" + (rnd.nextBoolean() ? eol : "") : "";
      byte[] whole = stream.toString().getBytes(StandardCharsets.UTF_8);
      byte[] all = (stream + tail).getBytes(StandardCharsets.UTF_8);

      EventRelay relay = new EventRelay(Framing.SSE, ByteBufAllocator.DEFAULT);
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      List<SseEvent> dispatchedPerChunk = new ArrayList<>();
      SseParser client = new SseParser(dispatchedPerChunk::add);
      int i = 0;
      while (i < all.length) {
        int n = 1 + rnd.nextInt(Math.min(all.length - i, 40));
        ByteBuf read = Unpooled.wrappedBuffer(all, i, n);
        ByteBuf ready = relay.feed(read);
        if (ready != null) {
          byte[] chunk = new byte[ready.readableBytes()];
          ready.readBytes(chunk);
          ready.release();
          out.writeBytes(chunk);
          client.feed(chunk, 0, chunk.length);
          assertThat(client.atEventBoundary()).as("each output ends at an event boundary").isTrue();
        }
        read.release();
        i += n;
      }
      relay.release();
      assertThat(out.toByteArray()).as("round %d", round).isEqualTo(whole);
      List<SseEvent> direct = new ArrayList<>();
      SseParser directParser = new SseParser(direct::add);
      directParser.feed(whole, 0, whole.length);
      assertThat(dispatchedPerChunk).isEqualTo(direct);
    }
  }

  /**
   * The zero-copy path's question ({@link EventRelay#wholeEvents}) against the full scan: on random streams whose
   * lines end in LF, CRLF or CR (mixed within a stream, and empty lines among them), split into random reads,
   * a read called whole events is exactly what {@link EventRelay#feed} of a relay that saw the same reads
   * returns, and a read not called so changes nothing. Both relays then agree on being at a boundary.
   */
  @Test
  void wholeEventsAgreesWithTheFullScanOnRandomStreamsAndSplits() {
    Random rnd = new Random(7);
    int called = 0;
    for (int round = 0; round < 3_000; round++) {
      Framing framing = rnd.nextInt(4) == 0 ? Framing.NDJSON : Framing.SSE;
      StringBuilder stream = new StringBuilder();
      List<Integer> ends = new ArrayList<>(); // where events end (ASCII: chars are bytes)
      int events = 1 + rnd.nextInt(8);
      for (int e = 0; e < events; e++) {
        if (framing == Framing.NDJSON) {
          stream.append("{\"n\":").append(e).append('}').append(rnd.nextInt(4) == 0 ? "\r\n" : "\n");
          ends.add(stream.length());
          continue;
        }
        int lines = 1 + rnd.nextInt(3);
        for (int l = 0; l < lines; l++) {
          stream.append(l == 0 && rnd.nextInt(5) == 0 ? ": c" : "data: " + e + "." + l)
              .append(LINE_ENDS[rnd.nextInt(LINE_ENDS.length)]);
        }
        stream.append(LINE_ENDS[rnd.nextInt(LINE_ENDS.length)]);
        ends.add(stream.length());
      }
      byte[] all = stream.toString().getBytes(StandardCharsets.UTF_8);

      EventRelay fast = new EventRelay(framing, ByteBufAllocator.DEFAULT);
      EventRelay full = new EventRelay(framing, ByteBufAllocator.DEFAULT);
      int i = 0;
      while (i < all.length) {
        // Reads cut anywhere, and often exactly at an event's end, where the question matters.
        int at = i;
        List<Integer> ahead = ends.stream().filter(end -> end > at).toList();
        int n = rnd.nextBoolean() ? ahead.get(rnd.nextInt(Math.min(2, ahead.size()))) - i
            : 1 + rnd.nextInt(Math.min(all.length - i, rnd.nextBoolean() ? 6 : 40));
        ByteBuf read = Unpooled.wrappedBuffer(all, i, n);
        boolean whole = fast.wholeEvents(read, read.readerIndex(), read.writerIndex());
        String fastOut = whole ? read.toString(StandardCharsets.UTF_8) : drain(fast.feed(read));
        String fullOut = drain(full.feed(read));
        String context = framing + " round " + round + " read at " + i + " of " + stream.toString()
            .replace("\r", "\\r").replace("\n", "\\n");
        if (whole) {
          called++;
          assertThat(fullOut).as("a read called whole events: %s", context).isEqualTo(fastOut);
        } else {
          assertThat(fastOut).as("a read the full scan cut: %s", context).isEqualTo(fullOut);
        }
        assertThat(fast.atBoundary()).as(context).isEqualTo(full.atBoundary());
        assertThat(fast.heldBytes()).as(context).isEqualTo(full.heldBytes());
        read.release();
        i += n;
      }
      fast.release();
      full.release();
    }
    assertThat(called).as("reads answered by wholeEvents").isGreaterThan(1_000);
  }

  private static String drain(ByteBuf out) {
    if (out == null) {
      return null;
    }
    String s = out.toString(StandardCharsets.UTF_8);
    out.release();
    return s;
  }

  @Test
  void ndjsonLinesGoOutWhole() {
    EventRelay relay = new EventRelay(Framing.NDJSON, ByteBufAllocator.DEFAULT);
    assertThat(feed(relay, "{\"a\":1}\n{\"b\"")).isEqualTo("{\"a\":1}\n");
    assertThat(feed(relay, ":2}")).isNull();
    assertThat(feed(relay, "\n")).isEqualTo("{\"b\":2}\n");
    relay.release();
  }

  @Test
  void anEventLargerThanTheBoundIsForwardedAsItComes() {
    EventRelay relay = new EventRelay(Framing.SSE, ByteBufAllocator.DEFAULT);
    String big = "data: " + "x".repeat(EventRelay.MAX_EVENT_BYTES);
    assertThat(feed(relay, big)).isEqualTo(big);
    assertThat(relay.atBoundary()).isFalse();
    assertThat(relay.heldBytes()).isZero();
    assertThat(feed(relay, "yy")).isEqualTo("yy");
    assertThat(feed(relay, "\n\ndata: next")).isEqualTo("\n\n");
    assertThat(relay.atBoundary()).isTrue();
    assertThat(relay.heldBytes()).isEqualTo("data: next".length());
    relay.release();
  }

  @Test
  void oneLeadingBomIsDroppedOnlyWhenAskedAndEvenWhenSplit() {
    EventRelay keep = new EventRelay(Framing.SSE, ByteBufAllocator.DEFAULT);
    assertThat(feed(keep, "\uFEFF\uFEFFdata: a\n\n")).isEqualTo("\uFEFF\uFEFFdata: a\n\n");
    EventRelay strip = new EventRelay(Framing.SSE, ByteBufAllocator.DEFAULT);
    strip.stripLeadingBom();
    byte[] bom = "\uFEFF".getBytes(StandardCharsets.UTF_8);
    assertThat(feedBytes(strip, new byte[] {bom[0]})).isNull();
    assertThat(feedBytes(strip, new byte[] {bom[1], bom[2]})).isNull();
    assertThat(feed(strip, "\uFEFFdata: a\n\ndata: b\n\n")).isEqualTo("\uFEFFdata: a\n\ndata: b\n\n");
    keep.release();
    strip.release();
  }

  private static String feed(EventRelay relay, String text) {
    return feedBytes(relay, text.getBytes(StandardCharsets.UTF_8));
  }

  private static String feedBytes(EventRelay relay, byte[] bytes) {
    ByteBuf in = Unpooled.wrappedBuffer(bytes);
    ByteBuf out = relay.feed(in);
    in.release();
    if (out == null) {
      return null;
    }
    String s = out.toString(StandardCharsets.UTF_8);
    out.release();
    return s;
  }
}
