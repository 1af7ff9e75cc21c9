package dev.tokenpipe.sim;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;

/**
 * Aggregates request bodies up to {@code --max-body}. An oversized request is not answered here
 * (Netty's aggregator would write its 413 at once, into the middle of a response still streaming
 * on the same connection): it is passed on as a body-less request marked {@link #isTooLarge}, and the
 * handler answers it with an OpenAI-style 413 in its turn, then closes (the rest of the body is unread).
 */
final class SimBodyAggregator extends HttpObjectAggregator {
  /** The decoder-result cause that marks an oversized request. */
  static final class TooLarge extends RuntimeException {
    TooLarge(int maxBodyBytes) {
      super("request body larger than " + maxBodyBytes + " bytes", null, false, false);
    }
  }

  private final int maxBodyBytes;

  SimBodyAggregator(int maxBodyBytes) {
    super(maxBodyBytes);
    this.maxBodyBytes = maxBodyBytes;
  }

  static boolean isTooLarge(FullHttpRequest req) {
    return req.decoderResult().cause() instanceof TooLarge;
  }

  @Override
  protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
    if (!(oversized instanceof HttpRequest head)) {
      ctx.close();
      return;
    }
    FullHttpRequest marker = new DefaultFullHttpRequest(head.protocolVersion(), head.method(), head.uri(),
        Unpooled.EMPTY_BUFFER, head.headers().copy(), io.netty.handler.codec.http.EmptyHttpHeaders.INSTANCE);
    marker.setDecoderResult(DecoderResult.failure(new TooLarge(maxBodyBytes)));
    ctx.fireChannelRead(marker);
  }
}
