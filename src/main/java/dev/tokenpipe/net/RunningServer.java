package dev.tokenpipe.net;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.EventLoopGroup;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * A listening server and the event loops it owns. {@link #close()} stops accepting and releases
 * the loops; it is safe to call twice.
 */
public final class RunningServer implements AutoCloseable {
  private final Channel listener;
  private final EventLoopGroup boss;
  private final EventLoopGroup workers;
  private final boolean ownsWorkers;

  private RunningServer(Channel listener, EventLoopGroup boss, EventLoopGroup workers, boolean ownsWorkers) {
    this.listener = listener;
    this.boss = boss;
    this.workers = workers;
    this.ownsWorkers = ownsWorkers;
  }

  /**
   * Binds {@code host:port} (port 0 picks a free one) with new worker loops.
   *
   * @param workerThreads event loops for connections; 0 means one per core
   * @throws IllegalStateException with a one-line message when the address cannot be bound
   */
  public static RunningServer start(String host, int port, int workerThreads, ChannelHandler childInitializer) {
    return start(host, port, Transport.get().newGroup(Loops.count(workerThreads)), true, childInitializer);
  }

  /** Binds on loops the caller owns (a gateway sharing its loops with an embedded sim). */
  public static RunningServer startOn(String host, int port, EventLoopGroup workers, ChannelHandler childInitializer) {
    return start(host, port, workers, false, childInitializer);
  }

  private static RunningServer start(
      String host, int port, EventLoopGroup workers, boolean ownsWorkers, ChannelHandler childInitializer) {
    EventLoopGroup boss = Transport.get().newGroup(1);
    try {
      Channel ch = Sockets.server(boss, workers, childInitializer).bind(host, port).syncUninterruptibly().channel();
      return new RunningServer(ch, boss, workers, ownsWorkers);
    } catch (Exception e) {
      boss.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
      if (ownsWorkers) {
        workers.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
      }
      String why = e instanceof BindException || String.valueOf(e.getMessage()).contains("in use")
          ? "address already in use"
          : e instanceof java.nio.channels.UnresolvedAddressException ? "no such host or address"
          : e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
      throw new IllegalStateException("cannot listen on " + host + ":" + port + ": " + why, e);
    }
  }

  public InetSocketAddress address() {
    return (InetSocketAddress) listener.localAddress();
  }

  public int port() {
    return address().getPort();
  }

  public EventLoopGroup workers() {
    return workers;
  }

  /** Blocks until the listener closes (by {@link #close()} or a signal). */
  public void awaitClose() throws InterruptedException {
    listener.closeFuture().await();
  }

  /** Stops accepting new connections; existing ones keep running until {@link #close()}. */
  public void stopAccepting() {
    Loops.awaitOrWarn(listener.close(), "the listener did not close");
  }

  /** Closes the listener and releases the loops it owns; every wait is bounded ({@link Loops}). */
  @Override
  public void close() {
    Loops.awaitOrWarn(listener.close(), "the listener did not close");
    Loops.shutdown(boss, "acceptor");
    if (ownsWorkers) {
      Loops.shutdown(workers, "worker");
    }
  }
}
