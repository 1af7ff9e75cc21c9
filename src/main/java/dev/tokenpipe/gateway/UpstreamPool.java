package dev.tokenpipe.gateway;

import dev.tokenpipe.net.Sockets;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.EventLoop;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Keep-alive upstream connections, pooled <em>per event loop</em>: a stream's upstream channel is always
 * registered on the same event loop as its client channel (Netty's HexDumpProxy pattern), so relaying a
 * token is a method call on one thread, with no hand-off, queue or lock on the token path.
 *
 * <p>The idle lists of one loop are only touched from that loop. Idle connections that the upstream closes
 * leave the list by their close listener.
 *
 * <p>A connection to an {@code https://} upstream is handed out only once its TLS handshake succeeded; a
 * failed handshake fails the acquisition with {@link UpstreamTls.HandshakeFailedException}, like a refused
 * connect. A pooled TLS connection is reused as it is (no new handshake).
 */
final class UpstreamPool implements UpstreamConnections {
  /** Idle connections kept per loop and upstream; more are closed on release. */
  static final int MAX_IDLE_PER_LOOP = 512;
  /**
   * The longest a connection may have been idle in the pool and still be reused; it is closed then, or when a
   * request finds it past the bound first (a timer late on a busy loop). A connection can die without a close: a
   * NAT or load balancer drops an idle flow silently (AWS NAT gateway and NLB after 350 s, Azure's load balancer
   * after 4 min), or the upstream stops serving it. Reused, it took the request and never answered, which held the
   * client until --upstream-idle-timeout and then failed it, since a request that went up is never retried. 60 s is NGINX's upstream keepalive_timeout default (Go's
   * http.Transport waits 90 s), below those middleboxes; an upstream's own shorter keep-alive (uvicorn's 5 s)
   * closes the connection first, which the pool sees, and the stale-connection retry covers the race.
   */
  static final Duration KEEPALIVE = Duration.ofSeconds(60);

  private final int connectTimeoutMillis;
  private final long keepaliveNanos;
  /** The TLS client for https:// upstreams; null when there are none. */
  private final UpstreamTls tls;
  private final Map<Upstream, UpstreamInitializer> initializers = new ConcurrentHashMap<>();
  private final Map<EventLoop, Map<Upstream, ArrayDeque<Channel>>> idle = new ConcurrentHashMap<>();
  /** When a pooled connection went idle (System.nanoTime), set on release, read on its loop only. */
  private static final AttributeKey<Long> IDLE_SINCE = AttributeKey.valueOf("tokenpipe.idleSince");
  /** The timer that closes a pooled connection at the keep-alive bound, cancelled when it is reused; its loop only. */
  private static final AttributeKey<Future<?>> IDLE_CLOSE = AttributeKey.valueOf("tokenpipe.idleClose");

  /** @param keepalive the longest idle time after which a connection is still reused ({@link #KEEPALIVE}) */
  UpstreamPool(int connectTimeoutMillis, Duration keepalive, UpstreamTls tls) {
    this.connectTimeoutMillis = connectTimeoutMillis;
    this.keepaliveNanos = keepalive.toNanos();
    this.tls = tls;
  }

  /**
   * A connection to {@code upstream} on {@code loop}: an idle one if there is, else a new one. The future
   * completes on {@code loop}; an idle one is handed out already completed.
   */
  @Override
  public Future<Channel> acquire(EventLoop loop, Upstream upstream) {
    ArrayDeque<Channel> q = idleList(loop, upstream);
    Channel ch;
    long now = System.nanoTime();
    while ((ch = q.pollLast()) != null) {
      if (!ch.isActive()) {
        continue;
      }
      Long since = ch.attr(IDLE_SINCE).get();
      if (since != null && now - since > keepaliveNanos) {
        // The newest idle connection is past the bound, so every older one below it is too.
        ch.close();
        closeAll(q);
        break;
      }
      cancelIdleClose(ch);
      return loop.newSucceededFuture(ch);
    }
    Promise<Channel> promise = loop.newPromise();
    // Never open a socket in the middle of an I/O batch: Netty's epoll loop hands each event of one
    // epoll_wait batch to the channel registered under that event's fd number *now*
    // (EpollIoHandler.processReady). A connection closed earlier in the batch (a client left) frees its
    // number, a socket opened right after gets it, and the closed socket's pending read or hang-up
    // further down the batch reaches the new one before it even connects: it closes and the connect
    // fails (ClosedChannelException). A task runs after the whole batch; by the next epoll_wait the
    // closed socket is gone from the interest list. One task hop on the connect path only, never on
    // the token path. UpstreamPoolFdReuseTest stages such a batch.
    loop.execute(() -> connect(loop, upstream, q, promise));
    return promise;
  }

  private void connect(EventLoop loop, Upstream upstream, ArrayDeque<Channel> q, Promise<Channel> promise) {
    UpstreamInitializer initializer = initializers.computeIfAbsent(upstream, u -> new UpstreamInitializer(u, tls));
    ChannelFuture connect = Sockets.client(loop, initializer, connectTimeoutMillis).connect(upstream.host(), upstream.port());
    connect.addListener(f -> {
      if (!f.isSuccess()) {
        promise.setFailure(f.cause());
        return;
      }
      Channel c = connect.channel();
      SslHandler ssl = c.pipeline().get(SslHandler.class);
      if (ssl == null) {
        ready(c, q, promise);
        return;
      }
      ssl.handshakeFuture().addListener(h -> {
        if (h.isSuccess()) {
          ready(c, q, promise);
        } else {
          c.close();
          promise.setFailure(new UpstreamTls.HandshakeFailedException(upstream, h.cause()));
        }
      });
    });
  }

  private static void ready(Channel c, ArrayDeque<Channel> q, Promise<Channel> promise) {
    c.closeFuture().addListener(cf -> {
      q.remove(c);
      cancelIdleClose(c);
    });
    promise.setSuccess(c);
  }

  /** Returns a connection whose response ended cleanly and that may be kept alive. Call on its loop. */
  @Override
  public void release(Channel ch, Upstream upstream) {
    ch.pipeline().get(UpstreamHandler.class).unbind();
    ch.config().setAutoRead(true); // it may have been paused for a slow client
    ArrayDeque<Channel> q = idleList(ch.eventLoop(), upstream);
    if (!ch.isActive() || q.size() >= MAX_IDLE_PER_LOOP) {
      ch.close();
      return;
    }
    ch.attr(IDLE_SINCE).set(System.nanoTime());
    q.addLast(ch);
    // As NGINX's keepalive_timeout does: an idle connection holds a socket here and a slot at the upstream (uvicorn's
    // limit_concurrency, a server's worker), so it does not outlive the bound waiting for a request to find it. One
    // timer per idle spell, on the connection's loop, cancelled when a request takes the connection (acquire).
    ch.attr(IDLE_CLOSE).set(ch.eventLoop().schedule(() -> {
      if (q.remove(ch)) {
        ch.close();
      }
    }, keepaliveNanos, TimeUnit.NANOSECONDS));
  }

  /** So that the timers waiting ({@link #IDLE_CLOSE}) are never more than the idle connections. */
  private static void cancelIdleClose(Channel ch) {
    Future<?> close = ch.attr(IDLE_CLOSE).getAndSet(null);
    if (close != null) {
      close.cancel(false);
    }
  }

  private static void closeAll(ArrayDeque<Channel> q) {
    Channel c;
    while ((c = q.pollFirst()) != null) {
      c.close();
    }
  }

  private ArrayDeque<Channel> idleList(EventLoop loop, Upstream upstream) {
    // Inner maps are loop-confined; only the outer map is shared between loops.
    return idle.computeIfAbsent(loop, l -> new HashMap<>()).computeIfAbsent(upstream, u -> new ArrayDeque<>());
  }
}
