package dev.tokenpipe.gateway;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The last handler of an upstream connection: hands everything to the {@link ProxyExchange} (or the
 * {@link HedgeAttempt}) the connection currently serves. A pooled connection serves one exchange at a time; while idle in the pool
 * anything it reads is unexpected and the connection is closed.
 */
final class UpstreamHandler extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(UpstreamHandler.class);

  /** Who reads the connection now: an exchange, or the hedged attempt of one ({@link HedgeAttempt}). */
  interface Reader {
    /** Everything the connection reads; the reader releases {@code msg}. */
    void onUpstreamMessage(Object msg);

    /** The connection closed (or failed) while serving this reader. */
    void onUpstreamClosed(Throwable cause);
  }

  private Reader exchange;

  void bind(Reader exchange) {
    this.exchange = exchange;
  }

  void unbind() {
    this.exchange = null;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    Reader ex = exchange;
    if (ex == null) {
      ReferenceCountUtil.release(msg);
      ctx.close(); // bytes on an idle keep-alive connection: the upstream and we disagree on framing
      return;
    }
    ex.onUpstreamMessage(msg);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    Reader ex = exchange;
    exchange = null;
    if (ex != null) {
      ex.onUpstreamClosed(null);
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    Reader ex = exchange;
    exchange = null;
    log.debug("upstream connection error", cause);
    if (ex != null) {
      ex.onUpstreamClosed(cause);
    }
    ctx.close();
  }
}
