package dev.tokenpipe.demo;

import dev.tokenpipe.net.RunningServer;
import dev.tokenpipe.net.Sockets;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpContentDecompressor;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.zip.GZIPOutputStream;

/**
 * A small HTTP/1.1 relay on loopback, in one of three roles. Each client connection gets its own upstream
 * connection on the same event loop; nothing is aggregated on the response path except where the role says so.
 *
 * <ul>
 *   <li>{@link Role#BROWSER}: what a browser's network stack does before page script sees a stream: it asks for
 *       {@code gzip, deflate} and inflates each piece the moment it arrives. {@code bench} itself asks for
 *       {@code identity}, so without this hop a compressing proxy would never compress what bench measures; with
 *       it, bench sees what a user's browser would.
 *   <li>{@link Role#EMULATED_COMPRESSING_PROXY}: the stand-in for the "before" NGINX when NGINX is not installed:
 *       an {@code text/event-stream} response is held until it ends, then sent gzipped (as NGINX does with
 *       {@code gzip_types text/event-stream}), unless the origin sent {@code X-Accel-Buffering: no}.
 *   <li>{@link Role#EMULATED_STREAMING_PROXY}: the stand-in for the "after" NGINX block: passes every piece on.
 * </ul>
 */
final class HttpRelay implements AutoCloseable {
  enum Role { BROWSER, EMULATED_COMPRESSING_PROXY, EMULATED_STREAMING_PROXY }

  private static final int MAX_REQUEST_BYTES = 1 << 20;
  private static final int CONNECT_TIMEOUT_MILLIS = 5_000;

  private final Role role;
  private final int upstreamPort;
  private final RunningServer server;

  private HttpRelay(Role role, int upstreamPort) {
    this.role = role;
    this.upstreamPort = upstreamPort;
    this.server = RunningServer.start("127.0.0.1", 0, 1, new ChannelInitializer<Channel>() {
      @Override
      protected void initChannel(Channel ch) {
        ch.pipeline()
            .addLast("http", new HttpServerCodec())
            .addLast("request-body", new HttpObjectAggregator(MAX_REQUEST_BYTES))
            .addLast("relay", new Front());
      }
    });
  }

  /** Starts a relay on a free loopback port in front of {@code 127.0.0.1:upstreamPort}. */
  static HttpRelay start(Role role, int upstreamPort) {
    return new HttpRelay(role, upstreamPort);
  }

  int port() {
    return server.port();
  }

  @Override
  public void close() {
    server.close();
  }

  /** The client side: one upstream connection per client connection, opened on the first request. */
  private final class Front extends ChannelInboundHandlerAdapter {
    private Channel upstream;
    private boolean acceptsGzip;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (!(msg instanceof FullHttpRequest req)) {
        ReferenceCountUtil.release(msg);
        return;
      }
      String accept = req.headers().get(HttpHeaderNames.ACCEPT_ENCODING, "");
      req.headers().set(HttpHeaderNames.HOST, "127.0.0.1:" + upstreamPort);
      if (role == Role.BROWSER) {
        req.headers().set(HttpHeaderNames.ACCEPT_ENCODING, "gzip, deflate");
      }
      acceptsGzip = accept.toLowerCase(Locale.ROOT).contains("gzip");
      if (upstream != null && upstream.isActive()) {
        upstream.writeAndFlush(req);
        return;
      }
      Channel client = ctx.channel();
      Sockets.client(client.eventLoop(), new ChannelInitializer<Channel>() {
        @Override
        protected void initChannel(Channel ch) {
          ch.pipeline().addLast("http", new HttpClientCodec());
          if (role == Role.BROWSER) {
            // Streaming inflate: each arriving piece is inflated and passed on at once, no aggregation.
            ch.pipeline().addLast("inflate", new HttpContentDecompressor(0));
          }
          ch.pipeline().addLast("relay", new Back(client, Front.this));
        }
      }, CONNECT_TIMEOUT_MILLIS).connect("127.0.0.1", upstreamPort).addListener((ChannelFutureListener) f -> {
        if (!f.isSuccess()) {
          req.release();
          FullHttpResponse bad = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.BAD_GATEWAY,
              Unpooled.copiedBuffer("upstream 127.0.0.1:" + upstreamPort + " refused\n", StandardCharsets.UTF_8));
          HttpUtil.setContentLength(bad, bad.content().readableBytes());
          client.writeAndFlush(bad).addListener(ChannelFutureListener.CLOSE);
          return;
        }
        Channel ch = f.channel();
        upstream = ch;
        ch.closeFuture().addListener(c -> client.eventLoop().execute(() -> {
          if (upstream == ch) {
            upstream = null;
          }
        }));
        ch.writeAndFlush(req);
      });
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      if (upstream != null) {
        upstream.close();
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }

