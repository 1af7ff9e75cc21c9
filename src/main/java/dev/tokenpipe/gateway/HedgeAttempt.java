package dev.tokenpipe.gateway;

import dev.tokenpipe.dialect.Dialects;
import dev.tokenpipe.dialect.EventKind;
import dev.tokenpipe.dialect.Framing;
import dev.tokenpipe.net.Buffers;
import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.sse.SseException;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import java.util.EnumSet;
import java.util.Set;
import java.util.function.Function;

/**
 * The second, hedged attempt of one stream ({@link HedgePolicy}), from its start until it is decided. It
 * connects to another upstream, sends the same request, reads the head and holds the events that carry
 * nothing generated (in a buffer of its own, never the client's), and writes nothing to the client. The
 * first event that would commit a stream (generated output, a terminator, an event the gateway cannot
 * read, an oversized event, or more than {@link ClientStream#MAX_HELD_BYTES} held) makes it
 * {@link State#WON}: it hands its connection, head, relay and held events to its {@link Owner}, which
 * relays them as its own stream. Any failure before that makes it {@link State#FAILED}: its connection is
 * closed and the owner told, and nothing of it reaches the client. {@link #cancel} closes it (the other
 * attempt won, or the request ended): the connection is closed, never pooled, so the model server stops.
 *
 * <p>On the exchange's event loop only, like the exchange itself.
 */
final class HedgeAttempt implements UpstreamHandler.Reader {
  /** The hedge's own lifecycle; {@link #moveTo} rejects any transition not listed in {@link #allowedNext}. */
  enum State {
    /** Taking a connection from the pool. */
    CONNECTING,
    /** Request sent, waiting for the final head. */
    AWAITING_HEAD,
    /** A 2xx stream head came: events without generated output are held. */
    HOLDING,
    /** Delivered the first committing event: handed over to the exchange. */
    WON,
    /** Failed before deciding anything; closed. */
    FAILED,
    /** Closed because the other attempt won or the request ended. */
    CANCELLED;

    boolean isTerminal() {
      return this == WON || this == FAILED || this == CANCELLED;
    }

    Set<State> allowedNext() {
      return switch (this) {
        case CONNECTING -> EnumSet.of(AWAITING_HEAD, FAILED, CANCELLED);
        case AWAITING_HEAD -> EnumSet.of(CONNECTING, HOLDING, FAILED, CANCELLED);
        case HOLDING -> EnumSet.of(WON, FAILED, CANCELLED);
        case WON, FAILED, CANCELLED -> EnumSet.noneOf(State.class);
      };
    }
  }

  /** The exchange the hedge works for. */
  interface Owner {
    /**
     * The hedge won. The owner takes over {@link #channel()}, {@link #head()}, {@link #relay()} and
     * {@link #takeHeld()}, and relays {@code out} (owned by it now) as it would its own read.
     *
     * @param last the read that decided was the body's last
     */
    void hedgeWon(HedgeAttempt hedge, ByteBuf out, long readNanos, boolean midEvent, boolean last);

    /** The hedge failed before deciding; it is closed already. */
    void hedgeFailed(HedgeAttempt hedge, ErrorKind kind, ApiError error);
  }

  private final Owner owner;
  private final GatewayContext gw;
  /** Hands out a connection to an upstream (the pool on the exchange's loop; a test's own channel). */
  private final Function<Upstream, Future<Channel>> connect;
  private final ClientStream client;
  private final Upstream upstream;
  private final Function<Upstream, FullHttpRequest> request;
  private final GatewayMetrics metrics;
  private final Sink sink = new Sink();

  private State state = State.CONNECTING;
  private Channel channel;
  private boolean reused;
  private boolean staleRetried;
  private boolean inInformational;
  private HttpResponse head;
  private Framing framing;
  private boolean reusable;
  private EventRelay relay;
  private StreamScanner scanner;
  private ByteBuf held;
  private long sentNanos;
  /** In flight on its upstream from start to close; its first token (or its lack) goes to the balancer. */
  private UpstreamSet.Lease lease = UpstreamSet.Lease.NONE;

  HedgeAttempt(Owner owner, GatewayContext gw, EventLoop loop, ClientStream client, Upstream upstream,
      Function<Upstream, FullHttpRequest> request, GatewayMetrics metrics) {
    this(owner, gw, u -> gw.pool().acquire(loop, u), client, upstream, request, metrics);
  }

