package dev.tokenpipe.gateway;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.UTF_8;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.net.ConnectException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A whole gateway connection without sockets, driven from the test thread: the client connection is an
 * {@link EmbeddedChannel} with the real pipeline ({@link GatewayInitializer}: timeouts, HTTP codec, aggregator,
 * {@link GatewayHandler}), raw request bytes in, raw response bytes out; every upstream connection is an
 * {@link EmbeddedChannel} with the real upstream pipeline ({@link UpstreamInitializer}: HTTP client codec,
 * inflater, {@link UpstreamHandler}), handed to the exchange through {@link UpstreamConnections} when the test
 * {@link #accept accepts} (or {@link #refuse refuses}) the connect, with scripted response bytes in.
 *
 * <p>Time: the exchange's timers (head wait, first token, upstream idle, slow client, heartbeat) are scheduled
 * on the client channel's loop and read that loop's clock, which is frozen here and moves only by
 * {@link #advance}; the upstream channels schedule nothing. Each channel has its own embedded loop, and
 * every step here runs the tasks of all of them until none is left ({@link #settle}).
 *
 * <p>Tasks: on a real loop, what a handler triggers for later (a closed channel's {@code channelInactive},
 * a writability change) runs after the current task. An embedded channel runs its pending tasks as soon as
 * an operation on it returns, unless it is inside one of its own operations; so every step of the test runs
 * inside one operation of the client channel ({@link #step}), and the gateway's own close of the client
 * cannot call back into an exchange that is still in the middle of ending.
 */
final class EmbeddedGateway implements AutoCloseable {
  final GatewayContext gw;
  final EmbeddedChannel client;
  private final Connector connector = new Connector();
  private final List<ProxyExchange> started = new ArrayList<>();
  private final List<Conn> conns = new ArrayList<>();
  private final List<StreamState> states = new ArrayList<>();
  /** The exchange {@link #states} are about: the latest one started on this connection. */
  private ProxyExchange tracked;
  private final StringBuilder clientBytes = new StringBuilder();

  /** @param upstreams base URLs, tried in this order (round-robin from the first) */
  EmbeddedGateway(GatewayConfig config, String... upstreams) {
    List<Upstream> list = new ArrayList<>();
    for (String u : upstreams) {
      list.add(Upstream.parse(u));
    }
    Set<ProxyExchange> running = new HashSet<>() {
      @Override
      public boolean add(ProxyExchange e) {
        started.add(e); // the exchange may end within the step that started it
        return super.add(e);
      }
    };
    gw = new GatewayContext(config, new UpstreamSet(list, config.unhealthyFor().toNanos()), connector,
        new ApiKeys(Set.of()), new GatewayMetrics(), null, running, new AtomicInteger(), new AtomicBoolean(),
        new AtomicBoolean(), HedgePolicy.of(config), AccessLog.ON);
    client = new EmbeddedChannel(new GatewayInitializer(gw));
    client.pipeline().addFirst("test-step", new StepRunner());
    client.freezeTime();
  }

  /** A test step travelling through the client's pipeline head, run there and not passed on. */
  private record Step(Runnable body, Throwable[] thrown) {}

  private static final class StepRunner extends ChannelInboundHandlerAdapter {
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (!(msg instanceof Step step)) {
        ctx.fireChannelRead(msg);
        return;
      }
      try {
        step.body().run();
      } catch (Throwable t) {
        step.thrown()[0] = t; // an assertion in a step fails the test, not the client connection
      }
    }
  }

  /**
   * Runs {@code body} as one task of the client's loop: whatever it closes or fires later runs after it, as
   * on a real loop. Then {@link #settle settles}.
   */
  void step(Runnable body) {
    onClientLoop(body);
    settle();
  }

  private void onClientLoop(Runnable body) {
    if (!client.isOpen()) {
      body.run(); // nothing can close the client any more
      return;
    }
    Throwable[] thrown = new Throwable[1];
    client.writeOneInbound(new Step(body, thrown));
    if (thrown[0] instanceof RuntimeException e) {
      throw e;
    }
    if (thrown[0] instanceof Error e) {
      throw e;
    }
  }

  // ---------------------------------------------------------------- client side

  /** The client sends {@code POST path} with a JSON body. */
  EmbeddedGateway post(String path, String json) {
    byte[] body = json.getBytes(UTF_8);
    String head = "POST " + path + " HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        + "Content-Length: " + body.length + "\r\n\r\n";
    ByteBuf raw = Unpooled.buffer();
    raw.writeBytes(head.getBytes(ISO_8859_1)).writeBytes(body);
    step(() -> client.pipeline().fireChannelRead(raw));
    return this;
  }

  /** The client closes its connection. */
  void clientCloses() {
    step(client::close);
  }

  /**
   * The client stops (or resumes) reading. An embedded channel hands every flushed write over at once, so its
   * outbound buffer never fills; a user-defined writability bit makes it unwritable the same way a full
   * socket buffer does (the same writability event, the same {@code isWritable()}).
   */
  void clientWritable(boolean writable) {
    step(() -> client.unsafe().outboundBuffer().setUserDefinedWritability(1, writable));
  }

  /** Everything the client received so far, as one string (bytes as ISO-8859-1 chars, so lengths are byte counts). */
  String clientBytes() {
    return clientBytes.toString();
  }

  Response response() {
    return Response.parse(clientBytes.toString());
  }

  /** The response that starts at {@code offset} of {@link #clientBytes()} (a later one on this connection). */
  Response responseFrom(int offset) {
    return Response.parse(clientBytes.substring(offset));
  }

  // ---------------------------------------------------------------- the exchange

  /** The latest exchange started on this connection. */
  ProxyExchange exchange() {
    if (started.isEmpty()) {
      throw new AssertionError("no exchange started");
    }
    return started.getLast();
  }

  StreamState state() {
    return exchange().state();
  }

  /** The latest exchange's state after each step of the test, consecutive repeats folded. */
  List<StreamState> states() {
    return states;
  }

  // ---------------------------------------------------------------- upstream side

  /** Connects the oldest pending acquisition: a fresh upstream connection with the real pipeline. */
  Conn accept() {
    Pending p = connector.next();
    EmbeddedChannel ch = new EmbeddedChannel(new UpstreamInitializer(p.upstream, null));
    Conn c = new Conn(p.upstream, ch);
    conns.add(c);
    step(() -> p.promise.setSuccess(ch));
    return c;
  }

  /** Fails the oldest pending acquisition as a refused connect. Returns the upstream it was for. */
  Upstream refuse() {
    Pending p = connector.next();
    step(() -> p.promise.setFailure(new ConnectException("Connection refused")));
    return p.upstream;
  }

  /** Acquisitions the exchange is waiting for. */
  int pendingConnects() {
    return connector.pending.size();
  }

  List<Conn> connections() {
    return conns;
  }

  // ---------------------------------------------------------------- time

  /**
   * Moves the client loop's clock forward by {@code d}, stopping at every timer due on the way (in deadline
   * order, each at its own time, as on a real loop), and runs what they trigger.
   */
  void advance(Duration d) {
    long remaining = d.toNanos();
    long next = settleAndNext();
    for (int guard = 0; next >= 0 && next <= remaining; guard++) {
      if (guard > 100_000) {
        throw new AssertionError("a timer keeps re-arming itself with no delay");
      }
      client.advanceTimeBy(next, TimeUnit.NANOSECONDS);
      remaining -= next;
      next = settleAndNext();
    }
    client.advanceTimeBy(remaining, TimeUnit.NANOSECONDS);
    settleAndNext();
  }

  private long settleAndNext() {
    long[] next = new long[1];
    do {
      step(() -> next[0] = client.runScheduledPendingTasks());
    } while (anyPendingTasks());
    return next[0];
  }

  /** Runs every loop's tasks until none is left, collects what the client received, notes the state. */
  void settle() {
    for (int round = 0; anyPendingTasks(); round++) {
      if (round > 10_000) {
        throw new AssertionError("tasks keep scheduling tasks");
      }
      onClientLoop(client::runPendingTasks);
      for (Conn c : conns) {
        c.ch.runPendingTasks();
      }
    }
    client.checkException();
    for (Conn c : conns) {
      c.ch.checkException();
    }
    Object msg;
    while ((msg = client.readOutbound()) != null) {
      ByteBuf b = (ByteBuf) msg;
      String s = b.toString(ISO_8859_1);
      b.release();
      if (!s.isEmpty()) {
        clientBytes.append(s);
      }
    }
    if (!started.isEmpty()) {
      if (tracked != started.getLast()) {
        tracked = started.getLast();
        states.clear();
      }
      StreamState s = tracked.state();
      if (states.isEmpty() || states.getLast() != s) {
        states.add(s);
      }
    }
  }

  private boolean anyPendingTasks() {
    if (client.hasPendingTasks()) {
      return true;
    }
    for (Conn c : conns) {
      if (c.ch.hasPendingTasks()) {
        return true;
      }
    }
    return false;
  }

  @Override
  public void close() {
    client.finishAndReleaseAll();
    for (Conn c : conns) {
      c.ch.finishAndReleaseAll();
    }
    for (Pending p : connector.pending) {
      p.promise.tryFailure(new ConnectException("test over"));
    }
  }

  // ---------------------------------------------------------------- parts

  private record Pending(Upstream upstream, Promise<Channel> promise) {}

  /**
   * The seam, as {@link UpstreamPool} behaves: a released connection is kept idle and handed out again, already
   * completed; a new one waits for the test to {@link #accept} or {@link #refuse} it.
   */
  private final class Connector implements UpstreamConnections {
    final ArrayDeque<Pending> pending = new ArrayDeque<>();
    final ArrayDeque<Conn> idle = new ArrayDeque<>();

    @Override
    public Future<Channel> acquire(EventLoop loop, Upstream upstream) {
      for (var it = idle.descendingIterator(); it.hasNext(); ) {
        Conn c = it.next();
        if (c.upstream.equals(upstream)) {
          it.remove();
          if (c.ch.isActive()) {
            c.released = false;
            return loop.newSucceededFuture(c.ch);
          }
        }
      }
      Promise<Channel> p = loop.newPromise();
      pending.add(new Pending(upstream, p));
      return p;
    }

    @Override
    public void release(Channel ch, Upstream upstream) {
      ch.pipeline().get(UpstreamHandler.class).unbind();
      ch.config().setAutoRead(true);
      for (Conn c : conns) {
        if (c.ch == ch) {
          c.released = true;
          idle.add(c);
        }
      }
    }

    Pending next() {
      Pending p = pending.poll();
      if (p == null) {
        throw new AssertionError("the exchange is not connecting to any upstream");
      }
      return p;
    }
  }

  /** One upstream connection: what the gateway sent on it, and the response bytes the test scripts. */
  final class Conn {
    final Upstream upstream;
    final EmbeddedChannel ch;
    boolean released;
    private final StringBuilder received = new StringBuilder();

    Conn(Upstream upstream, EmbeddedChannel ch) {
      this.upstream = upstream;
      this.ch = ch;
    }

    /** The request bytes the gateway wrote on this connection so far. */
    String request() {
      Object msg;
      while ((msg = ch.readOutbound()) != null) {
        if (msg instanceof ByteBuf b) {
          received.append(b.toString(ISO_8859_1));
        }
        ReferenceCountUtil.release(msg);
      }
      return received.toString();
    }

    /** Raw response bytes from the upstream, as one socket read. */
    Conn send(String raw) {
      step(() -> {
        if (ch.isOpen()) {
          ch.writeInbound(Unpooled.copiedBuffer(raw, UTF_8));
        }
      });
      return this;
    }

    /**
     * {@link #send} in a buffer of {@code capacity} bytes, as Netty's adaptive receive buffer hands the loop a
     * read: its guess starts at 2 KiB and jumps to 64 KiB after one full read.
     */
    Conn send(String raw, int capacity) {
      step(() -> {
        if (ch.isOpen()) {
          ch.writeInbound(Unpooled.directBuffer(capacity).writeBytes(raw.getBytes(UTF_8)));
        }
      });
      return this;
    }

    /** A chunked response head. */
    Conn head(int status, String contentType) {
      return send("HTTP/1.1 " + status + " X\r\nContent-Type: " + contentType
          + "\r\nTransfer-Encoding: chunked\r\nX-Request-Id: req-" + upstream.host() + "\r\n\r\n");
    }

    /** An SSE stream head. */
    Conn sseHead() {
      return head(200, "text/event-stream");
    }

    /** A whole response with a body and its length. */
    Conn whole(int status, String contentType, String body) {
      return send("HTTP/1.1 " + status + " X\r\nContent-Type: " + contentType + "\r\nContent-Length: "
          + body.getBytes(UTF_8).length + "\r\n\r\n" + body);
    }

    /** One HTTP chunk carrying {@code data}. */
    Conn chunk(String data) {
      return send(Integer.toHexString(data.getBytes(UTF_8).length) + "\r\n" + data + "\r\n");
    }

    /** An SSE {@code data:} event, as one chunk. */
    Conn event(String data) {
      return chunk("data: " + data + "\n\n");
    }

    /** The last chunk: the response ends cleanly. */
    Conn end() {
      return send("0\r\n\r\n");
    }

    /** The upstream closes the connection. */
    void close() {
      step(ch::close);
    }

    boolean isOpen() {
      return ch.isOpen();
    }
  }

  /** The client's response as far as it arrived: status, headers, the body with chunk framing removed. */
  record Response(int status, Map<String, String> headers, String body, boolean ended) {
    static Response parse(String raw) {
      int h = raw.indexOf("\r\n\r\n");
      if (h < 0) {
        return new Response(0, Map.of(), "", false);
      }
      String[] lines = raw.substring(0, h).split("\r\n");
      int status = Integer.parseInt(lines[0].split(" ")[1]);
      Map<String, String> headers = new LinkedHashMap<>();
      for (int i = 1; i < lines.length; i++) {
        int colon = lines[i].indexOf(':');
        headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT), lines[i].substring(colon + 1).trim());
      }
      String rest = raw.substring(h + 4);
      StringBuilder body = new StringBuilder();
      boolean ended = false;
      if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
        int p = 0;
        while (true) {
          int eol = rest.indexOf("\r\n", p);
          if (eol < 0) {
            break;
          }
          int size = Integer.parseInt(rest.substring(p, eol), 16);
          if (size == 0) {
            ended = rest.startsWith("\r\n", eol + 2);
            break;
          }
          if (rest.length() < eol + 2 + size + 2) {
            throw new AssertionError("a chunk arrived in pieces: " + rest.substring(p));
          }
          body.append(rest, eol + 2, eol + 2 + size);
          if (!rest.startsWith("\r\n", eol + 2 + size)) {
            throw new AssertionError("chunk without its CRLF: " + rest.substring(p));
          }
          p = eol + 2 + size + 2;
        }
      } else {
        body.append(rest);
        String length = headers.get("content-length");
        ended = length != null && rest.length() >= Integer.parseInt(length);
      }
      return new Response(status, headers, new String(body.toString().getBytes(ISO_8859_1), UTF_8), ended);
    }
  }
}
