package dev.tokenpipe.sse;

import static dev.tokenpipe.sse.RecordingListener.message;
import static dev.tokenpipe.sse.RecordingListener.parse;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** One test per rule of WHATWG HTML §9.2.6 "Interpreting an event stream", plus the parser's own contracts. */
class SseParserTest {

  private final RecordingListener recorder = new RecordingListener();
  private final SseParser parser = new SseParser(recorder);

  private void feed(String s) {
    byte[] bytes = s.getBytes(UTF_8);
    parser.feed(bytes, 0, bytes.length);
  }

  private void feed(int... bytes) {
    byte[] b = new byte[bytes.length];
    for (int i = 0; i < bytes.length; i++) {
      b[i] = (byte) bytes[i];
    }
    parser.feed(b, 0, b.length);
  }

  // --- line ends ---------------------------------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(strings = {"\n", "\r", "\r\n"})
  void linesEndWithLfCrOrCrlf(String eol) {
    assertThat(parse("data: a" + eol + "data: b" + eol + eol + "data: c" + eol + eol).events)
        .containsExactly(message("a\nb"), message("c"));
  }

  @Test
  void mixedLineEndsInOneStream() {
    assertThat(parse("data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r").events)
        .containsExactly(message("a\nb\nc"), message("d"));
  }

  @Test
  void crAtEndOfChunkAndLfAtStartOfNextAreOneLineEnd() {
    feed("data: a\r");
    feed("\ndata: b\r");
    feed("\n\r");
    assertThat(recorder.events).containsExactly(message("a\nb"));
    feed("\n");
    feed("data: c\n\n");
    assertThat(recorder.events).containsExactly(message("a\nb"), message("c"));
  }

  @Test
  void crlfSplitDoesNotCreateEmptyLineThatDispatchesEarly() {
    feed("data: a\r");
    feed("\n");
    feed("data: b\r\n\r\n");
    // Had the split CRLF counted as two line ends, "a" would have been dispatched alone.
    assertThat(recorder.events).containsExactly(message("a\nb"));
  }

  @Test
  void crAloneDispatchesWithoutWaitingForAnLf() {
    feed("data: a\r\r");
    assertThat(recorder.events).containsExactly(message("a"));
  }

  @Test
  void twoCrsAreTwoLineEndsEvenAcrossChunks() {
    feed("data: a\r");
    feed("\r");
    assertThat(recorder.events).containsExactly(message("a"));
  }

  // --- BOM ---------------------------------------------------------------------------------------------

  @Test
  void leadingBomIsSkipped() {
    assertThat(parse("\uFEFFdata: a\n\n").events).containsExactly(message("a"));
  }

  @Test
  void leadingBomSplitAcrossFeedsIsSkipped() {
    feed(0xEF);
    feed(0xBB);
    assertThat(parser.atEventBoundary()).isFalse();
    feed(0xBF);
    feed("data: a\n\n");
    assertThat(recorder.events).containsExactly(message("a"));
  }

  @Test
  void onlyOneLeadingBomIsSkipped() {
    // The second BOM is part of the first line, so the field name is "\uFEFFdata" and is ignored.
    assertThat(parse("\uFEFF\uFEFFdata: a\n\ndata: b\n\n").events).containsExactly(message("b"));
  }

  @Test
  void bomLaterInTheStreamIsData() {
    assertThat(parse("data: a\n\ndata: \uFEFFb\n\n").events).containsExactly(message("a"), message("\uFEFFb"));
  }

  @Test
  void partialBomAtStartIsLineContent() {
    // EF BB then 'd': not a BOM, so the bytes stay in the line (as one U+FFFD) and the field is unknown.
    feed(0xEF, 0xBB);
    feed("data: a\n\ndata: b\n\n");
    assertThat(recorder.events).containsExactly(message("b"));
    assertThat(parse(new byte[] {(byte) 0xEF, ':', 'x', '\n', ':', 'y', '\n'}).comments).containsExactly("y");
  }

  // --- UTF-8 -------------------------------------------------------------------------------------------

  @Test
  void multiByteCharactersSplitAcrossFeedsDecodeCorrectly() {
    byte[] bytes = "data: é日本😀\n\n".getBytes(UTF_8);
    for (byte b : bytes) {
      parser.feed(new byte[] {b}, 0, 1);
    }
    assertThat(recorder.events).containsExactly(message("é日本😀"));
  }

