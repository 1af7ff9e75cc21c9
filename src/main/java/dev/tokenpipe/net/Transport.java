package dev.tokenpipe.net;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.util.function.Supplier;

/**
 * The I/O transport, chosen once per process: native epoll when it loads, NIO otherwise. Every
 * server and client in tokenpipe takes its event loops and channel classes from here so that a
 * stream's two sockets can share one event loop.
 *
 * @param name "epoll" or "nio", for logs and reports
 */
public record Transport(
    String name,
    Supplier<IoHandlerFactory> ioHandlerFactory,
    Class<? extends ServerChannel> serverChannelClass,
    Class<? extends Channel> channelClass) {

  private static final Transport CHOSEN = choose();

  /** The process-wide transport. Set {@code -Dtokenpipe.transport=nio} to force NIO. */
  public static Transport get() {
    return CHOSEN;
  }

  private static Transport choose() {
    String wanted = System.getProperty("tokenpipe.transport", "auto");
    if (wanted.equalsIgnoreCase("io_uring") && IoUring.isAvailable()) {
      return new Transport(
          "io_uring", IoUringIoHandler::newFactory, IoUringServerSocketChannel.class, IoUringSocketChannel.class);
    }
    boolean forceNio = "nio".equalsIgnoreCase(wanted);
    if (!forceNio && Epoll.isAvailable()) {
      return new Transport(
          "epoll", EpollIoHandler::newFactory, EpollServerSocketChannel.class, EpollSocketChannel.class);
    }
    return new Transport(
        "nio", NioIoHandler::newFactory, NioServerSocketChannel.class, NioSocketChannel.class);
  }

  /**
   * A group of event loops on this transport.
   *
   * @param threads number of loops; 0 means Netty's default (2 x cores)
   */
  public EventLoopGroup newGroup(int threads) {
    return new MultiThreadIoEventLoopGroup(threads, new NamedThreadFactory("tokenpipe-" + name), ioHandlerFactory.get());
  }
}
