package dev.tokenpipe.http;

import dev.tokenpipe.dialect.Dialect;
import dev.tokenpipe.dialect.Dialects;
import dev.tokenpipe.openai.ApiError;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The two clocks of a server connection between responses (slowloris and idle keep-alive protection), for
 * {@code serve} and {@code sim} alike. {@code IDLE}: no request has begun; after {@code idleNanos} the
 * connection is closed silently. {@code READING}: the first byte of a request arrived; its head and body
 * must be complete within {@code requestNanos} (counted from that first byte, not reset by later ones, so a
 * client sending a byte at a time cannot hold it open), or the client gets a 408 and the connection closes
 * with a {@link LingeringClose}. {@code BUSY}: a whole request was read and is being answered (or waits in a
 * pipeline queue); no limit, streams are long on purpose.
 *
 * <p>It sits first in the pipeline, before the HTTP decoder, so it sees raw bytes arriving, and so it never
 * sees the request they make up. The 408 is in the shape of the request's API all the same: its
 * {@link #headWatch()}, after the decoder, tells it the target of the request whose body is awaited, and the
 * server's policy names the dialect for it. Confined to the channel's event loop; the server's handler calls
 * {@link #requestRead()} and {@link #awaitNext()}.
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
  private final Function<String, Dialect> errorShape;
  private ChannelHandlerContext ctx;
  private Phase phase = Phase.IDLE;
  private ScheduledFuture<?> timer;
  /** The target of the request whose head came whole and whose body has not; null otherwise. */
  private String target;
  /**
   * When the next request's first bytes came while the connection was busy answering (a pipelining client),
   * System.nanoTime(); -1 when none came since the last whole request. Its clock starts there, not when the
   * answers before it end: otherwise a request cut off mid-body behind a stream was closed silently as idle.
   */
  private long nextBegunNanos = -1;

  /** A clock whose 408 is always in OpenAI's shape. */
  public ConnectionTimeouts(long requestNanos, long idleNanos, Listener listener) {
    this(requestNanos, idleNanos, listener, anyTarget -> Dialects.OPENAI_CHAT);
  }

  /**
   * @param requestNanos limit to receive one request, 0 = none
   * @param idleNanos keep-alive idle limit, 0 = none
   * @param errorShape the dialect whose error shape a 408 to a request target is in; given null when no
   *     request head came whole (or no {@link #headWatch()} is in the pipeline)
   */
  public ConnectionTimeouts(long requestNanos, long idleNanos, Listener listener, Function<String, Dialect> errorShape) {
    this.requestNanos = requestNanos;
    this.idleNanos = idleNanos;
    this.listener = listener;
    this.errorShape = errorShape;
  }

  /**
   * The handler that tells this clock which request it waits for, to sit after the HTTP decoder (where whole
   * heads pass) and before the body aggregator (which holds the head until the body is complete).
   */
  public ChannelHandler headWatch() {
    return new HeadWatch();
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
    } else if (phase == Phase.BUSY && nextBegunNanos < 0) {
      nextBegunNanos = System.nanoTime(); // reset by requestRead() should these bytes complete a request
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
    nextBegunNanos = -1;
    cancel();
  }

  /**
   * Every request was answered: the connection waits for the next one, or, when the next one began while it was
   * busy, gives that one what is left of its time (a read that completed one request and began the next is not
   * told apart: that next request is then timed as idle).
   */
  public void awaitNext() {
    if (phase != Phase.BUSY) {
      return;
    }
    if (nextBegunNanos >= 0 && requestNanos > 0) {
      phase = Phase.READING;
      arm(Math.max(1, requestNanos - (System.nanoTime() - nextBegunNanos)));
    } else {
      phase = Phase.IDLE;
      arm(idleNanos);
    }
    nextBegunNanos = -1;
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
        FullHttpResponse res = HttpResponses.error(ctx.alloc(), new ApiError(HttpResponseStatus.REQUEST_TIMEOUT,
            "The request was not received in time.", "invalid_request_error", null, "request_timeout"), null,
            errorShape.apply(target));
        res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        // From the channel's tail, so the response passes the HTTP encoder that sits after us. The rest of
        // a slow body may still come: a lingering close keeps it from resetting the 408 away.
        LingeringClose.after(ctx.channel().writeAndFlush(res));
      }
      case BUSY -> { }
    }
  }

  private final class HeadWatch extends ChannelInboundHandlerAdapter {
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof HttpRequest head) {
        target = head.uri();
      }
      if (msg instanceof LastHttpContent) {
        target = null; // the request is whole (a FullHttpRequest too): a later 408 is the next request's
      }
      ctx.fireChannelRead(msg);
    }
  }
}
