package dev.tokenpipe.gateway;

import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;

/**
 * Where a {@link ProxyExchange} gets its upstream connections and gives them back: {@link UpstreamPool}
 * (sockets, kept alive per event loop) in the gateway; in ProxyExchangeStateMachineTest, embedded channels
 * with the same pipeline ({@link UpstreamInitializer}), so the exchange's state machine runs without sockets.
 * A connection's pipeline ends with an {@link UpstreamHandler}, which the exchange binds itself to.
 */
interface UpstreamConnections {
  /**
   * A connection to {@code upstream} whose events run on {@code loop} (the client channel's). The future
   * completes on {@code loop}; one handed out already completed is an idle keep-alive connection (a failure
   * before its response head may then be a stale one, worth one more try).
   */
  Future<Channel> acquire(EventLoop loop, Upstream upstream);

  /** Takes back a connection whose response ended cleanly and that may be kept alive. Call on its loop. */
  void release(Channel ch, Upstream upstream);
}
