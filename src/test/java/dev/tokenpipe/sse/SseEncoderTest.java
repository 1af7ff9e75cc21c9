package dev.tokenpipe.sse;

import static dev.tokenpipe.sse.RecordingListener.message;
import static dev.tokenpipe.sse.RecordingListener.parse;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SseEncoderTest {

  // --- exact bytes on the wire -------------------------------------------------------------------------

  @Test
  void dataWritesOneDataLinePerLineAndABlankLine() {
    assertThat(SseEncoder.data("hello")).isEqualTo("data: hello\n\n");
    assertThat(SseEncoder.data("a\nb\r\nc\rd")).isEqualTo("data: a\ndata: b\ndata: c\ndata: d\n\n");
    assertThat(SseEncoder.data(SseEncoder.DONE)).isEqualTo("data: [DONE]\n\n");
  }

  @Test
  void emptyDataIsAnEmptyDataFieldWithoutTrailingSpace() {
    assertThat(SseEncoder.data("")).isEqualTo("data:\n\n");
    assertThat(SseEncoder.data("a\n")).isEqualTo("data: a\ndata:\n\n");
  }

  @Test
  void eventWritesTypeAndIdBeforeData() {
    assertThat(SseEncoder.event("delta", "tp.0.5", "x")).isEqualTo("event: delta\nid: tp.0.5\ndata: x\n\n");
    assertThat(SseEncoder.event(null, null, "x")).isEqualTo("data: x\n\n");
    assertThat(SseEncoder.event("", "", "x")).as("empty type omitted, empty id kept").isEqualTo("id:\ndata: x\n\n");
  }

  @Test
  void commentIsOneCommentLinePerLine() {
    assertThat(SseEncoder.comment("ping")).isEqualTo(": ping\n\n");
    assertThat(SseEncoder.comment("a\nb\r\n")).isEqualTo(": a\n: b\n:\n\n");
    assertThat(SseEncoder.comment("")).isEqualTo(":\n\n");
  }

  @Test
  void retryIsARetryField() {
    assertThat(SseEncoder.retry(3000)).isEqualTo("retry: 3000\n\n");
    assertThat(parse(SseEncoder.retry(3000)).retries).containsExactly(3000L);
    assertThatThrownBy(() -> SseEncoder.retry(-1)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void encodeWritesTheSameBytesAsEventIntoANewBuffer() {
    ByteBufAllocator alloc = UnpooledByteBufAllocator.DEFAULT;
    ByteBuf buf = SseEncoder.encode(alloc, "delta", "7", "日本\n😀");
    try {
      assertThat(buf.toString(UTF_8)).isEqualTo(SseEncoder.event("delta", "7", "日本\n😀"));
      assertThat(buf.readableBytes()).isEqualTo(SseEncoder.event("delta", "7", "日本\n😀").getBytes(UTF_8).length);
    } finally {
      buf.release();
    }
  }

  // --- injection ---------------------------------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(strings = {"a\nb", "a\rb", "a\r\nb", "\n", "x\r"})
  void eventTypeWithLineBreakIsRejected(String type) {
    assertThatThrownBy(() -> SseEncoder.event(type, null, "x")).isInstanceOf(IllegalArgumentException.class);
  }

  @ParameterizedTest
  @ValueSource(strings = {"1\ndata: injected", "1\r", "\r\n1", "1\u00002"})
  void idWithLineBreakOrNulIsRejected(String id) {
    assertThatThrownBy(() -> SseEncoder.event(null, id, "x")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> SseEncoder.encode(UnpooledByteBufAllocator.DEFAULT, null, id, "x"))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void dataCannotInjectFieldsOrEvents() {
    String hostile = "a\n\ndata: injected\nevent: evil\nid: 666\nretry: 1\n: c\r\rb";
    RecordingListener r = parse(SseEncoder.data(hostile));
    assertThat(r.events).containsExactly(message(hostile.replace("\r", "\n")));
    assertThat(r.retries).isEmpty();
    assertThat(r.comments).isEmpty();
  }

  // --- round trip --------------------------------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(strings = {"", " ", "  lead", "trail ", "\n", "\n\n", "\r\n", "\r", "a\r\nb", "a\rb\nc", ":", ": x",
      "a:b", "data: x", "\u0000", "\uFEFF", "é日本😀", "\t", "[DONE]", "x\n", "\nx", " \n "})
  void dataRoundTripsThroughParser(String data) {
    String normalized = data.replace("\r\n", "\n").replace('\r', '\n'); // SSE line ends all read back as LF
    assertThat(parse(SseEncoder.data(data)).events).containsExactly(message(normalized));
    assertThat(parse(SseEncoder.event("t", "i", data)).events).containsExactly(new SseEvent("t", normalized, "i"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", " ", " lead", "ping", "a:b", "é", "a\nb"})
  void commentRoundTripsThroughParser(String text) {
    RecordingListener r = parse(SseEncoder.comment(text));
    assertThat(r.comments).containsExactly(text.split("\n", -1));
    assertThat(r.events).isEmpty();
  }

  @Test
  void randomStringsRoundTripAndConcatenatedOutputsStayOnEventBoundaries() {
    char[] alphabet = {'a', ' ', ':', '\n', '\r', 'é', '日', '\u0000', '\uFEFF', '\t'};
    String[] emoji = {"😀", "👩‍💻"};
    for (int seed = 0; seed < 500; seed++) {
      Random rnd = new Random(seed);
      StringBuilder stream = new StringBuilder();
      List<SseEvent> expected = new java.util.ArrayList<>();
      String lastId = "";
      for (int e = 0; e < 1 + rnd.nextInt(5); e++) {
        StringBuilder data = new StringBuilder();
        for (int i = rnd.nextInt(12); i > 0; i--) {
          if (rnd.nextInt(8) == 0) {
            data.append(emoji[rnd.nextInt(emoji.length)]);
          } else {
            data.append(alphabet[rnd.nextInt(alphabet.length)]);
          }
        }
        String type = rnd.nextBoolean() ? null : "t" + rnd.nextInt(3);
        String id = rnd.nextBoolean() ? null : new EmissionStamp(e, rnd.nextInt(1 << 30)).toId();
        if (id != null) {
          lastId = id;
        }
        if (rnd.nextInt(4) == 0) {
          stream.append(SseEncoder.comment("ping"));
        }
        stream.append(SseEncoder.event(type, id, data.toString()));
        String normalized = data.toString().replace("\r\n", "\n").replace('\r', '\n');
        expected.add(new SseEvent(type == null ? "message" : type, normalized, lastId));
      }
      RecordingListener r = new RecordingListener();
      SseParser parser = new SseParser(r);
      byte[] bytes = stream.toString().getBytes(UTF_8);
      parser.feed(bytes, 0, bytes.length);
      assertThat(parser.atEventBoundary()).as("seed %d boundary", seed).isTrue();
      assertThat(r.events).as("seed %d", seed).isEqualTo(expected);
    }
  }
}