  HedgeAttempt(Owner owner, GatewayContext gw, Function<Upstream, Future<Channel>> connect, ClientStream client,
      Upstream upstream, Function<Upstream, FullHttpRequest> request, GatewayMetrics metrics) {
    this.owner = owner;
    this.gw = gw;
    this.connect = connect;
    this.client = client;
    this.upstream = upstream;
    this.request = request;
    this.metrics = metrics;
  }

  State state() {
    return state;
  }

  Upstream upstream() {
    return upstream;
  }

  Channel channel() {
    return channel;
  }

  HttpResponse head() {
    return head;
  }

  Framing framing() {
    return framing;
  }

  boolean reusable() {
    return reusable;
  }

  EventRelay relay() {
    return relay;
  }

  /** When this attempt's request was written: its first token is timed from here. */
  long sentNanos() {
    return sentNanos;
  }

  /** The held events (whole, without generated output), now the caller's; null if none. */
  ByteBuf takeHeld() {
    ByteBuf h = held;
    held = null;
    return h;
  }

  private void moveTo(State next) {
    if (!state.allowedNext().contains(next)) {
      throw new IllegalStateException("hedge state " + state + " -> " + next + " is not allowed");
    }
    state = next;
  }

  /** The attempt's lease on its upstream; the exchange takes it over when the hedge wins. */
  UpstreamSet.Lease lease() {
    return lease;
  }

  void start() {
    lease = gw.upstreams().begin(upstream);
    Future<Channel> f = connect.apply(upstream);
    reused = f.isDone();
    f.addListener(done -> onAcquired(f));
  }

  private void onAcquired(Future<Channel> f) {
    if (state != State.CONNECTING) {
      if (f.isSuccess()) {
        f.getNow().close();
      }
      return;
    }
    if (!f.isSuccess()) {
      ConnectFailure failure = ConnectFailure.of(f.cause(), metrics);
      if (!failure.local()) {
        gw.upstreams().markFailed(upstream);
      }
      fail(failure.kind(), failure.error());
      return;
    }
    channel = f.getNow();
    channel.pipeline().get(UpstreamHandler.class).bind(this);
    channel.config().setAutoRead(true); // it holds at most MAX_HELD_BYTES; the client's pace matters once it won
    moveTo(State.AWAITING_HEAD);
    sentNanos = client.clock().nanoTime();
    channel.writeAndFlush(request.apply(upstream)).addListener((ChannelFutureListener) wf -> {
      if (!wf.isSuccess()) {
        wf.channel().close(); // reported through channelInactive -> onUpstreamClosed
      }
    });
  }

  @Override
  public void onUpstreamMessage(Object msg) {
    try {
      if (state.isTerminal()) {
        return;
      }
      if (msg instanceof HttpObject o && o.decoderResult().isFailure()) {
        gw.upstreams().markFailed(upstream);
        fail(ErrorKind.UPSTREAM_PROTOCOL, null);
        return;
      }
      if (msg instanceof HttpResponse h) {
        if (h.status().codeClass() == HttpStatusClass.INFORMATIONAL
            && h.status().code() != HttpResponseStatus.SWITCHING_PROTOCOLS.code()) {
          inInformational = true;
          return;
        }
        onHead(h);
        if (state.isTerminal()) {
          return;
        }
      }
      if (msg instanceof HttpContent content) {
        if (inInformational) {
          inInformational = !(content instanceof LastHttpContent);
          return;
        }
        onContent(content);
      }
    } finally {
      ReferenceCountUtil.release(msg);
    }
  }

  private void onHead(HttpResponse h) {
    int status = h.status().code();
    if (status < 200 || status >= 300) {
      // The hedge is silent: its error never reaches the client, the first attempt goes on.
      if (RetryPolicy.unhealthyStatus(status)) {
        gw.upstreams().markFailed(upstream);
      }
      fail(ErrorKind.UPSTREAM_STATUS, null);
      return;
    }
    Framing f = Framing.of(h.headers());
    if (!f.isStream() || (client.headSent() && client.framing() != f)) {
      // A whole body, or a framing other than the one the client already has: it cannot take over the stream.
      fail(ErrorKind.INVALID_SSE, null);
      return;
    }
    head = h;
    framing = f;
    reusable = HttpUtil.isKeepAlive(h) && (HttpUtil.isContentLengthSet(h) || HttpUtil.isTransferEncodingChunked(h));
    relay = new EventRelay(f, channel.alloc());
    scanner = new StreamScanner(f, false, sink);
    moveTo(State.HOLDING);
  }

