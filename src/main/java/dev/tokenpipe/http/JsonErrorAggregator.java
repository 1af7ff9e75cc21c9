package dev.tokenpipe.http;

import dev.tokenpipe.openai.ApiError;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;

/**
 * Aggregates request bodies up to a limit and answers an oversized one with an OpenAI-style 413
 * (Netty's default answer has an empty body), then closes: the rest of the body is unread.
 */
public final class JsonErrorAggregator extends HttpObjectAggregator {
  private final int maxBodyBytes;

  public JsonErrorAggregator(int maxBodyBytes) {
    super(maxBodyBytes);
    this.maxBodyBytes = maxBodyBytes;
  }

  @Override
  protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
    if (oversized instanceof HttpRequest) {
      FullHttpResponse res = HttpResponses.error(ctx, ApiError.tooLarge(maxBodyBytes));
      res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
      ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
    } else {
      ctx.close();
    }
  }
}
