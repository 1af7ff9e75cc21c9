package dev.tokenpipe.client;

import io.netty.channel.Channel;
import io.netty.channel.EventLoop;

/**
 * One HTTP/1.1 connection that carries one exchange at a time and is kept alive between them. Its methods
 * may be called from any thread; the work runs on the connection's event loop.
 */
public final class Connection {
  private final Channel channel;
  private final ExchangeHandler handler;
  private final long connectNanos;

  Connection(Channel channel, ExchangeHandler handler, long connectNanos) {
    this.channel = channel;
    this.handler = handler;
    this.connectNanos = connectNanos;
  }

  /**
   * Sends {@code request}; {@code listener} hears the exchange on the event loop and always gets
   * {@link ExchangeListener#onEnd} exactly once.
   *
   * @param timeoutNanos deadline for the whole exchange, counted from now; 0 = none
   */
  public void send(ClientRequest request, ExchangeListener listener, long timeoutNanos) {
    if (channel.eventLoop().inEventLoop()) {
      handler.send(request, listener, timeoutNanos);
    } else {
      channel.eventLoop().execute(() -> handler.send(request, listener, timeoutNanos));
    }
  }

  /** True when the connection is open and idle. Call on the event loop for a stable answer. */
  public boolean reusable() {
    return channel.isActive() && !handler.busy();
  }

  /** How long the TCP (and TLS) connect took, in nanoseconds. */
  public long connectNanos() {
    return connectNanos;
  }

  public EventLoop eventLoop() {
    return channel.eventLoop();
  }

  public Channel channel() {
    return channel;
  }

  public void close() {
    channel.close();
  }
}