  @Test
  void invalidUtf8IsReplacedNotThrown() {
    byte[] bytes = {'d', 'a', 't', 'a', ':', ' ', (byte) 0xFF, 'x', (byte) 0xC3, '\n', '\n'};
    parser.feed(bytes, 0, bytes.length);
    assertThat(recorder.events).containsExactly(message("\uFFFDx\uFFFD"));
  }

  @Test
  void truncatedSequenceAtLineEndDoesNotSwallowTheLineBreak() {
    byte[] bytes = {'d', 'a', 't', 'a', ':', (byte) 0xE6, (byte) 0x97, '\n', 'd', 'a', 't', 'a', ':', 'b', '\n', '\n'};
    parser.feed(bytes, 0, bytes.length);
    assertThat(recorder.events).containsExactly(message("\uFFFD\nb"));
  }

  // --- dispatch ----------------------------------------------------------------------------------------

  @Test
  void emptyLineWithEmptyDataBufferDispatchesNothing() {
    assertThat(parse("\n\n\r\n\r").events).isEmpty();
  }

  @Test
  void emptyLineWithoutDataResetsTypeButKeepsLastEventId() {
    assertThat(parse("event: x\nid: 7\n\ndata: a\n\n").events).containsExactly(new SseEvent("message", "a", "7"));
  }

  @Test
  void oneTrailingLfIsRemovedFromData() {
    assertThat(parse("data: a\ndata:\n\n").events).containsExactly(message("a\n"));
  }

  @Test
  void dataFieldWithEmptyValueDispatchesEmptyString() {
    assertThat(parse("data:\n\ndata\n\n").events).containsExactly(message(""), message(""));
  }

  @Test
  void typeDefaultsToMessageAndResetsAfterDispatch() {
    assertThat(parse("event: delta\ndata: a\n\ndata: b\n\n").events)
        .containsExactly(new SseEvent("delta", "a", ""), message("b"));
  }

  @Test
  void emptyEventTypeMeansMessage() {
    assertThat(parse("event:\ndata: a\n\n").events).containsExactly(message("a"));
  }

  @Test
  void lastEventTypeFieldWins() {
    assertThat(parse("event: a\nevent: b\ndata: x\n\n").events).containsExactly(new SseEvent("b", "x", ""));
  }

  @Test
  void eventsDispatchedCounts() {
    feed("data: a\n\n\n\ndata: b\n\ndata: c\n");
    assertThat(parser.eventsDispatched()).isEqualTo(2);
  }

  // --- field syntax ------------------------------------------------------------------------------------

  @Test
  void lineStartingWithColonIsCommentWithOneLeadingSpaceRemoved() {
    RecordingListener r = parse(": ping\n:  two spaces\n:no space\n:\ndata: a\n\n");
    assertThat(r.comments).containsExactly("ping", " two spaces", "no space", "");
    assertThat(r.events).containsExactly(message("a"));
  }

  @Test
  void commentInsideEventDoesNotSplitIt() {
    assertThat(parse("data: a\n: ping\ndata: b\n\n").events).containsExactly(message("a\nb"));
  }

  @Test
  void valueIsAfterFirstColonWithOneLeadingSpaceRemoved() {
    assertThat(parse("data:a\n\ndata: a\n\ndata:  a\n\ndata: a: b:c\n\n").events)
        .containsExactly(message("a"), message("a"), message(" a"), message("a: b:c"));
  }

  @Test
  void onlyASpaceIsRemovedNotATab() {
    assertThat(parse("data:\ta\n\n").events).containsExactly(message("\ta"));
  }

  @Test
  void lineWithoutColonIsFieldWithEmptyValue() {
    assertThat(parse("data\ndata\n\n").events).containsExactly(message("\n"));
    assertThat(parse("id\ndata: a\n\n").events).containsExactly(message("a"));
  }

  @Test
  void fieldNamesAreCaseSensitive() {
    assertThat(parse("Data: a\nDATA: b\nEvent: x\nID: 1\nRetry: 5\ndata: c\n\n").all())
        .isEqualTo(List.of(List.of(message("c")), List.of(), List.of()));
  }