  private void onContent(HttpContent content) {
    if (state != State.HOLDING) {
      return; // a body before a head cannot be: the decoder reports it as a failure
    }
    long readNanos = client.clock().nanoTime(); // the exchange and the client compare it with their clock
    boolean last = content instanceof LastHttpContent;
    ByteBuf buf = content.content();
    if (buf.isReadable()) {
      if (client.wroteOwnBytes()) {
        relay.stripLeadingBom();
      }
      ByteBuf out = relay.feed(buf);
      if (out != null) {
        boolean midEvent = !relay.atBoundary();
        try {
          scanner.feed(out, readNanos);
        } catch (SseException e) {
          out.release();
          gw.upstreams().markFailed(upstream);
          fail(ErrorKind.INVALID_SSE, null);
          return;
        }
        if (sink.error != null && !sink.generated) {
          out.release();
          gw.upstreams().markFailed(upstream);
          fail(ErrorKind.UPSTREAM_STATUS, UpstreamErrorBody.toApiError(Dialects.OPENAI_CHAT, 502, sink.error));
          return;
        }
        if (sink.generated || sink.terminator || sink.opaque || midEvent) {
          win(out, readNanos, midEvent, last);
          return;
        }
        if (!hold(out)) {
          win(null, readNanos, false, last); // past the hold bound: the held events commit, as the first attempt's would
          return;
        }
      }
    }
    if (last) {
      // Ended with nothing generated and without its terminator: a cut.
      reusable = false;
      gw.upstreams().markFailed(upstream);
      fail(ErrorKind.UPSTREAM_CUT, null);
    }
  }

  /** Holds {@code out}; false when the held events passed the bound (they are then relayed like a commit). */
  private boolean hold(ByteBuf out) {
    out = Buffers.compact(channel.alloc(), out); // never a read's spare room while the race is decided
    if (held == null) {
      held = out;
    } else {
      CompositeByteBuf c = held instanceof CompositeByteBuf cb ? cb : channel.alloc().compositeBuffer().addComponent(true, held);
      held = c.addComponent(true, out);
    }
    return held.readableBytes() <= ClientStream.MAX_HELD_BYTES;
  }

  /** @param out the deciding events, or null when the held events themselves decide */
  private void win(ByteBuf out, long readNanos, boolean midEvent, boolean last) {
    moveTo(State.WON);
    channel.pipeline().get(UpstreamHandler.class).unbind();
    owner.hedgeWon(this, out != null ? out : takeHeld(), readNanos, midEvent, last);
  }

  @Override
  public void onUpstreamClosed(Throwable cause) {
    Channel ch = channel;
    if (state.isTerminal()) {
      return;
    }
    if (state == State.AWAITING_HEAD && reused && !staleRetried && head == null) {
      // A pooled keep-alive connection the upstream had already closed: once more, on a fresh one.
      staleRetried = true;
      channel = null;
      moveTo(State.CONNECTING);
      start();
      return;
    }
    if (ch != null && head == null) {
      gw.upstreams().markFailed(upstream);
    }
    fail(ErrorKind.ofUpstreamClose(cause), null);
  }

  private void fail(ErrorKind kind, ApiError error) {
    moveTo(State.FAILED);
    close();
    lease.end();
    owner.hedgeFailed(this, kind, error);
  }

  /** The other attempt won, or the request ended: close now, so the model server stops generating. */
  void cancel() {
    if (state.isTerminal()) {
      return;
    }
    moveTo(State.CANCELLED);
    close();
    if (sentNanos != 0) {
      lease.noTokenAfter(client.clock().nanoTime() - sentNanos); // it lost the race: its first token was at least this late
    }
    lease.end();
  }

  private void close() {
    Channel ch = channel;
    channel = null;
    if (relay != null) {
      relay.release();
      relay = null;
    }
    if (held != null) {
      held.release();
      held = null;
    }
    if (ch != null) {
      ch.pipeline().get(UpstreamHandler.class).unbind();
      ch.close(); // never pooled: a cancelled response would still be arriving on it
    }
  }

  /** What the held-back events carried, read on the side like {@link StreamBooks} does. */
  private static final class Sink implements StreamScanner.Sink {
    boolean generated;
    boolean terminator;
    boolean opaque;
    String error;

    @Override
    public void onChunk(Chunk chunk, long readNanos) {
      generated |= chunk.isContent();
      terminator |= chunk.done();
      if (chunk.error() != null && error == null) {
        error = chunk.error();
      }
    }

    @Override
    public void onEvent(long kind, long readNanos) {
      generated |= Chunk.isContent(kind, false);
      terminator |= EventKind.has(kind, EventKind.TERMINATOR);
    }

    @Override
    public void onOpaqueEvent() {
      opaque = true;
    }
  }
}
