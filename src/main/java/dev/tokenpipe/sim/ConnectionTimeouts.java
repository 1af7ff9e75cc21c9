package dev.tokenpipe.sim;

import dev.tokenpipe.http.HttpResponses;
import dev.tokenpipe.openai.ApiError;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The two clocks of a connection between responses. {@code IDLE}: no request has begun; after
 * {@code idleNanos} the connection is closed silently (an idle keep-alive connection). {@code READING}:
 * the first byte of a request arrived; its head and body must be complete within {@code requestNanos}
 * (counted from that first byte, not reset by later ones, so a client sending a byte at a time cannot
 * hold it open), or the client gets an OpenAI-style 408 and the connection closes. {@code BUSY}: a whole
 * request was read and is being answered (or waits in the pipeline queue); no limit, streams are long on
 * purpose.
 *
 * <p>It sits first in the pipeline, before the HTTP decoder, so it sees raw bytes arriving. Confined to
 * the channel's event loop.
 */
final class ConnectionTimeouts extends ChannelInboundHandlerAdapter {
  private enum Phase { IDLE, READING, BUSY }

  /** After a 408, how long the rest of the client's bytes are read and dropped before the close. */
  static final long LINGER_MILLIS = 2000;

  private final long requestNanos;
  private final long idleNanos;
  private final SimMetrics metrics;
  private ChannelHandlerContext ctx;
  private Phase phase = Phase.IDLE;
  private ScheduledFuture<?> timer;
  private boolean lingering;

  /** @param requestNanos limit to receive one request, 0 = none; @param idleNanos keep-alive idle limit, 0 = none */
  ConnectionTimeouts(long requestNanos, long idleNanos, SimMetrics metrics) {
    this.requestNanos = requestNanos;
    this.idleNanos = idleNanos;
    this.metrics = metrics;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    arm(idleNanos);
    ctx.fireChannelActive();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (lingering) {
      ReferenceCountUtil.release(msg); // the rest of a request already answered with 408
      return;
    }
    if (phase == Phase.IDLE) {
      phase = Phase.READING;
      arm(requestNanos);
    }
    ctx.fireChannelRead(msg);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    cancel();
    ctx.fireChannelInactive();
  }

  /** A whole request was read: no limit until the connection has answered everything it holds. */
  void requestRead() {
    phase = Phase.BUSY;
    cancel();
  }

  /** Every request was answered: the connection waits for the next one. */
  void awaitNext() {
    if (phase == Phase.BUSY) {
      phase = Phase.IDLE;
      arm(idleNanos);
    }
  }

  private void arm(long nanos) {
    cancel();
    if (nanos > 0) {
      timer = ctx.executor().schedule(this::expire, nanos, TimeUnit.NANOSECONDS);
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
      case IDLE -> {
        metrics.idleClosed.inc();
        ctx.close();
      }
      case READING -> {
        metrics.errors.labelValues("408").inc();
        FullHttpResponse res = HttpResponses.error(ctx, new ApiError(HttpResponseStatus.REQUEST_TIMEOUT,
            "The request was not received in time.", "invalid_request_error", null, "request_timeout"));
        res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        // From the channel's tail, so the response passes the HTTP encoder that sits after us. Then a
        // lingering close: closing while the client still sends would make the kernel answer with a
        // reset, which can destroy the 408 before the client reads it. So: FIN, discard what still
        // comes for a moment, then close.
        lingering = true;
        ctx.channel().writeAndFlush(res).addListener(f -> {
          if (f.isSuccess() && ctx.channel() instanceof DuplexChannel duplex) {
            duplex.shutdownOutput();
            ctx.executor().schedule(() -> ctx.close(), LINGER_MILLIS, TimeUnit.MILLISECONDS);
          } else {
            ctx.close();
          }
        });
      }
      case BUSY -> { }
    }
  }
}
