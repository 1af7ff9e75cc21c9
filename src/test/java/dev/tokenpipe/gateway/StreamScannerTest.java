package dev.tokenpipe.gateway;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.dialect.EventKind;
import dev.tokenpipe.dialect.Framing;
import dev.tokenpipe.sse.SseEvent;
import dev.tokenpipe.sse.SseListener;
import dev.tokenpipe.sse.SseParser;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link StreamScanner}'s in-place path (whole events read as bytes, no String per event) must tell the books
 * exactly what the spec parser tells them: the same events, kinds, opaque marks and error texts, whatever the
 * reads look like (whole events, several per read, CRLF, multi-line data, types, comments, a BOM, events cut
 * anywhere).
 */
class StreamScannerTest {
  private static final String CHUNK = "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
      + "\"delta\":{\"content\":\"%s\"},\"finish_reason\":null}]}";
  private static final String[] EVENTS = {
      "data: " + CHUNK.formatted("") + "\n\n",
      "data: " + CHUNK.formatted(" Hi") + "\n\n",
      ": keep-alive\n\n",
      "id: 7\nretry: 100\ndata:" + CHUNK.formatted(" there") + "\n\n",
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n",
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"y\"}}\n\n",
      "event: error\ndata: {\"error\":{\"message\":\"overloaded\"}}\n\n",
      "data: {\"choices\":[{\"delta\":\n" + "data: {\"content\":\"multi\"}}]}\n\n",
      "data: " + CHUNK.formatted(" crlf") + "\r\n\r\n",
      "data: not json at all\n\n",
      "data\n\n",
      "event:\ndata: " + CHUNK.formatted(" é") + "\n\n",
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":9,\"total_tokens\":12}}\n\n",
      "\uFEFFdata: {\"mid-stream BOM\":1}\n\n",
      "data: [DONE]\n\n"};

  /** What a sink was told, in order. */
  private static final class Books implements StreamScanner.Sink {
    final List<String> told = new ArrayList<>();

    @Override
    public void onChunk(Chunk chunk, long readNanos) {
      told.add(chunk.kind() + (EventKind.has(chunk.kind(), EventKind.ERROR) ? " " + chunk.error() : ""));
    }

    @Override
    public void onOpaqueEvent() {
      told.add("opaque");
    }
  }

  /** The reference: the spec parser over the whole stream, then the same classification and opaque rule. */
  private static List<String> reference(String stream) {
    Books books = new Books();
    SseParser parser = new SseParser(new SseListener() {
      @Override
      public void onEvent(SseEvent e) {
        if (!e.data().startsWith("{") && !e.data().equals("[DONE]")) {
          books.onOpaqueEvent();
        }
        books.onChunk(Chunk.classify(e.type(), e.data(), false), 0);
      }
    });
    parser.feed(Unpooled.wrappedBuffer(stream.getBytes(UTF_8)));
    return books.told;
  }

  private static List<String> scanned(List<byte[]> reads, boolean direct) {
    Books books = new Books();
    return scanned(reads, direct, new StreamScanner(Framing.SSE, false, books), books);
  }

  private static List<String> scanned(List<byte[]> reads, boolean direct, StreamScanner scanner, Books books) {
    for (byte[] read : reads) {
      ByteBuf buf = direct ? PooledByteBufAllocator.DEFAULT.directBuffer(read.length).writeBytes(read)
          : Unpooled.wrappedBuffer(read);
      try {
        scanner.feed(buf, 0);
      } finally {
        buf.release();
      }
    }
    return books.told;
  }

  @Test
  void wholeEventReadsTellTheBooksWhatTheSpecParserTells() {
    String stream = "\uFEFF" + String.join("", EVENTS);
    List<byte[]> reads = new ArrayList<>();
    reads.add(("\uFEFF" + EVENTS[0]).getBytes(UTF_8));
    for (int i = 1; i < EVENTS.length; i++) {
      reads.add(EVENTS[i].getBytes(UTF_8));
    }
    List<String> expected = reference(stream);
    assertThat(expected).hasSizeGreaterThan(10).contains("opaque");
    assertThat(scanned(reads, true)).isEqualTo(expected);
    assertThat(scanned(reads, false)).isEqualTo(expected);
  }

