package dev.tokenpipe.gateway;

import dev.tokenpipe.http.ChunkedBody;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * An upstream connection whose stream already ended for the client, at the upstream's terminator
 * ({@code data: [DONE]}, {@code message_stop}, ...), while its HTTP body had not: the body's end usually follows
 * within microseconds (an ASGI server writes the last chunk on its own), but an upstream may also keep the body
 * open or send more. This waits for the body's end for at most {@link #GRACE_MILLIS}: an empty end gives the
 * connection back to the pool; data after the terminator (the upstream and we disagree on where the stream
 * ended), broken framing or the grace running out closes it. Nothing read here ever reaches a client.
 *
 * <p>Reads either way the exchange did: the raw chunked body in place ({@link ChunkedBody}, the HTTP handlers
 * out of the pipeline) or the codec's {@link HttpContent}s. Runs on the connection's event loop.
 */
final class UpstreamDrain implements UpstreamHandler.Reader {
  /** How long a body may stay open after its terminator before its connection is closed. */
  static final long GRACE_MILLIS = 1_000;

  private final Channel channel;
  private final Upstream upstream;
  private final UpstreamConnections pool;
  /** The raw body being read in place, or null when the codec reads it. */
  private final ChunkedBody rawBody;
  private ScheduledFuture<?> grace;
  private boolean done;

  private UpstreamDrain(Channel channel, Upstream upstream, UpstreamConnections pool, ChunkedBody rawBody) {
    this.channel = channel;
    this.upstream = upstream;
    this.pool = pool;
    this.rawBody = rawBody;
  }

  /**
   * Takes over {@code channel} (bound to the exchange until now) to wait for its body's end.
   *
   * @param rawBody the chunked body read in place so far, or null when the HTTP codec reads the body
   * @param loop the exchange's loop, which is the connection's (ProxyExchangeStateMachineTest runs the two on
   *     embedded loops of their own, and advances the exchange's)
   */
  static void start(Channel channel, Upstream upstream, UpstreamConnections pool, ChunkedBody rawBody,
      EventExecutor loop) {
    UpstreamDrain drain = new UpstreamDrain(channel, upstream, pool, rawBody);
    channel.pipeline().get(UpstreamHandler.class).bind(drain);
    drain.grace = loop.schedule(drain::close, GRACE_MILLIS, TimeUnit.MILLISECONDS);
    channel.config().setAutoRead(true); // it may have been paused for a slow client, who no longer matters
  }

  @Override
  public void onUpstreamMessage(Object msg) {
    try {
      if (done) {
        return;
      }
      if (msg instanceof ByteBuf in && rawBody != null) {
        onRaw(in);
      } else if (msg instanceof HttpContent content && !content.decoderResult().isFailure()
          && !content.content().isReadable()) {
        if (content instanceof LastHttpContent) {
          release();
        }
      } else {
        close(); // data after the terminator, a failed decode, or a head: not a connection to keep
      }
    } finally {
      ReferenceCountUtil.release(msg);
    }
  }

  private void onRaw(ByteBuf in) {
    try {
      ChunkedBody.Step step = rawBody.next(in);
      if (step == ChunkedBody.Step.NEED_MORE) {
        return;
      }
      if (step == ChunkedBody.Step.END && !in.isReadable()) {
        UpstreamInitializer.readHttpAgain(channel.pipeline());
        release();
        return;
      }
      close(); // DATA after the terminator, or bytes past the body's end
    } catch (ChunkedBody.FramingException e) {
      close();
    }
  }

  @Override
  public void onUpstreamClosed(Throwable cause) {
    done = true;
    grace.cancel(false);
  }

  private void release() {
    done = true;
    grace.cancel(false);
    pool.release(channel, upstream);
  }

  private void close() {
    if (done) {
      return;
    }
    done = true;
    grace.cancel(false);
    channel.pipeline().get(UpstreamHandler.class).unbind();
    channel.close();
  }
}
