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