  @Test
  void anyCutOfTheStreamTellsTheSame() {
    Random random = new Random(15);
    for (int round = 0; round < 300; round++) {
      StringBuilder sb = new StringBuilder();
      for (int i = 0; i < 40; i++) {
        sb.append(EVENTS[random.nextInt(EVENTS.length)]);
      }
      byte[] all = sb.toString().getBytes(UTF_8);
      // Cut at event ends mostly (as EventRelay does), sometimes anywhere (an oversized event's pieces).
      List<byte[]> reads = new ArrayList<>();
      int from = 0;
      for (int i = 0; i + 1 < all.length; i++) {
        boolean eventEnd = all[i] == '\n' && all[i + 1] == '\n' || all[i] == '\n' && i > 0 && all[i - 1] == '\n';
        if (eventEnd && random.nextInt(3) == 0 || random.nextInt(400) == 0) {
          reads.add(java.util.Arrays.copyOfRange(all, from, i + 1));
          from = i + 1;
        }
      }
      reads.add(java.util.Arrays.copyOfRange(all, from, all.length));
      assertThat(scanned(reads, round % 2 == 0)).as("round %d", round).isEqualTo(reference(sb.toString()));
    }
  }

  /** Texts a token event may carry, escaped as they go into JSON: plain, escapes, non-ASCII, and broken ones. */
  private static final String[] TEXTS = {
      " Hi", "", "x", "\\\"", "\\\\", "\\u00e9t\\u00e9", "\\uZZ12", "\\x", "tab\there", "a\"b", "é", "a\\",
      "\\n\\n", "end\\", "\\/", "{\"content\":\"", "sixteen bytes!!!", "response.output_text.delta"};
  private static final String[] SHAPES = {
      "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"},\"finish_reason\":null}]}\n\n",
      "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"%s\"}}]}\n\n",
      "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\",\"reasoning\":\"\"}}]}\n\n",
      "data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"%s\"}},{\"delta\":{\"content\":\"b\"}}]}\n\n",
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"%s\"}}\n\n",
      "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"%s\"}\n\n",
      "data: {\"type\":\"%s\",\"delta\":\"x\"}\n\n",
      "data: {\"error\":\"%s\"}\n\n",
      "data:  {\"choices\":[{\"delta\":{\"content\":\"%s\"}}]}\n\n",
      "data: {\"choices\":[{\"delta\":{\"content\":\"%s\",\"content\":\"dup\"}}]}\n\n",
      "data: {\"choices\":[{\"delta\":{\"content\":\"\"}},{\"delta\":{\"content\":\"%s\"}}]}\n\n",
      ": ping\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"%s\"}}]}\n\n",
      "data: {\"choices\":[{\"delta\":{\"content\":\"%s\"}}],\"usage\":{\"completion_tokens\":4}}\n\n",
      "data: {\"choices\":[{\"delta\":{\"content\":\"%s\"},\"finish_reason\":\"stop\"}]}\n\n",
      "id: ID\ndata: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"},\"finish_reason\":null}]}\n\n",
      "event: content_block_delta\nid: ID\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"%s\"}}\n\n",
      "id: ID\nid: 2\ndata: {\"choices\":[{\"delta\":{\"content\":\"%s\"}}]}\n\n",
      "data: {\"choices\":[{\"delta\":{\"content\":\"%s\"}}]}\nid: ID\n\n",
      "data: {\"choices\":[{\"delta\":{\"content\":\"%s\"}}],\"obfuscation\":\"OB\"}\n\n",
      "data: {\"obfuscation\":\"OB\",\"choices\":[{\"delta\":{\"content\":\"%s\"},\"obfuscation\":\"OB\"}]}\n\n",
      "id: ID\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"%s\",\"obfuscation\":\"OB\"}\n\n",
      "event: ID\ndata: {\"delta\":\"x\",\"obfuscation\":\"%s\"}\n\n",
      "event: EV\nid: ID\ndata: {\"delta\":\"%s\",\"obfuscation\":\"OB\"}\n\n"};
  /** Event types that give a bare delta its meaning (the data has no type of its own). */
  private static final String[] TYPES = {"response.output_text.delta", "response.reasoning_text.delta"};
  /** What OpenAI pads its deltas with: random characters, escaped or not, sometimes none, sometimes broken. */
  private static final String[] PADS = {"aZ3", "", "qwertyuiopasdfgh", "\\u00e9\\n", "\\x", "a\"b", "tab\t"};
  /** Ids an event may carry (tokenpipe sim stamps every event's; a CR in one is a line end). */
  private static final String[] IDS = {"tp.1.1732600000123456", "tp.12345678901.1732600000123457", "7", "", "x\ry", "id: "};

  @Test
  void anEventLikeTheLastTokenTellsWhatClassifyingItTells() {
    Random random = new Random(16);
    long hits = 0;
    for (int round = 0; round < 400; round++) {
      StringBuilder stream = new StringBuilder();
      List<byte[]> reads = new ArrayList<>();
      String shape = SHAPES[random.nextInt(SHAPES.length)];
      for (int i = 0; i < 30; i++) {
        if (random.nextInt(6) == 0) {
          shape = SHAPES[random.nextInt(SHAPES.length)]; // a turn: another shape from here on
        }
        String event = shape.replace("ID", IDS[random.nextInt(IDS.length)])
            .replace("OB", PADS[random.nextInt(PADS.length)]).replace("EV", TYPES[random.nextInt(TYPES.length)])
            .formatted(TEXTS[random.nextInt(TEXTS.length)]);
        stream.append(event);
        reads.add(event.getBytes(UTF_8));
      }
      Books books = new Books();
      StreamScanner scanner = new StreamScanner(Framing.SSE, false, books);
      assertThat(scanned(reads, round % 2 == 0, scanner, books)).as("round %d: %s", round, stream)
          .isEqualTo(reference(stream.toString()));
      hits += scanner.shapeHits();
    }
    assertThat(hits).as("events classified by their likeness to the last token").isGreaterThan(2_000);
  }

  @Test
  void openAisPaddedTokensAfterTheFirstAreKnownByTheirShape() {
    Random random = new Random(17);
    assertAllButTheFirstKnownByShape(false, i -> "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
        + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token" + i + "\"},\"finish_reason\":null}],"
        + "\"obfuscation\":\"" + "abcdefghijklmnopqrstuvwxyz".substring(0, random.nextInt(20)) + "\"}\n\n");
  }

  @Test
  void theSimsStampedTokensAfterTheFirstAreKnownByTheirShape() {
    assertAllButTheFirstKnownByShape(true, i -> dev.tokenpipe.sse.SseEncoder.event(null,
        new dev.tokenpipe.sse.EmissionStamp(i, 1_732_600_000_000_000L + 19_937L * i).toId(),
        CHUNK.formatted(" token" + i)));
  }

  /** 50 content events, each its own read: the books hear 50 tokens, and all but the first by their shape. */
  private static void assertAllButTheFirstKnownByShape(boolean direct, java.util.function.IntFunction<String> event) {
    StringBuilder stream = new StringBuilder();
    List<byte[]> reads = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      String e = event.apply(i);
      stream.append(e);
      reads.add(e.getBytes(UTF_8));
    }
    Books books = new Books();
    StreamScanner scanner = new StreamScanner(Framing.SSE, false, books);
    assertThat(scanned(reads, direct, scanner, books)).isEqualTo(reference(stream.toString()))
        .containsOnly(String.valueOf(EventKind.CONTENT)).hasSize(50);
    assertThat(scanner.shapeHits()).as("ids and pads of another length each time, the shape still known")
        .isEqualTo(49);
  }
}
