package dev.tokenpipe.client;

import dev.tokenpipe.net.Sockets;
import dev.tokenpipe.net.Transport;
import dev.tokenpipe.net.Loops;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.net.ConnectException;
import java.net.UnknownHostException;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;

/**
 * The streaming HTTP client shared by bench, chat and doctor: Netty on the shared transport, one exchange
 * per connection at a time, every socket read and every parsed event timestamped (see {@link ExchangeListener}).
 *
 * <p>Pipeline of a connection, in the order bytes pass through it:
 * <pre>
 *   [tls]      SslHandler, for https only
 *   "reads"    ReadClock        stamps each socket read (nanoTime, wall clock, size) before any decoding
 *   "http"     HttpClientCodec  HTTP/1.1 head and chunked-body decoding
 *   "exchange" ExchangeHandler  SSE/NDJSON framing, terminator and error classification, timeout
 * </pre>
 * Deliberately absent: HttpObjectAggregator (it would hold the whole stream), HttpContentDecompressor (we
 * send {@code Accept-Encoding: identity}; a compressed stream is itself a buffering finding) and any flush
 * consolidation.
 */
public final class StreamingClient implements AutoCloseable {
  private final EventLoopGroup group;
  private final boolean ownsGroup;
  private final int connectTimeoutMillis;
  private SslContext ssl;

  private StreamingClient(EventLoopGroup group, boolean ownsGroup, int connectTimeoutMillis) {
    this.group = group;
    this.ownsGroup = ownsGroup;
    this.connectTimeoutMillis = connectTimeoutMillis;
  }

  /**
   * A client with its own event loops.
   *
   * @param threads              event loops; 0 = one per core
   * @param connectTimeoutMillis TCP connect timeout in milliseconds, {@code >= 1}
   */
  public static StreamingClient create(int threads, int connectTimeoutMillis) {
    return new StreamingClient(Transport.get().newGroup(Loops.count(threads)), true, connectTimeoutMillis);
  }

  /** A client on event loops the caller owns. */
  public static StreamingClient on(EventLoopGroup group, int connectTimeoutMillis) {
    return new StreamingClient(group, false, connectTimeoutMillis);
  }

  public EventLoopGroup group() {
    return group;
  }

  /**
   * Opens a connection to {@code target} on {@code loop} (null = the group picks one). The future fails with
   * an exception whose message is one line ("connection refused: 127.0.0.1:1"); classify it as
   * {@link ErrorClass#CONNECT}.
   */
  public Future<Connection> connect(HttpTarget target, EventLoop loop) {
    EventLoop el = loop != null ? loop : group.next();
    Promise<Connection> promise = el.newPromise();
    ExchangeHandler exchange = new ExchangeHandler();
    SslContext tls = target.tls() ? sslContext() : null;
    ChannelInitializer<Channel> init = new ChannelInitializer<>() {
      @Override
      protected void initChannel(Channel ch) {
        ChannelPipeline p = ch.pipeline();
        if (tls != null) {
          p.addLast("tls", tls.newHandler(ch.alloc(), target.host(), target.port()));
        }
        ReadClock clock = new ReadClock(exchange);
        exchange.clock(clock);
        p.addLast("reads", clock);
        p.addLast("http", new HttpClientCodec());
        p.addLast("exchange", exchange);
      }
    };
    long start = System.nanoTime();
    ChannelFuture cf = Sockets.client(el, init, connectTimeoutMillis).connect(target.host(), target.port());
    cf.addListener(f -> {
      if (!f.isSuccess()) {
        promise.tryFailure(new ConnectException(connectFailure(target, f.cause())));
        return;
      }
      Channel ch = cf.channel();
      SslHandler sslHandler = ch.pipeline().get(SslHandler.class);
      if (sslHandler == null) {
        promise.trySuccess(new Connection(ch, exchange, System.nanoTime() - start));
        return;
      }
      sslHandler.handshakeFuture().addListener(h -> {
        if (h.isSuccess()) {
          promise.trySuccess(new Connection(ch, exchange, System.nanoTime() - start));
        } else {
          ch.close();
          promise.tryFailure(new ConnectException("TLS handshake with " + target.hostHeader() + " failed: "
              + ExchangeHandler.describe(h.cause())));
        }
      });
    });
    return promise;
  }

  /**
   * One exchange on a new connection that is closed afterwards: connect failures are reported to
   * {@code listener} as {@link ErrorClass#CONNECT} outcomes, so the caller has one path for every error.
   */
  public void exchangeOnce(ClientRequest request, ExchangeListener listener, long timeoutNanos) {
    connect(request.target(), null).addListener((Future<Connection> f) -> {
      if (!f.isSuccess()) {
        listener.onEnd(new ExchangeOutcome(ErrorClass.CONNECT, 0, f.cause().getMessage(), false, System.nanoTime(), false));
        return;
      }
      Connection c = f.getNow();
      c.send(request, new ExchangeListener() {
        @Override public void onWritten(long nanos, long wallMicros) { listener.onWritten(nanos, wallMicros); }
        @Override public void onHead(int status, io.netty.handler.codec.http.HttpHeaders headers, long nanos) {
          listener.onHead(status, headers, nanos);
        }
        @Override public void onRead(long nanos, long wallMicros, int bytes) { listener.onRead(nanos, wallMicros, bytes); }
        @Override public void onEvent(StreamEvent event) { listener.onEvent(event); }
        @Override public void onComment(String text, long nanos) { listener.onComment(text, nanos); }
        @Override public void onEnd(ExchangeOutcome outcome) {
          c.close();
          listener.onEnd(outcome);
        }
      }, timeoutNanos);
    });
  }

  /** One line for a failed connect: what failed and where, without a stack trace. */
  static String connectFailure(HttpTarget target, Throwable cause) {
    String where = target.hostHeader();
    Throwable c = cause;
    while (c.getCause() != null && !(c instanceof UnknownHostException)) {
      c = c.getCause();
    }
    if (c instanceof UnknownHostException) {
      return "unknown host: " + target.host();
    }
    String m = String.valueOf(ExchangeHandler.describe(cause)).toLowerCase(java.util.Locale.ROOT);
    if (m.contains("refused")) {
      return "connection refused: " + where;
    }
    if (m.contains("timed out")) {
      return "connect timed out: " + where;
    }
    return "cannot connect to " + where + ": " + ExchangeHandler.describe(cause);
  }

  private synchronized SslContext sslContext() {
    if (ssl == null) {
      try {
        ssl = SslContextBuilder.forClient().build();
      } catch (SSLException e) {
        throw new IllegalStateException("cannot set up TLS: " + e.getMessage(), e);
      }
    }
    return ssl;
  }

  @Override
  public void close() {
    if (ownsGroup) {
      Loops.shutdown(group, "client");
    }
  }
}
