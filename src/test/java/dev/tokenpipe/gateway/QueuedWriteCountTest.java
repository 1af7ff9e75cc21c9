package dev.tokenpipe.gateway;

import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.A;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.CHAT;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.CHAT_PATH;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.HELLO;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.ROLE;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufHolder;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * docs/serve.md, "Memory per stream, on every path": the client outbound buffer holds at most 2 x the 64 KiB
 * high-water mark plus one upstream read. The mark counts each queued write as its bytes plus 96 bytes
 * (ChannelOutboundBuffer's entry overhead: the entry, its promise, the buffer object). So the data of a read's
 * chunks leaves in one write: one write per chunk made a 60 KiB read of 10,240 one-byte chunks (each an empty
 * line, which ends an SSE event) 10,240 writes for a client that had stopped reading, about 1 MB as Netty counts
 * it, from one read.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class QueuedWriteCountTest {
  private static final int HIGH_WATER_MARK = 64 * 1024;
  private static final int ONE_READ = 64 * 1024;
  /** ChannelOutboundBuffer.CHANNEL_OUTBOUND_BUFFER_ENTRY_OVERHEAD, Netty's default. */
  private static final int ENTRY_OVERHEAD = 96;

  private static final class Counter extends ChannelOutboundHandlerAdapter {
    long writes;
    long bytes;

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
      ByteBuf b = msg instanceof ByteBuf buf ? buf : msg instanceof ByteBufHolder h ? h.content() : null;
      if (b != null && b.isReadable()) {
        writes++;
        bytes += b.readableBytes();
      }
      ctx.write(msg, promise);
    }
  }

  @Test
  void oneUpstreamReadOfTinyChunksQueuesNoMoreThanTheDocumentedBoundAsNettyCountsIt() {
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      g.post(CHAT_PATH, CHAT);
      EmbeddedGateway.Conn a = g.accept();
      a.sseHead().chunk(ROLE).chunk(HELLO);
      g.clientWritable(false);
      assertThat(a.ch.config().isAutoRead()).isFalse();
      Counter c = new Counter();
      g.client.pipeline().addFirst("count", c);
      String read = "1\r\n\n\r\n".repeat(10 * 1024);
      assertThat(read.length()).isLessThanOrEqualTo(ONE_READ);

      a.send(read, ONE_READ); // the read the paused upstream was already delivering

      assertThat(g.response().body()).isEqualTo(ROLE + HELLO + "\n".repeat(10 * 1024));
      long pending = c.bytes + c.writes * ENTRY_OVERHEAD;
      assertThat(pending)
          .as("outbound bytes as Netty counts them (%d writes of %d bytes in all, + %d each) after one %d-byte read"
              + " (bound: 2 x %d + %d)", c.writes, c.bytes, ENTRY_OVERHEAD, read.length(), HIGH_WATER_MARK, ONE_READ)
          .isLessThanOrEqualTo(2L * HIGH_WATER_MARK + ONE_READ);
    }
  }
}
