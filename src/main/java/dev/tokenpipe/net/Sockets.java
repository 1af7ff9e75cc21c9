package dev.tokenpipe.net;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;

/**
 * Server and client bootstraps with the socket policy of the whole project in one place:
 * {@code TCP_NODELAY} on every socket (Nagle plus delayed ACK would hold small token writes up to
 * 40 ms), bounded write buffers (a slow reader turns its channel unwritable instead of growing
 * memory), and no flush consolidation anywhere: whoever writes an event flushes it.
 */
public final class Sockets {
  /** Per-channel outbound buffer bounds: above HIGH the channel turns unwritable. */
  public static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(32 * 1024, 64 * 1024);

  /** Listen backlog; the kernel caps it at net.core.somaxconn. */
  public static final int BACKLOG = 4096;

  private Sockets() {}

  public static ServerBootstrap server(EventLoopGroup boss, EventLoopGroup workers, ChannelHandler childInitializer) {
    return new ServerBootstrap()
        .group(boss, workers)
        .channel(Transport.get().serverChannelClass())
        .option(ChannelOption.SO_BACKLOG, BACKLOG)
        .option(ChannelOption.SO_REUSEADDR, true)
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childOption(ChannelOption.SO_KEEPALIVE, true)
        .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
        .childHandler(childInitializer);
  }

  /**
   * A client bootstrap. Pass a single event loop (a channel's {@code eventLoop()}) to keep a new
   * connection on the same thread as the channel that asked for it.
   */
  public static Bootstrap client(EventLoopGroup group, ChannelHandler initializer, int connectTimeoutMillis) {
    return new Bootstrap()
        .group(group)
        .channel(Transport.get().channelClass())
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.SO_KEEPALIVE, true)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, connectTimeoutMillis)
        .option(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
        .handler(initializer);
  }

  /** True when the channel has Nagle disabled; doctor and tests assert it. */
  public static boolean noDelay(Channel channel) {
    Boolean v = channel.config().getOption(ChannelOption.TCP_NODELAY);
    return v != null && v;
  }

  /**
   * {@code host:port} as a URL's authority (RFC 3986 §3.2.2): an IPv6 literal in brackets, so that a server on
   * {@code ::} says {@code http://[::]:8080}, not the unparseable {@code http://:::8080}.
   */
  public static String authority(String host, int port) {
    return (host.indexOf(':') >= 0 && !host.startsWith("[") ? "[" + host + "]" : host) + ":" + port;
  }
}
