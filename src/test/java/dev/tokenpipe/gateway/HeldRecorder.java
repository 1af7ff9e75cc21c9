package dev.tokenpipe.gateway;

import dev.tokenpipe.net.Buffers;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufHolder;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import java.util.ArrayList;
import java.util.List;

/**
 * Records each write at the socket end of the client's pipeline: its bytes and the memory its buffer occupies
 * (the capacity of the buffer it is, or is a slice of): what a write queued for a client that stopped reading
 * would hold. Put it first: {@link #on}.
 */
final class HeldRecorder extends ChannelOutboundHandlerAdapter {
  /** One write: its readable bytes and the memory it occupies. */
  record Held(int bytes, long held) {}

  final List<Held> writes = new ArrayList<>();

  static HeldRecorder on(EmbeddedGateway g) {
    HeldRecorder r = new HeldRecorder();
    g.client.pipeline().addFirst("held", r);
    return r;
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    ByteBuf b = msg instanceof ByteBuf buf ? buf : msg instanceof ByteBufHolder h ? h.content() : null;
    if (b != null && b.isReadable()) {
      writes.add(new Held(b.readableBytes(), Buffers.memory(b)));
    }
    ctx.write(msg, promise);
  }
}
