package dev.tokenpipe.gateway;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The last handler of an upstream connection: hands everything to the {@link ProxyExchange} the
 * connection currently serves. A pooled connection serves one exchange at a time; while idle in the pool
 * anything it reads is unexpected and the connection is closed.
 */
final class UpstreamHandler extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(UpstreamHandler.class);

  private ProxyExchange exchange;

  void bind(ProxyExchange exchange) {
    this.exchange = exchange;
  }

  void unbind() {
    this.exchange = null;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    ProxyExchange ex = exchange;
    if (ex == null) {
      ReferenceCountUtil.release(msg);
      ctx.close(); // bytes on an idle keep-alive connection: the upstream and we disagree on framing
      return;
    }
    ex.onUpstreamMessage(msg);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    ProxyExchange ex = exchange;
    exchange = null;
    if (ex != null) {
      ex.onUpstreamClosed(null);
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ProxyExchange ex = exchange;
    exchange = null;
    log.debug("upstream connection error", cause);
    if (ex != null) {
      ex.onUpstreamClosed(cause);
    }
    ctx.close();
  }
}