  @Test
  void unknownFieldsAreIgnored() {
    assertThat(parse("foo: bar\ndata: a\nda ta: b\n data: c\ndatas: d\n\n").events).containsExactly(message("a"));
  }

  @Test
  void fieldNameMustMatchExactlyNotByPrefix() {
    assertThat(parse("dat: a\nidx: 1\nevents: e\nretryy: 5\ndata: b\n\n").all())
        .isEqualTo(List.of(List.of(message("b")), List.of(), List.of()));
  }

  // --- id ----------------------------------------------------------------------------------------------

  @Test
  void idPersistsAcrossEvents() {
    assertThat(parse("id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n").events)
        .containsExactly(new SseEvent("message", "a", "1"), new SseEvent("message", "b", "1"),
            new SseEvent("message", "c", "2"));
  }

  @Test
  void emptyIdResetsLastEventId() {
    assertThat(parse("id: 1\ndata: a\n\nid\ndata: b\n\n").events)
        .containsExactly(new SseEvent("message", "a", "1"), message("b"));
  }

  @Test
  void idContainingNulIsIgnored() {
    assertThat(parse("id: 1\ndata: a\n\nid: 2\u00003\ndata: b\n\n").events)
        .containsExactly(new SseEvent("message", "a", "1"), new SseEvent("message", "b", "1"));
  }

  @Test
  void idAppliesEvenIfSetAfterDataInTheSameEvent() {
    assertThat(parse("data: a\nid: 9\n\n").events).containsExactly(new SseEvent("message", "a", "9"));
  }

  // --- retry -------------------------------------------------------------------------------------------

  @Test
  void retryWithAsciiDigitsIsReported() {
    assertThat(parse("retry: 1500\nretry:0\n").retries).containsExactly(1500L, 0L);
  }

  @ParameterizedTest
  @ValueSource(strings = {"retry: -1\n", "retry: 1.5\n", "retry: 10 \n", "retry:  10\n", "retry: +5\n",
      "retry: 1e3\n", "retry:\n", "retry\n", "retry: ١٢\n", "retry: 99999999999999999999\n"})
  void retryWithAnythingButDigitsIsIgnored(String line) {
    assertThat(parse(line + "data: a\n\n").all()).isEqualTo(List.of(List.of(message("a")), List.of(), List.of()));
  }

  // --- end of stream -----------------------------------------------------------------------------------

  @Test
  void unterminatedLastEventIsDiscardedAtEnd() {
    feed("data: a\n\ndata: b\n");
    parser.end();
    assertThat(recorder.events).containsExactly(message("a"));
    assertThat(parser.atEventBoundary()).isTrue();
    assertThatThrownBy(() -> feed("data: c\n\n")).as("feed after end").isInstanceOf(IllegalStateException.class);
  }

  @Test
  void unterminatedLastLineIsDiscardedAtEnd() {
    assertThat(parse("data: a\n\ndata: b").events).containsExactly(message("a"));
    assertThat(parse("data: a\n\n: no newline").comments).isEmpty();
  }

  // --- limits ------------------------------------------------------------------------------------------

  @Test
  void lineLongerThanLimitThrowsAndKillsParser() {
    SseParser small = new SseParser(recorder, 16);
    byte[] ok = "data: 0123456789\n\n".getBytes(UTF_8); // line of exactly 16 bytes is fine
    small.feed(ok, 0, ok.length);
    assertThat(recorder.events).containsExactly(message("0123456789"));

    byte[] tooLong = "data: 0123456789A".getBytes(UTF_8);
    assertThatThrownBy(() -> small.feed(tooLong, 0, tooLong.length)).isInstanceOf(SseException.class);
    assertThatThrownBy(() -> small.feed(ok, 0, ok.length)).isInstanceOf(IllegalStateException.class);
    small.end(); // allowed as cleanup
  }

  @Test
  void lineGrowingPastLimitAcrossFeedsThrows() {
    SseParser small = new SseParser(recorder, 16);
    byte[] bytes = ": 0123456789ABCDEF".getBytes(UTF_8);
    assertThatThrownBy(() -> {
      for (int i = 0; i < bytes.length; i++) {
        small.feed(bytes, i, 1);
      }
    }).isInstanceOf(SseException.class);
  }

