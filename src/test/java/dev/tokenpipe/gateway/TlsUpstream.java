package dev.tokenpipe.gateway;

import static org.junit.jupiter.api.Assertions.fail;

import dev.tokenpipe.net.Sockets;
import dev.tokenpipe.net.Transport;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.ssl.SniHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Assumptions;

/**
 * A minimal HTTPS model server for the gateway's TLS tests: Netty with an {@link SniHandler} (which
 * records the SNI name the client sent) and a server certificate from {@link Certs}. Every request is
 * answered with a chat-completion event stream: {@code events} chunks {@code itlMillis} apart, each
 * written and flushed on its own (so each is its own TLS record), then {@code data: [DONE]}. Keep-alive.
 */
final class TlsUpstream implements AutoCloseable {
  final AtomicInteger connections = new AtomicInteger();
  final AtomicInteger handshakes = new AtomicInteger();
  /** SNI server names received, "-" for a handshake without SNI. */
  final Queue<String> sniNames = new ConcurrentLinkedQueue<>();
  final Queue<String> hostHeaders = new ConcurrentLinkedQueue<>();

  private final EventLoopGroup loops = Transport.get().newGroup(1);
  private final Channel server;
  private final int events;
  private final long itlMillis;

  TlsUpstream(Path certPem, Path keyPem, int events, long itlMillis) throws IOException, InterruptedException {
    this.events = events;
    this.itlMillis = itlMillis;
    SslContext ssl = SslContextBuilder.forServer(certPem.toFile(), keyPem.toFile()).sslProvider(SslProvider.JDK).build();
    server = Sockets.server(loops, loops, new ChannelInitializer<>() {
      @Override
      protected void initChannel(Channel ch) {
        connections.incrementAndGet();
        ch.pipeline()
            .addLast("sni", new SniHandler(host -> {
              sniNames.add(host == null ? "-" : host);
              return ssl;
            }))
            .addLast("http", new HttpServerCodec())
            .addLast("request", new HttpObjectAggregator(1 << 20))
            .addLast("stream", new StreamHandler());
      }
    }).bind("127.0.0.1", 0).sync().channel();
  }

  int port() {
    return ((java.net.InetSocketAddress) server.localAddress()).getPort();
  }

  String url() {
    return "https://127.0.0.1:" + port();
  }

  private final class StreamHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
      hostHeaders.add(String.valueOf(req.headers().get(HttpHeaderNames.HOST)));
      HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
      head.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream");
      HttpUtil.setTransferEncodingChunked(head, true);
      ctx.writeAndFlush(head);
      send(ctx, 0);
    }

    private void send(ChannelHandlerContext ctx, int i) {
      if (!ctx.channel().isActive()) {
        return;
      }
      if (i == events) {
        ctx.write(text("data: [DONE]\n\n"));
        ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
        return;
      }
      ctx.writeAndFlush(text("id: tp." + i + ".0\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok" + i + "\"}}]}\n\n"));
      ctx.executor().schedule(() -> send(ctx, i + 1), itlMillis, TimeUnit.MILLISECONDS);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
      if (evt instanceof SslHandshakeCompletionEvent e && e.isSuccess()) {
        handshakes.incrementAndGet();
      }
      ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close(); // e.g. the gateway rejected our certificate: part of several tests
    }
  }

  private static DefaultHttpContent text(String s) {
    return new DefaultHttpContent(Unpooled.copiedBuffer(s, StandardCharsets.UTF_8));
  }

  @Override
  public void close() {
    server.close().syncUninterruptibly();
    loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  /**
   * A throwaway CA and server certificates made with the {@code openssl} CLI: {@code good} for
   * 127.0.0.1 and localhost, {@code wrongHost} for wrong.example only, both signed by {@code ca}.
   */
  record Certs(Path ca, Path goodCert, Path goodKey, Path wrongHostCert, Path wrongHostKey) {

    /** Skips the calling tests when openssl is missing, unless env CI=true, where that is a failure. */
    static Certs create(Path dir) throws IOException, InterruptedException {
      if (!run(dir, "openssl", "version")) {
        String msg = "the openssl CLI is not installed (Debian package 'openssl'); TLS upstream tests skipped";
        if ("true".equals(System.getenv("CI"))) {
          fail(msg + " - but CI=true, where it is required");
        }
        Assumptions.abort(msg);
      }
      Path ca = dir.resolve("ca.pem");
      Path caKey = dir.resolve("ca.key");
      require(dir, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
          "-subj", "/CN=tokenpipe test CA", "-keyout", caKey.toString(), "-out", ca.toString(),
          "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
      Certs c = new Certs(ca, dir.resolve("good.pem"), dir.resolve("good.key"),
          dir.resolve("wrong.pem"), dir.resolve("wrong.key"));
      leaf(dir, ca, caKey, "localhost", "IP:127.0.0.1,DNS:localhost", c.goodCert, c.goodKey);
      leaf(dir, ca, caKey, "wrong.example", "DNS:wrong.example", c.wrongHostCert, c.wrongHostKey);
      return c;
    }

    private static void leaf(Path dir, Path ca, Path caKey, String cn, String san, Path cert, Path key)
        throws IOException, InterruptedException {
      Path csr = dir.resolve(cn + ".csr");
      Path ext = dir.resolve(cn + ".ext");
      Files.writeString(ext, "subjectAltName=" + san + "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
      require(dir, "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn,
          "-keyout", key.toString(), "-out", csr.toString());
      require(dir, "openssl", "x509", "-req", "-in", csr.toString(), "-CA", ca.toString(), "-CAkey", caKey.toString(),
          "-CAcreateserial", "-days", "1", "-extfile", ext.toString(), "-out", cert.toString());
    }

    private static void require(Path dir, String... cmd) throws IOException, InterruptedException {
      if (!run(dir, cmd)) {
        throw new IllegalStateException("failed: " + String.join(" ", cmd));
      }
    }

    private static boolean run(Path dir, String... cmd) throws InterruptedException {
      try {
        Process p = new ProcessBuilder(List.of(cmd)).directory(dir.toFile()).redirectErrorStream(true)
            .redirectOutput(dir.resolve("openssl.log").toFile()).start();
        return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
      } catch (IOException e) {
        return false; // not installed
      }
    }
  }
}
