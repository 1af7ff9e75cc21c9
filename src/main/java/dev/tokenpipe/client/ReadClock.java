package dev.tokenpipe.client;

import dev.tokenpipe.sse.EmissionStamp;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;

/**
 * First handler after the socket (and TLS): stamps every socket read with {@code System.nanoTime()} and the
 * wall clock before any decoding, so "when did these bytes arrive" is not skewed by HTTP or SSE parsing. The
 * exchange handler further down reads the stamp of the read that produced each message it decodes.
 */
final class ReadClock extends ChannelInboundHandlerAdapter {
  private final ExchangeHandler exchange;
  long readNanos;
  long readWallMicros;

  ReadClock(ExchangeHandler exchange) {
    this.exchange = exchange;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof ByteBuf buf) {
      readNanos = System.nanoTime();
      readWallMicros = EmissionStamp.nowMicros();
      exchange.onSocketRead(readNanos, readWallMicros, buf.readableBytes());
    }
    ctx.fireChannelRead(msg);
  }
}