  @Test
  void eventDataLargerThanLimitThrows() {
    SseParser small = new SseParser(recorder, 16);
    byte[] bytes = "data: 01234\ndata: 56789\ndata: ABCDE\n".getBytes(UTF_8);
    assertThatThrownBy(() -> small.feed(bytes, 0, bytes.length)).isInstanceOf(SseException.class);
    assertThat(recorder.events).isEmpty();
  }

  @Test
  void dataAtLimitIsDispatched() {
    SseParser small = new SseParser(recorder, 16);
    byte[] bytes = "data: 0123456\ndata: 0123456\n\n".getBytes(UTF_8); // 7+1 + 7+1 = 16 bytes
    small.feed(bytes, 0, bytes.length);
    assertThat(recorder.events).containsExactly(message("0123456\n0123456"));
  }

  @Test
  void listenerExceptionKillsParser() {
    SseParser p = new SseParser(e -> {
      throw new IllegalArgumentException("boom");
    });
    byte[] bytes = "data: a\n\n".getBytes(UTF_8);
    assertThatThrownBy(() -> p.feed(bytes, 0, bytes.length)).hasMessage("boom");
    assertThatThrownBy(() -> p.feed(bytes, 0, bytes.length)).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void invalidLimitRejected() {
    assertThatThrownBy(() -> new SseParser(recorder, 0)).isInstanceOf(IllegalArgumentException.class);
  }

  // --- atEventBoundary ---------------------------------------------------------------------------------

  @Test
  void atEventBoundaryTracksPartialLinesAndPendingFields() {
    assertThat(parser.atEventBoundary()).as("fresh").isTrue();
    feed("da");
    assertThat(parser.atEventBoundary()).as("partial line").isFalse();
    feed("ta: a\n");
    assertThat(parser.atEventBoundary()).as("pending data").isFalse();
    feed("\n");
    assertThat(parser.atEventBoundary()).as("after dispatch").isTrue();
    feed("event: x\n");
    assertThat(parser.atEventBoundary()).as("pending event type").isFalse();
    feed("\n");
    assertThat(parser.atEventBoundary()).as("type reset by blank line").isTrue();
    feed("id: 5\n");
    assertThat(parser.atEventBoundary()).as("id is not reset by a blank line").isTrue();
    feed(": ping\n");
    assertThat(parser.atEventBoundary()).as("after comment").isTrue();
    feed(": pi");
    assertThat(parser.atEventBoundary()).as("partial comment").isFalse();
    feed("ng\nretry: 10\n");
    assertThat(parser.atEventBoundary()).as("after retry").isTrue();
    feed("data: b\r\n\r");
    assertThat(parser.atEventBoundary()).as("CR pending; a stray LF later is a harmless empty line").isTrue();
  }

  @Test
  void heartbeatInsertedAtBoundaryChangesNoEvent() {
    String upstream = "id: 1\nevent: delta\ndata: a\n\ndata: b\r\n\r\ndata: c\ndata: d\n\n";
    RecordingListener clean = parse(upstream);

    // Relay byte by byte and inject a heartbeat wherever the boundary check allows it.
    StringBuilder relayed = new StringBuilder();
    SseParser scanner = new SseParser(new RecordingListener());
    byte[] bytes = upstream.getBytes(UTF_8);
    for (int i = 0; i < bytes.length; i++) {
      if (scanner.atEventBoundary()) {
        relayed.append(SseEncoder.comment("ping"));
      }
      scanner.feed(bytes, i, 1);
      relayed.append((char) bytes[i]);
    }
    RecordingListener client = parse(relayed.toString());
    assertThat(client.events).isEqualTo(clean.events);
    assertThat(client.comments).isNotEmpty().containsOnly("ping");
  }

  // --- ByteBuf -----------------------------------------------------------------------------------------

  @Test
  void feedByteBufLeavesReaderIndexUnchanged() {
    ByteBuf heap = Unpooled.copiedBuffer("xxdata: a\n\n", UTF_8);
    heap.readerIndex(2);
    ByteBuf direct = Unpooled.directBuffer().writeBytes("data: é\n\n".getBytes(UTF_8));
    try {
      parser.feed(heap);
      parser.feed(direct);
      assertThat(heap.readerIndex()).isEqualTo(2);
      assertThat(direct.readerIndex()).isZero();
      assertThat(recorder.events).containsExactly(message("a"), message("é"));
    } finally {
      heap.release();
      direct.release();
    }
  }

  @Test
  void feedLargeDirectAndCompositeByteBufs() {
    String big = "x".repeat(20_000);
    ByteBuf direct = Unpooled.directBuffer().writeBytes(("data: " + big + "\n\n").getBytes(UTF_8));
    ByteBuf composite = Unpooled.wrappedBuffer(
        Unpooled.directBuffer().writeBytes("data: 日".getBytes(UTF_8), 0, 8),
        Unpooled.copiedBuffer(new byte[] {(byte) 0xA5}),
        Unpooled.copiedBuffer("本\r", UTF_8),
        Unpooled.copiedBuffer("\n\r\n", UTF_8));
    try {
      parser.feed(direct);
      parser.feed(composite);
      assertThat(composite.readerIndex()).isZero();
      assertThat(recorder.events).containsExactly(message(big), message("日本"));
    } finally {
      direct.release();
      composite.release();
    }
  }

  @Test
  void aStreamOfSmallDirectReadsKeepsASmallCopyBufferAndALargeReadGrowsIt() {
    // Memory per open stream: a model server's events arrive one small read each, and bench and the client hold
    // one parser per stream in flight, so the copy buffer is what a stream keeps beyond its event.
    String event = "data: {\"choices\":[{\"delta\":{\"content\":\"" + "tok ".repeat(60) + "\"}}]}\n\n";
    for (int i = 0; i < 64; i++) {
      ByteBuf read = Unpooled.directBuffer().writeBytes(event.getBytes(UTF_8));
      try {
        parser.feed(read);
      } finally {
        read.release();
      }
    }
    assertThat(event.length()).isBetween(257, 512);
    assertThat(parser.scratchBytes()).isEqualTo(512);

    String big = "y".repeat(5_000);
    ByteBuf large = Unpooled.directBuffer().writeBytes(("data: " + big + "\n\n").getBytes(UTF_8));
    try {
      parser.feed(large);
    } finally {
      large.release();
    }
    assertThat(parser.scratchBytes()).isEqualTo(8192);
    assertThat(recorder.events).hasSize(65);
    assertThat(recorder.events.get(64)).isEqualTo(message(big));
  }

  @Test
  void feedRespectsOffsetAndLength() {
    byte[] bytes = "garbage\ndata: a\n\ngarbage".getBytes(UTF_8);
    parser.feed(bytes, 8, 9);
    assertThat(recorder.events).containsExactly(message("a"));
    assertThatThrownBy(() -> parser.feed(bytes, 20, 10)).isInstanceOf(IndexOutOfBoundsException.class);
  }

  /** openai/openai-node#2725: what ends a last event whose body ended without its blank line, and what never does. */
  @Test
  void theEndOfAPendingEventIsItsBlankLineOrForAnUnfinishedDoneLineALineEndToo() {
    assertThat(pendingEnd("data: x\n\n")).as("nothing pending").isNull();
    assertThat(pendingEnd("data: {\"a\":1}\n")).isEqualTo("\n");
    assertThat(pendingEnd("event: message_stop\ndata: {}\r")).as("a CR line end gets a CR").isEqualTo("\r");
    assertThat(pendingEnd("data: [DONE]")).isEqualTo("\n\n");
    assertThat(pendingEnd("data:[DONE]")).isEqualTo("\n\n");
    assertThat(pendingEnd("data: {\"choices\":[{\"delta\":{\"content\":\" wor")).as("a cut line of data").isNull();
    assertThat(pendingEnd("data: [DONE")).isNull();
    assertThat(SseParser.isDoneLine("data: [DONE] ".getBytes(UTF_8), 0, 13)).isFalse();
  }

  private static String pendingEnd(String stream) {
    SseParser p = new SseParser(new RecordingListener());
    byte[] b = stream.getBytes(UTF_8);
    p.feed(b, 0, b.length);
    byte[] end = p.endOfPendingEvent();
    return end == null ? null : new String(end, UTF_8);
  }
}
