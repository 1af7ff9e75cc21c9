package dev.tokenpipe.http;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.TimeUnit;

/**
 * Closes a connection after a final response without destroying that response (RFC 9112 §9.6,
 * "lingering close"). Closing a socket whose receive buffer still holds unread request bytes (a body we
 * refused, requests pipelined behind the last answer) makes the kernel send a reset, and a reset can
 * discard the response at the client before it was read. So: once the response is written, half-close
 * (FIN after the response), discard whatever the client still sends, and close when the client closes
 * or after {@value #LINGER_MILLIS} ms, whichever comes first. Memory: nothing is kept, bytes are dropped
 * as they arrive.
 */
public final class LingeringClose {
  /** Longest time a connection lingers after its final response. */
  public static final long LINGER_MILLIS = 2_000;

  private LingeringClose() {}

  /** Lingers, then closes, once {@code written} (the final response's write) has completed. */
  public static void after(ChannelFuture written) {
    written.addListener((ChannelFutureListener) f -> start(f.channel()));
  }

  private static void start(Channel ch) {
    if (!ch.isActive() || !(ch instanceof DuplexChannel duplex) || duplex.isOutputShutdown()) {
      ch.close();
      return;
    }
    if (ch.pipeline().get(Discard.class) == null) {
      ch.pipeline().addFirst("lingering-close", new Discard());
    }
    duplex.shutdownOutput().addListener((ChannelFutureListener) f -> {
      if (!f.isSuccess()) {
        ch.close();
      }
    });
    ch.config().setAutoRead(true); // read (and drop) until the client's FIN, which closes the channel
    ch.eventLoop().schedule(() -> ch.close(), LINGER_MILLIS, TimeUnit.MILLISECONDS);
  }

  /** First in the pipeline: drops every byte the client still sends. */
  private static final class Discard extends ChannelInboundHandlerAdapter {
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ReferenceCountUtil.release(msg);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
      // swallowed: nothing after this handler may act on the dropped bytes
    }
  }
}
