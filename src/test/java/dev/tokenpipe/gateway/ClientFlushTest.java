package dev.tokenpipe.gateway;

import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.A;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.CHAT;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.CHAT_PATH;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.DONE_EVENT;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.HELLO;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.ROLE;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.STOP;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.WORLD;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.openAiError;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.sse;
import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.gateway.EmbeddedGateway.Conn;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * When the client's bytes are flushed: once per upstream read, at its end. Events that arrived in one read
 * (a model server writes its last events together; a busy loop reads several at once) leave in one flush,
 * one syscall, instead of one each; an event is never held for a later read. Recorded at the socket end of
 * the client's pipeline, without sockets ({@link EmbeddedGateway}). (That the read's last events are flushed
 * before they are scanned, not after, is a matter of CPU and microseconds: docs/benchmarks.md measures it.)
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ClientFlushTest {

  /** The bytes of each flush of the client connection, in order; a flush with nothing written is not one. */
  private static final class FlushRecorder extends ChannelOutboundHandlerAdapter {
    final List<String> flushes = new ArrayList<>();
    private final StringBuilder unflushed = new StringBuilder();

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
      if (msg instanceof ByteBuf b) {
        unflushed.append(b.toString(ISO_8859_1));
      }
      ctx.write(msg, promise);
    }

    @Override
    public void flush(ChannelHandlerContext ctx) {
      if (!unflushed.isEmpty()) {
        flushes.add(unflushed.toString());
        unflushed.setLength(0);
      }
      ctx.flush();
    }
  }

  private static FlushRecorder record(EmbeddedGateway g) {
    FlushRecorder r = new FlushRecorder();
    g.client.pipeline().addFirst("flushes", r);
    return r;
  }

  /** A chat stream through the gateway whose first token went out; flushes recorded from the start. */
  private record Committed(EmbeddedGateway g, FlushRecorder r, Conn a) implements AutoCloseable {
    @Override
    public void close() {
      g.close();
    }
  }

  private static Committed committed() {
    EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A);
    FlushRecorder r = record(g);
    g.post(CHAT_PATH, CHAT);
    Conn a = g.accept();
    a.sseHead().chunk(ROLE).chunk(HELLO);
    return new Committed(g, r, a);
  }

  private static String chunk(String data) {
    return Integer.toHexString(data.getBytes(UTF_8).length) + "\r\n" + data + "\r\n";
  }

  private static final String HEAD = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
      + "Transfer-Encoding: chunked\r\n\r\n";
  private static final String LAST = "0\r\n\r\n";

  @Test
  void eventsThatArriveInOneReadLeaveInOneFlush() {
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      FlushRecorder r = record(g);
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.send(HEAD);
      assertThat(r.flushes).hasSize(1);
      assertThat(r.flushes.get(0)).startsWith("HTTP/1.1 200 OK\r\n");

      a.send(chunk(ROLE) + chunk(HELLO) + chunk(WORLD));
      assertThat(r.flushes).hasSize(2);
      assertThat(r.flushes.get(1)).as("the held role chunk and both tokens: the read's events in one chunk")
          .isEqualTo(chunk(ROLE + HELLO + WORLD));

      a.send(chunk(STOP) + chunk(DONE_EVENT) + LAST);
      assertThat(r.flushes).as("the last events and the end: one flush").hasSize(3);
      assertThat(r.flushes.get(2)).isEqualTo(chunk(STOP + DONE_EVENT) + LAST);
      assertThat(g.response().body()).isEqualTo(ROLE + HELLO + WORLD + STOP + DONE_EVENT);
      assertThat(g.response().ended()).isTrue();
    }
  }

  @Test
  void anEventIsFlushedAtTheEndOfItsOwnReadNeverHeldForTheNext() {
    try (Committed c = committed()) {
      FlushRecorder r = c.r();
      Conn a = c.a();
      int before = r.flushes.size();
      for (String event : List.of(WORLD, STOP)) {
        a.chunk(event);
        assertThat(r.flushes).hasSize(++before);
        assertThat(r.flushes.getLast()).isEqualTo(chunk(event));
      }
      a.chunk(DONE_EVENT);
      before += 2;
      assertThat(r.flushes).hasSize(before);
      assertThat(r.flushes.subList(before - 2, before)).as("the terminator goes out as read, then the stream ends at"
          + " once, before the upstream's end").containsExactly(chunk(DONE_EVENT), LAST);
      a.end();
      assertThat(r.flushes).hasSize(before);
    }
  }

  @Test
  void theHeadLeavesWithTheEventsOfItsRead() {
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      FlushRecorder r = record(g);
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.send(HEAD + chunk(ROLE) + chunk(HELLO));
      assertThat(r.flushes).hasSize(1);
      assertThat(r.flushes.get(0)).startsWith("HTTP/1.1 200 OK\r\n").endsWith("\r\n\r\n" + chunk(ROLE + HELLO));
    }
  }

  @Test
  void aWholeStreamInOneReadIsOneFlushAndItsBooksAreKept() {
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      FlushRecorder r = record(g);
      g.gw.metrics().addedLatencyNanosInterval(); // from zero
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.send(HEAD + chunk(ROLE) + chunk(HELLO) + chunk(STOP) + chunk(DONE_EVENT) + LAST);
      assertThat(r.flushes).hasSize(1);
      assertThat(g.response().body()).isEqualTo(ROLE + HELLO + STOP + DONE_EVENT);
      assertThat(g.response().ended()).isTrue();
      assertThat(g.state()).isEqualTo(StreamState.DONE);
      HistogramSnapshot ttft = g.gw.metrics().deliveredTtft.collect();
      assertThat(ttft.getDataPoints()).singleElement()
          .satisfies(p -> assertThat(p.getCount()).as("the delivered first token, before the books closed").isEqualTo(1));
      assertThat(g.gw.metrics().addedLatencyNanosInterval().getTotalCount())
          .as("added latency: one per write (the read's events, held role included, in one)").isEqualTo(1);
    }
  }

  @Test
  void aCutInTheMiddleOfAReadEndsWithTheEventsBeforeItAndTheErrorInOneFlush() {
    try (Committed c = committed()) {
      FlushRecorder r = c.r();
      int before = r.flushes.size();
      c.a().send(chunk(WORLD) + "zz\r\n"); // a chunk size that is not hex: the framing is broken
      assertThat(r.flushes).hasSize(before + 1);
      assertThat(r.flushes.getLast()).startsWith(chunk(WORLD)).contains("event: error\n").endsWith(LAST);
      assertThat(c.g().state()).isEqualTo(StreamState.FAILED);
    }
  }

  @Test
  void aFastClientIsNeverPausedByOneBigUpstreamRead() {
    try (Committed c = committed()) {
      EmbeddedGateway g = c.g();
      int[] unwritable = new int[1];
      g.client.pipeline().addLast("writability", new ChannelInboundHandlerAdapter() {
        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
          if (!ctx.channel().isWritable()) {
            unwritable[0]++;
          }
          ctx.fireChannelWritabilityChanged();
        }
      });
      double pausesBefore = g.gw.metrics().pauses.get();
      StringBuilder read = new StringBuilder();
      int events = 0;
      while (read.length() < 60 * 1024) { // one socket read of small events: more than the high-water mark once queued
        read.append(chunk(HELLO));
        events++;
      }
      c.a().send(read.toString());

      assertThat(g.response().body()).endsWith(HELLO.repeat(events));
      assertThat(unwritable[0]).as("the client turned unwritable while one read was relayed").isZero();
      assertThat(g.gw.metrics().pauses.get()).as("upstream pauses for a client that reads everything")
          .isEqualTo(pausesBefore);
    }
  }

  @Test
  void aTranslatedStreamBooksNoDeliveredTokenBeforeItsFirstText() {
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      g.post("/v1/stream", "{\"prompt\":\"hi\",\"model\":\"m\"}");
      Conn a = g.accept();
      a.sseHead();
      // One read: the model's last thought (generated, but the token API shows text only), then its error.
      a.chunk(sse(ChatChunks.reasoning("thinking")) + openAiError("boom", "server_error", "x"));
      assertThat(g.state()).isEqualTo(StreamState.FAILED);
      assertThat(g.response().body()).as("no token reached the client, only the error")
          .doesNotContain("thinking").startsWith("event: error");
      assertThat(g.gw.metrics().deliveredTtft.collect().getDataPoints())
          .as("delivered TTFT booked with no token delivered").isEmpty();
    }
  }

  @Test
  void nothingFollowsTheLastChunkOfATranslatedStream() {
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      g.post("/v1/stream", "{\"prompt\":\"hi\",\"model\":\"m\"}");
      Conn a = g.accept();
      a.sseHead().chunk(HELLO);
      a.chunk(openAiError("boom", "server_error", "x") + HELLO); // one read: an error event, then a token
      String bytes = g.clientBytes();
      int last = bytes.indexOf("\r\n0\r\n\r\n");
      assertThat(last).as("the stream ended").isPositive();
      assertThat(bytes.substring(last + 7)).as("bytes after the terminating chunk").isEmpty();
    }
  }
}
