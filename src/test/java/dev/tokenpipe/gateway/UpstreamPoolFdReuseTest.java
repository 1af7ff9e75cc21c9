package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.tokenpipe.net.Sockets;
import dev.tokenpipe.net.Transport;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.unix.UnixChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The churn connect failure, reproduced deterministically. Netty's epoll loop dispatches the events of
 * one {@code epoll_wait} batch by file-descriptor number, looked up when each event is handled
 * ({@code EpollIoHandler.processReady}). If a handler early in the batch closes socket A and opens a new
 * upstream socket B, B gets A's freed number, and A's event later in the same batch is handed to B: B has
 * not even started connecting, its read fails, and the connect that Netty queued finds B closed
 * ({@code ClosedChannelException}). NIO keys events by channel and is immune.
 *
 * <p>The batch is staged: the loop is held busy while the peer makes channel T readable and then A, so
 * one {@code epoll_wait} returns [T, A]; T's handler closes A and acquires a new connection, exactly like a
 * client that leaves (its upstream is closed) next to a client that arrives (a new upstream connection).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class UpstreamPoolFdReuseTest {
  static final int TRIALS = 20;

  ServerSocket server;
  EventLoopGroup group;
  final List<Socket> accepted = new ArrayList<>();

  @BeforeEach
  void start() throws IOException {
    assumeTrue(Transport.get().name().equals("epoll"), "the fault is specific to the epoll transport");
    server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    server.setSoTimeout(10_000);
    group = Transport.get().newGroup(1);
  }

  @AfterEach
  void stop() throws IOException {
    if (group != null) {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
    for (Socket s : accepted) {
      s.close();
    }
    if (server != null) {
      server.close();
    }
  }

  @Test
  void aConnectionOpenedWhileAnotherClosesInTheSameEpollBatchStillConnects() throws Exception {
    Upstream upstream = Upstream.parse("http://127.0.0.1:" + server.getLocalPort());
    UpstreamPool pool = new UpstreamPool(5_000, UpstreamPool.KEEPALIVE, null);
    EventLoop loop = group.next();
    int reused = 0;
    List<String> failures = new ArrayList<>();
    for (int i = 0; i < TRIALS; i++) {
      // A: a pooled upstream connection whose peer will send bytes (a token the model wrote as the client left).
      Channel a = loop.submit(() -> pool.acquire(loop, upstream)).get().sync().getNow(); // the pool is loop-confined
      Socket aPeer = accept();
      CompletableFuture<Future<Channel>> acquired = new CompletableFuture<>();
      int aFd = ((UnixChannel) a).fd().intValue();
      // T: the "client" whose event comes first in the batch: it closes A and asks for a new upstream.
      Channel t = Sockets.client(loop, new ChannelInboundHandlerAdapter() {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
          ReferenceCountUtil.release(msg);
          a.close();
          acquired.complete(pool.acquire(loop, upstream));
        }
      }, 5_000).connect(server.getLocalSocketAddress()).sync().channel();
      Socket tPeer = accept();
      // Hold the loop while both sockets turn readable, T first, so one epoll_wait returns them in that order.
      CompletableFuture<Void> held = new CompletableFuture<>();
      loop.execute(() -> {
        held.complete(null);
        sleep(150);
      });
      held.get();
      tPeer.getOutputStream().write('t');
      sleep(20);
      aPeer.getOutputStream().write('a');
      Future<Channel> b = acquired.get(10, TimeUnit.SECONDS);
      b.await(10, TimeUnit.SECONDS);
      Channel newChannel = b.isSuccess() ? b.getNow() : null;
      if (newChannel != null && ((UnixChannel) newChannel).fd().intValue() == aFd) {
        reused++;
      }
      if (!b.isSuccess()) {
        failures.add("trial " + i + ": fd " + aFd + " closed and reopened in one batch: " + b.cause());
      } else {
        accept().close();
        newChannel.close().sync();
      }
      t.close().sync();
    }
    assertThat(failures).as("new upstream connections that failed").isEmpty();
    // The staging worked: the new socket did get the number of the one closed in the same batch.
    assertThat(reused).as("new connections on the closed socket's fd").isGreaterThanOrEqualTo(TRIALS / 2);
  }

  private Socket accept() throws IOException {
    Socket s = server.accept();
    accepted.add(s);
    return s;
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
