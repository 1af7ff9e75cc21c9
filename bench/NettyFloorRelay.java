// The floor under any Netty gateway: a TCP relay in the shape of Netty's HexDumpProxy example, on the transport
// and JVM flags `serve` runs with, that parses nothing. Each client connection gets its own upstream
// connection; every read is written and flushed to the other side as it came, and reads pause while the
// other side is not writable (backpressure, as in serve). bench/gateway-overhead.sh runs it as the "floor"
// path (FLOOR=1) so that serve's CPU per event splits into what Netty on the JVM costs and what serve's own HTTP and SSE work costs.
//
// Usage (loopback only): TOKENPIPE_SOURCE=bench/NettyFloorRelay.java ./tokenpipe LISTEN_PORT UPSTREAM_PORT
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;

public class NettyFloorRelay {
  public static void main(String[] args) throws InterruptedException {
    int listen = args.length == 2 ? port(args[0]) : -1;
    int upstream = args.length == 2 ? port(args[1]) : -1;
    if (listen < 0 || upstream < 0) {
      System.err.println("usage: NettyFloorRelay LISTEN_PORT UPSTREAM_PORT (both on 127.0.0.1, 1-65535)");
      System.exit(64);
    }
    // One event loop, named like serve's so the benchmark's per-thread split counts it the same way.
    EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("tokenpipe-floor"),
        EpollIoHandler.newFactory());
    Channel server = new ServerBootstrap().group(loop).channel(EpollServerSocketChannel.class)
        .childOption(ChannelOption.TCP_NODELAY, true).childOption(ChannelOption.AUTO_READ, false)
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(new Frontend(upstream));
          }
        }).bind("127.0.0.1", listen).sync().channel();
    System.err.println("floor relay on 127.0.0.1:" + listen + " -> 127.0.0.1:" + upstream);
    server.closeFuture().sync();
  }

  private static int port(String s) {
    try {
      int p = Integer.parseInt(s);
      return p >= 1 && p <= 65535 ? p : -1;
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /**
   * One direction: each read goes to the peer, written and flushed as it came. Backpressure as in serve: reads
   * stay on (auto-read) while the peer is writable and pause when it is not. A relay that asks for every read
   * itself (auto-read off, as Netty's HexDumpProxy does) pays two epoll_ctl calls per read to arm and disarm
   * EPOLLIN, which serve does not, and would not be the floor.
   */
  static class Pipe extends ChannelInboundHandlerAdapter {
    Channel peer;

    Pipe(Channel peer) {
      this.peer = peer;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      peer.writeAndFlush(msg, peer.voidPromise()); // a failed write closes the peer: exceptionCaught below
      if (!peer.isWritable()) {
        ctx.channel().config().setAutoRead(false);
      }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
      if (peer != null) {
        peer.config().setAutoRead(ctx.channel().isWritable());
      }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      if (peer != null) {
        peer.close();
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close(); // channelInactive closes the peer
    }
  }

  /** Client side: connects its own upstream connection, then pipes reads both ways. */
  static final class Frontend extends Pipe {
    private final int upstreamPort;

    Frontend(int upstreamPort) {
      super(null);
      this.upstreamPort = upstreamPort;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      Channel client = ctx.channel();
      var connect = new Bootstrap().group(client.eventLoop()).channel(EpollSocketChannel.class)
          .option(ChannelOption.TCP_NODELAY, true)
          .handler(new Pipe(client)).connect("127.0.0.1", upstreamPort);
      peer = connect.channel();
      connect.addListener((ChannelFutureListener) f -> {
        if (f.isSuccess()) {
          client.config().setAutoRead(true); // the client's bytes wait until there is somewhere to put them
        } else {
          client.close();
        }
      });
    }
  }
}
