package dev.tokenpipe.gateway;

import dev.tokenpipe.net.Sockets;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Active health checks: every {@code interval}, a {@code GET} of the check path on each upstream, on the
 * gateway's own event loops (a new connection per check, TLS for {@code https://}, {@code Connection: close}).
 * A 2xx head within the interval passes; a refused or failed connection, a failed handshake, any other
 * status, a close before the head or no head in time fails. Only the head is read: the connection is closed
 * at once, whatever the body. Results go to {@link UpstreamSet#checkResult}; one check per upstream is in
 * progress at a time.
 *
 * <p>The request carries the upstream key ({@code --upstream-key-env}) when one is set, since {@code
 * /v1/models} of a hosted API asks for it, and {@code User-Agent: tokenpipe-health}.
 */
final class HealthChecker implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(HealthChecker.class);

  private final UpstreamSet set;
  private final EventLoopGroup loops;
  private final UpstreamTls tls;
  private final String path;
  private final long intervalNanos;
  private final String upstreamKey;
  private final List<ScheduledFuture<?>> timers = new ArrayList<>();
  private volatile boolean closed;

  /**
   * @param tls the TLS client for https:// upstreams, or null when there are none
   * @param upstreamKey bearer credential for the upstreams, or null
   */
  HealthChecker(UpstreamSet set, EventLoopGroup loops, UpstreamTls tls, String path, Duration interval, String upstreamKey) {
    this.set = set;
    this.loops = loops;
    this.tls = tls;
    this.path = path;
    this.intervalNanos = interval.toNanos();
    this.upstreamKey = upstreamKey;
  }

  /** Schedules the checks; the first one of each upstream runs at once. */
  synchronized void start() {
    for (Upstream u : set.all()) {
      EventLoop loop = loops.next();
      Check check = new Check(u, loop);
      timers.add(loop.scheduleWithFixedDelay(check::run, 0, intervalNanos, TimeUnit.NANOSECONDS));
    }
  }

  @Override
  public synchronized void close() {
    closed = true;
    timers.forEach(t -> t.cancel(false));
    timers.clear();
  }

  /** The checks of one upstream; all on one event loop. */
  private final class Check {
    private final Upstream upstream;
    private final EventLoop loop;
    private boolean running;

    Check(Upstream upstream, EventLoop loop) {
      this.upstream = upstream;
      this.loop = loop;
    }

    void run() {
      if (running || closed) {
        return;
      }
      running = true;
      Probe probe = new Probe();
      ChannelFuture connect;
      try {
        connect = Sockets.client(loop, new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            if (tls != null && upstream.tls()) {
              ch.pipeline().addLast("tls", tls.newHandler(ch.alloc(), upstream));
            }
            ch.pipeline().addLast("http", new HttpClientCodec());
            ch.pipeline().addLast("check", probe);
          }
        }, (int) Math.max(1, TimeUnit.NANOSECONDS.toMillis(intervalNanos))).connect(upstream.host(), upstream.port());
      } catch (RuntimeException e) {
        done(false, "GET " + path + ": " + ConnectFailure.describe(e));
        return;
      }
      probe.channel = connect.channel();
      probe.timeout = loop.schedule(() -> probe.finish(false, "GET " + path + ": no answer within the interval"), intervalNanos,
          TimeUnit.NANOSECONDS);
      connect.addListener(f -> {
        if (!f.isSuccess()) {
          probe.finish(false, "GET " + path + ": " + ConnectFailure.describe(f.cause()));
          return;
        }
        SslHandler ssl = connect.channel().pipeline().get(SslHandler.class);
        if (ssl == null) {
          send(connect.channel());
        } else {
          ssl.handshakeFuture().addListener(h -> {
            if (h.isSuccess()) {
              send(connect.channel());
            } else {
              probe.finish(false, "GET " + path + ": TLS handshake failed: " + ConnectFailure.describe(h.cause()));
            }
          });
        }
      });
    }

    private void send(Channel ch) {
      FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, upstream.target(path),
          Unpooled.EMPTY_BUFFER);
      req.headers().set(HttpHeaderNames.HOST, upstream.authority());
      req.headers().set(HttpHeaderNames.USER_AGENT, "tokenpipe-health");
      req.headers().set(HttpHeaderNames.ACCEPT_ENCODING, HttpHeaderValues.IDENTITY);
      req.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
      if (upstreamKey != null) {
        req.headers().set(HttpHeaderNames.AUTHORIZATION, "Bearer " + upstreamKey);
      }
      ch.writeAndFlush(req);
    }

    private void done(boolean passed, String why) {
      running = false;
      if (closed) {
        return;
      }
      if (!passed) {
        log.debug("health check of {} failed: {}", upstream.name(), why);
      }
      set.checkResult(upstream, passed, passed ? null : why);
    }

    /** One check's connection: the first head decides; anything else before it is a failure. */
    private final class Probe extends ChannelInboundHandlerAdapter {
      Channel channel;
      ScheduledFuture<?> timeout;
      private boolean finished;

      void finish(boolean passed, String why) {
        if (finished) {
          return;
        }
        finished = true;
        if (timeout != null) {
          timeout.cancel(false);
        }
        if (channel != null) {
          channel.close();
        }
        done(passed, why);
      }

      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
          if (msg instanceof HttpResponse head) {
            int status = head.status().code();
            if (head.decoderResult().isFailure()) {
              finish(false, "GET " + path + ": not a valid HTTP response: " + ConnectFailure.describe(head.decoderResult().cause()));
            } else if (status >= 100 && status < 200) {
              return; // 1xx: the final head is still to come
            } else {
              finish(status >= 200 && status < 300, "GET " + path + " answered " + status);
            }
          }
        } finally {
          ReferenceCountUtil.release(msg);
        }
      }

      @Override
      public void channelInactive(ChannelHandlerContext ctx) {
        finish(false, "GET " + path + ": closed before a response head");
      }

      @Override
      public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        finish(false, "GET " + path + ": " + ConnectFailure.describe(cause));
      }
    }
  }
}
