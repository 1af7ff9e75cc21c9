package dev.tokenpipe.http;

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
 * The two clocks of a server connection between responses (slowloris and idle keep-alive protection), for
 * {@code serve} and {@code sim} alike. {@code IDLE}: no request has begun; after {@code idleNanos} the
 * connection is closed silently. {@code READING}: the first byte of a request arrived; its head and body
 * must be complete within {@code requestNanos} (counted from that first byte, not reset by later ones, so a
 * client sending a byte at a time cannot hold it open), or the client gets an OpenAI-style 408 and the
 * connection closes with a {@link LingeringClose}. {@code BUSY}: a whole request was read and is being
 * answered (or waits in a pipeline queue); no limit, streams are long on purpose.
 *
 * <p>It sits first in the pipeline, before the HTTP decoder, so it sees raw bytes arriving. Confined to
 * the channel's event loop; the server's handler calls {@link #requestRead()} and {@link #awaitNext()}.
 */
public final class ConnectionTimeouts extends ChannelInboundHandlerAdapter {
  private enum Phase { IDLE, READING, BUSY }

  /** Told when a clock expired, for the server's metrics. */
  public interface Listener {
    void idleClosed();

    void requestTimedOut();
  }

  private final long requestNanos;
  private final long idleNanos;
  private final Listener listener;
  private ChannelHandlerContext ctx;
  private Phase phase = Phase.IDLE;
  private ScheduledFuture<?> timer;

  /**
   * @param requestNanos limit to receive one request, 0 = none
   * @param idleNanos keep-alive idle limit, 0 = none
   */
  public ConnectionTimeouts(long requestNanos, long idleNanos, Listener listener) {
    this.requestNanos = requestNanos;
    this.idleNanos = idleNanos;
    this.listener = listener;
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
  public void requestRead() {
    phase = Phase.BUSY;
    cancel();
  }

  /** Every request was answered: the connection waits for the next one. */
  public void awaitNext() {
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
        listener.idleClosed();
        ctx.close();
      }
      case READING -> {
        listener.requestTimedOut();
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
