package dev.tokenpipe.gateway;

import dev.tokenpipe.http.HttpResponses;
import dev.tokenpipe.http.LingeringClose;
import dev.tokenpipe.openai.ApiError;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Protects against slow clients on the request side (slowloris): once the first byte of a request
 * arrives, its head and body must be complete within {@code timeoutNanos}, or the client gets an
 * OpenAI-style 408 and the connection closes. A keep-alive connection idle between requests for as long
 * is closed silently. While a response is running there is no limit here (streams are long on purpose).
 *
 * <p>It sits first in the pipeline, before the HTTP decoder, so it sees raw bytes arriving.
 */
final class RequestTimeoutHandler extends ChannelInboundHandlerAdapter {
  private enum Phase { IDLE, READING, BUSY }

  private final long timeoutNanos;
  private final GatewayMetrics metrics;
  private ChannelHandlerContext ctx;
  private Phase phase = Phase.IDLE;
  private ScheduledFuture<?> timer;

  /** @param timeoutNanos 0 disables the limit */
  RequestTimeoutHandler(long timeoutNanos, GatewayMetrics metrics) {
    this.timeoutNanos = timeoutNanos;
    this.metrics = metrics;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    arm();
    ctx.fireChannelActive();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (phase == Phase.IDLE) {
      phase = Phase.READING;
      arm();
    }
    ctx.fireChannelRead(msg);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    cancel();
    ctx.fireChannelInactive();
  }

  /** A whole request was read: no limit until the response is done. */
  void requestRead() {
    phase = Phase.BUSY;
    cancel();
  }

  /** The response is done: the connection waits for the next request. */
  void awaitNext() {
    phase = Phase.IDLE;
    arm();
  }

  private void arm() {
    cancel();
    if (timeoutNanos > 0) {
      timer = ctx.executor().schedule(this::expire, timeoutNanos, TimeUnit.NANOSECONDS);
    }
  }

  private void cancel() {
    if (timer != null) {
      timer.cancel(false);
      timer = null;
    }
  }

  private void expire() {
    timer = null;
    switch (phase) {
      case IDLE -> ctx.close();
      case READING -> {
        metrics.rejected.labelValues("408").inc();
        FullHttpResponse res = HttpResponses.error(ctx, new ApiError(HttpResponseStatus.REQUEST_TIMEOUT,
            "The request was not received in time.", "invalid_request_error", null, "request_timeout"));
        res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        // From the channel's tail, so the response passes the HTTP encoder that sits after us. The rest of
        // a slow body may still come: a lingering close keeps it from resetting the 408 away.
        LingeringClose.after(ctx.channel().writeAndFlush(res));
      }
      case BUSY -> { }
    }
  }
}
