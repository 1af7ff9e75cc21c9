package dev.tokenpipe.gateway;

import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.A;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.CHAT_PATH;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.HELLO;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.net.Buffers;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.handler.codec.http.FullHttpRequest;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * docs/serve.md, "Memory per stream, on every path": a request body is bounded by --max-body (1 MiB). The
 * aggregated request is kept for the whole stream (for failover), and its body is a composite of slices of
 * the socket reads it came in (HttpObjectDecoder's readRetainedSlice, HttpObjectAggregator's composite of up
 * to 1024 parts): each slice holds its whole receive buffer. Netty's adaptive receive buffer jumps to 64 KiB
 * after one full read and shrinks one step per two short reads, so a client that sends its body as a full read
 * followed by a few one-byte reads makes each byte hold up to 64 KiB. The reads here come in the buffers the
 * real {@link AdaptiveRecvByteBufAllocator} hands out.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RequestBodyMemoryTest {

  private static final class Reads {
    final RecvByteBufAllocator.Handle handle = new AdaptiveRecvByteBufAllocator().newHandle();
    final EmbeddedGateway g;

    Reads(EmbeddedGateway g) {
      this.g = g;
    }

    int guess() {
      handle.reset(g.client.config());
      return handle.guess();
    }

    /** One socket read of {@code bytes} [from, from + n), in the buffer the adaptive allocator would use. */
    void read(byte[] bytes, int from, int n) {
      handle.reset(g.client.config());
      ByteBuf buf = handle.allocate(ByteBufAllocator.DEFAULT);
      buf.writeBytes(bytes, from, n);
      handle.lastBytesRead(n);
      handle.incMessagesRead(1);
      g.step(() -> g.client.pipeline().fireChannelRead(buf));
      handle.readComplete();
    }
  }

  private static final class RequestSpy extends ChannelInboundHandlerAdapter {
    FullHttpRequest request;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof FullHttpRequest r) {
        request = r;
      }
      ctx.fireChannelRead(msg);
    }
  }

  /** Memory a buffer holds: the capacities of the distinct buffers its parts are, or are slices of. */
  private static long memory(ByteBuf b) {
    Set<ByteBuf> roots = Collections.newSetFromMap(new IdentityHashMap<>());
    collect(b, roots);
    return roots.stream().mapToLong(ByteBuf::capacity).sum();
  }

  private static void collect(ByteBuf b, Set<ByteBuf> roots) {
    ByteBuf root = Buffers.root(b);
    if (root instanceof CompositeByteBuf c) {
      for (int i = 0; i < c.numComponents(); i++) {
        collect(c.internalComponent(i), roots);
      }
      return;
    }
    roots.add(root);
  }

  @Test
  void aRequestBodyHeldForTheStreamHoldsAtMostTwiceTheMaxBody() {
    int maxBody = GatewayConfig.defaults().maxBodyBytes();
    String prefix = "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"";
    String suffix = "\"}]}";
    String body = prefix + "x".repeat(maxBody - prefix.length() - suffix.length()) + suffix;
    byte[] head = ("POST " + CHAT_PATH + " HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        + "Content-Length: " + body.length() + "\r\n\r\n").getBytes(US_ASCII);
    byte[] bytes = body.getBytes(US_ASCII);

    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      RequestSpy spy = new RequestSpy();
      g.client.pipeline().addBefore("gateway", "spy", spy);
      Reads reads = new Reads(g);
      reads.read(head, 0, head.length);
      int sent = 0;
      while (sent < bytes.length) {
        int full = Math.min(reads.guess(), bytes.length - sent); // a full read: the next guess is 4 steps up
        reads.read(bytes, sent, full);
        sent += full;
        for (int i = 0; i < 4 && sent < bytes.length; i++) { // then one-byte reads, in the big buffers
          reads.read(bytes, sent, 1);
          sent++;
        }
      }
      EmbeddedGateway.Conn a = g.accept();
      a.sseHead().chunk(HELLO); // the stream runs; the request is kept until it ends

      assertThat(spy.request).isNotNull();
      assertThat(spy.request.content().readableBytes()).isEqualTo(bytes.length);
      assertThat(g.state()).isEqualTo(StreamState.RELAYING);
      assertThat(memory(spy.request.content()))
          .as("memory held by a %d-byte request body for the whole stream (--max-body %d)", bytes.length, maxBody)
          .isLessThanOrEqualTo(2L * maxBody);
    }
  }

  /**
   * The most common body, one that arrived in a single read, is a composite of one part: a slice of that read's
   * receive buffer, which CompositeByteBuf.consolidate() would leave as it is. After a full read (an earlier request
   * on the same keep-alive connection) Netty's adaptive receive buffer is 64 KiB, so a 2 KiB request would keep
   * 64 KiB for its whole stream.
   */
  @Test
  void aBodyThatArrivedInOneLargeReceiveBufferIsKeptInAtMostTwiceItsBytes() {
    String body = "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\""
        + "x".repeat(2000) + "\"}]}";
    byte[] raw = ("POST " + CHAT_PATH + " HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        + "Content-Length: " + body.length() + "\r\n\r\n" + body).getBytes(US_ASCII);

    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      RequestSpy spy = new RequestSpy();
      g.client.pipeline().addBefore("gateway", "spy", spy);
      ByteBuf read = ByteBufAllocator.DEFAULT.ioBuffer(64 * 1024); // the adaptive receive buffer after a full read
      read.writeBytes(raw);
      g.step(() -> g.client.pipeline().fireChannelRead(read));
      EmbeddedGateway.Conn a = g.accept();
      a.sseHead().chunk(HELLO); // the stream runs; the request is kept until it ends

      assertThat(g.state()).isEqualTo(StreamState.RELAYING);
      assertThat(spy.request.content().readableBytes()).isEqualTo(body.length());
      assertThat(Buffers.memory(spy.request.content()))
          .as("memory held for the whole stream by a %d-byte request body that came in one 64 KiB read", body.length())
          .isLessThanOrEqualTo(2L * body.length());
    }
  }
}