  /** The upstream side: passes the response on piece by piece, or holds it (compressing proxy emulation). */
  private final class Back extends ChannelInboundHandlerAdapter {
    private final Channel client;
    private final Front front;
    private HttpResponse held;
    private CompositeByteBuf heldBody;
    private boolean inResponse;

    Back(Channel client, Front front) {
      this.client = client;
      this.front = front;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof HttpResponse head) {
        inResponse = true;
        boolean optedOut = "no".equalsIgnoreCase(head.headers().get("X-Accel-Buffering", "").trim());
        if (role != Role.BROWSER) {
          head.headers().remove("X-Accel-Buffering"); // like NGINX: a hint for the proxy, not for the client
        }
        boolean eventStream = head.headers().get(HttpHeaderNames.CONTENT_TYPE, "").startsWith("text/event-stream");
        if (role == Role.EMULATED_COMPRESSING_PROXY && eventStream && !optedOut) {
          held = head;
          heldBody = ctx.alloc().compositeBuffer(Integer.MAX_VALUE);
        }
      }
      if (held != null) {
        if (msg instanceof HttpContent c) {
          heldBody.addComponent(true, c.content().retain());
        }
        boolean last = msg instanceof LastHttpContent;
        ReferenceCountUtil.release(msg);
        if (last) {
          releaseHeld();
        }
        return;
      }
      if (msg instanceof LastHttpContent) {
        inResponse = false;
      }
      if (msg instanceof HttpContent || msg instanceof FullHttpResponse) {
        client.writeAndFlush(msg);
      } else {
        client.write(msg); // the head leaves with the first piece of body
      }
    }

    /** The end of a held stream: all of it at once, gzipped when the client accepts it, as NGINX's gzip does. */
    private void releaseHeld() {
      byte[] body = ByteBufUtil.getBytes(heldBody);
      heldBody.release();
      heldBody = null;
      HttpResponse head = held;
      held = null;
      inResponse = false;
      byte[] wire = front.acceptsGzip ? gzip(body) : body;
      FullHttpResponse out = new DefaultFullHttpResponse(head.protocolVersion(), head.status(), Unpooled.wrappedBuffer(wire));
      out.headers().set(head.headers());
      out.headers().remove(HttpHeaderNames.TRANSFER_ENCODING);
      out.headers().set("Via", "1.1 tokenpipe-demo-emulated-proxy");
      if (front.acceptsGzip) {
        out.headers().set(HttpHeaderNames.CONTENT_ENCODING, "gzip");
      }
      HttpUtil.setContentLength(out, wire.length);
      client.writeAndFlush(out);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      if (heldBody != null) {
        heldBody.release();
        heldBody = null;
      }
      if (inResponse) {
        client.close(); // the upstream died mid-response: the client must see the stream end early
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }

  static byte[] gzip(byte[] body) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(Math.max(64, body.length / 4));
    try (GZIPOutputStream gz = new GZIPOutputStream(bytes)) {
      gz.write(body);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }
}
