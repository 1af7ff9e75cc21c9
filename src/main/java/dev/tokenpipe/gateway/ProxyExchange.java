package dev.tokenpipe.gateway;

import dev.tokenpipe.dialect.Dialect;
import dev.tokenpipe.dialect.Dialects;
import dev.tokenpipe.dialect.Framing;
import dev.tokenpipe.http.ChunkedBody;
import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.sse.SseEncoder;
import dev.tokenpipe.sse.SseException;
import dev.tokenpipe.sse.SseParser;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpObjectDecoder;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.LoggerFactory;

/**
 * One proxied request, from the client's request to the end of the response, on the client channel's
 * event loop (its upstream channel lives on the same loop, so every method here runs on one thread). It
 * drives the attempts and the lifecycle; the other jobs have homes of their own:
 * <ul>
 *   <li>{@link ClientStream}: what the client is sent (heads, events, heartbeats, in-band errors) and the
 *       completeness contract;
 *   <li>{@link EventRelay}: the token path, cutting the upstream body into whole events, bytes unchanged;
 *   <li>{@link StreamBooks} (fed by {@link StreamScanner}): what each event carries, TTFT, metrics, access log;
 *   <li>{@link RetryPolicy}: which failures may be tried again on another upstream.
 * </ul>
 *
 * <p>Head policy: a streaming request's response head waits for the upstream's head (up to
 * {@code --head-wait}), so the client gets the upstream's status and end-to-end headers, and an upstream
 * error before any generated content reaches it as that status. Only when the wait expires does the
 * gateway send its own 200 head, and from then on errors are in-band.
 *
 * <p>Failover: until the first event with generated output went out, events without it (role chunks) are
 * held, and a failed attempt (connect error, 5xx or 429, a cut, an in-band error event, a stream that ends
 * without its terminator) is retried on another healthy upstream; the client sees one clean stream.
 *
 * <p>Hedging ({@link HedgePolicy}): when no generated event came by {@code --hedge-after}, a second
 * attempt ({@link HedgeAttempt}) races the first on another upstream, holding its events apart. The first
 * attempt to deliver a generated event wins and is relayed; the other is closed at once. While the race
 * runs and no head went out, the first attempt's 2xx head is held back too, so that the winner's head is
 * the one the client gets. Either attempt failing meanwhile leaves the other to go on alone.
 *
 * <p>State changes go through {@link #moveTo}; the allowed ones are listed in {@link StreamState}.
 */
final class ProxyExchange implements UpstreamHandler.Reader, HedgeAttempt.Owner {
  /** Which API the client called: relayed bytes, or the translated simple token API. */
  enum Api { PROXY, TOKENS }

  private static final int MAX_ERROR_BODY_BYTES = 64 * 1024;

  private final GatewayContext gw;
  private final GatewayMetrics metrics;
  private final ChannelHandlerContext ctx;
  /**
   * The clock of the loop the timers run on ({@code System.nanoTime()} on a real one), so that the idle check
   * reads the time its timer fired at; a test's embedded loop advances both together.
   */
  private final LoopClock clock;
  private final GatewayHandler owner;
  private final Api api;
  /** The client's API: the shape of its errors, the auth header toward the upstream, its metrics label. */
  private final Dialect dialect;
  private final HttpMethod method;
  private final String path;
  private final String upstreamUri;
  private final FullHttpRequest clientRequest;
  private final ByteBuf upstreamBody;
  private final boolean expectStream;
  private final boolean keepAlive;
  private final Set<Upstream> tried = new HashSet<>(4);
  private final ClientStream client;
  private final StreamBooks books;

  private StreamState state = StreamState.PENDING;
  private ErrorKind errorKind;

  // The current attempt.
  private Upstream upstream;
  /** The current attempt's place in the balancer's books (in flight, first-token latency). */
  private UpstreamSet.Lease lease = UpstreamSet.Lease.NONE;
  private Channel upstreamChannel;
  private boolean reusedConnection;
  private boolean staleRetried;
  private HttpResponse upstreamHead;
  /** The upstream's framing lets the connection carry another response after this one. */
  private boolean upstreamReusable;
  /** A 1xx head was read: its (empty) end is not the response's. */
  private boolean inInformational;
  private EventRelay relay;
  /**
   * The current attempt's chunked stream body, read from the socket as it came (the HTTP handlers are out of
   * its pipeline, {@link UpstreamInitializer#readBodyRaw}); null while the codec reads (heads, other bodies).
   */
  private ChunkedBody rawBody;
  /** Our own socket failed once (EMFILE, ...): one more try on the same upstream, then 503. */
  private boolean localRetried;
  private StreamScanner scanner;
  private SseParser translatorParser;
  private TokenTranslator translator;
  private ByteBuf errorBody;
  /** A whole (non-stream) JSON answer's usage, read on the side as it is relayed; null for any other body. */
  private AnswerUsage answer;
  /** The upstream labelled this stream's answer text/html or text/plain, and it is read as a stream (onUpstreamHead). */
  private boolean textLabelled;
  /** The current answer has neither a length nor chunks: it ends at the upstream's close, whole or cut. */
  private boolean closeDelimited;
  /** A generated event was written and waits for the read's flush: its delivery is booked then. */
  private boolean deliveryUnflushed;

  private ScheduledFuture<?> headWaitTimer;
  private ScheduledFuture<?> firstTokenTimer;
  private ScheduledFuture<?> idleTimer;
  private ScheduledFuture<?> slowClientTimer;
  /** Armed when the upstream's own error event was relayed and its body did not end with it. */
  private ScheduledFuture<?> upstreamErrorEnd;
  private long lastUpstreamReadNanos;

  // Hedging (see HedgeAttempt): the second attempt while the race is undecided, else null.
  private HedgeAttempt hedge;
  private ScheduledFuture<?> hedgeTimer;
  /** Non-null while the first attempt's 2xx head is held back for the race (the winner's head goes out). */
  private Framing deferredFraming;
  /** For the access log: {@code -} not hedged, {@code first}/{@code second} which attempt won, else why not. */
  private String hedgeOutcome = "-";

  /**
   * @param clientRequest the aggregated request; this exchange takes over one reference and releases it
   * @param upstreamBody the body to send upstream (the client's, or the translated one); taken over too
   */
  ProxyExchange(GatewayContext gw, ChannelHandlerContext ctx, GatewayHandler owner, Api api,
      FullHttpRequest clientRequest, String upstreamUri, ByteBuf upstreamBody, boolean expectStream) {
    this.gw = gw;
    this.metrics = gw.metrics();
    this.ctx = ctx;
    this.clock = LoopClock.of(ctx.executor());
    this.owner = owner;
    this.api = api;
    this.clientRequest = clientRequest;
    this.method = api == Api.TOKENS ? HttpMethod.POST : clientRequest.method();
    this.path = clientRequest.uri();
    this.dialect = api == Api.TOKENS ? Dialects.TOKENS : Route.dialect(path);
    this.upstreamUri = upstreamUri;
    this.upstreamBody = upstreamBody;
    this.expectStream = expectStream;
    this.keepAlive = HttpUtil.isKeepAlive(clientRequest);
    this.client = new ClientStream(ctx, metrics, dialect, keepAlive, gw.config().heartbeat().toNanos(),
        HttpMethod.HEAD.equals(clientRequest.method()));
    this.books = new StreamBooks(metrics, Route.apiLabel(path, dialect));
  }

  // ---------------------------------------------------------------- lifecycle

  void start() {
    gw.register(this);
    if (expectStream && expectsSse()) {
      long wait = gw.config().headWait().toNanos();
      if (wait <= 0) {
        client.earlyHead(true);
      } else {
        headWaitTimer = ctx.executor().schedule(this::onHeadWait, wait, TimeUnit.NANOSECONDS);
      }
    }
    long ftt = gw.config().firstTokenTimeout().toNanos();
    if (ftt > 0 && expectStream) {
      firstTokenTimer = ctx.executor().schedule(this::onFirstTokenTimeout, ftt, TimeUnit.NANOSECONDS);
    }
    armHedgeTimer();
    Upstream first = gw.upstreams().pick(tried);
    if (first == null) {
      fail(ErrorKind.NO_UPSTREAM, null);
      return;
    }
    attempt(first);
  }

  // ---------------------------------------------------------------- hedging

  private void armHedgeTimer() {
    if (api != Api.PROXY || gw.upstreams().all().size() < 2
        || !gw.hedging().eligible(path, clientRequest.headers(), expectStream)) {
      return;
    }
    long delay = gw.hedging().delayNanos();
    if (delay >= 0) {
      hedgeTimer = ctx.executor().schedule(this::onHedgeDue, delay, TimeUnit.NANOSECONDS);
    }
  }

  /** {@code --hedge-after} passed: start the second attempt if nothing generated was committed yet. */
  private void onHedgeDue() {
    if (hedge != null || state.isTerminal() || state == StreamState.ERROR_BODY || books.sawGenerated()
        || !client.canStartOver()) {
      return;
    }
    Upstream u = gw.upstreams().pick(tried);
    if (u == null) {
      return;
    }
    if (!gw.hedging().tryHedge()) {
      metrics.hedgeRefusals.inc();
      return;
    }
    tried.add(u);
    metrics.hedges.inc();
    hedgeOutcome = "undecided";
    moveTo(StreamState.HEDGING);
    hedge = new HedgeAttempt(this, gw, ctx.channel().eventLoop(), client, u, this::upstreamRequest, metrics);
    hedge.start();
  }

  /** The first attempt commits (or ends) first: the hedge lost and is closed; a held-back head goes out. */
  private void firstAttemptDecided() {
    if (hedge != null) {
      hedge.cancel();
      hedge = null;
      metrics.hedgeCancelled.inc();
      hedgeOutcome = "first";
    }
    if (state == StreamState.HEDGING) {
      moveTo(StreamState.RELAYING);
    }
    sendDeferredHead();
  }

  private void sendDeferredHead() {
    if (deferredFraming != null && upstreamHead != null) {
      if (!client.headSent()) {
        cancel(headWaitTimer);
        client.streamHead(upstreamHead, deferredFraming);
      }
      deferredFraming = null;
    }
  }

  private void cancelHedge() {
    if (hedge != null) {
      hedge.cancel();
      hedge = null;
    }
  }

  /** The hedge delivered first: the first attempt (if still running) is closed, the hedge becomes the stream. */
  @Override
  public void hedgeWon(HedgeAttempt h, ByteBuf out, long readNanos, boolean midEvent, boolean last) {
    if (h != hedge || state.isTerminal()) { // cannot happen (a cancelled hedge never wins); free it all anyway
      ReferenceCountUtil.release(out);
      ReferenceCountUtil.release(h.takeHeld());
      h.relay().release();
      h.channel().close();
      return;
    }
    client.readStarted(); // the hedge's read: its head and events leave in one flush
    try {
      adoptHedge(h, out, readNanos, midEvent, last);
      endIfTerminated(readNanos);
    } catch (RuntimeException e) {
      LoggerFactory.getLogger(ProxyExchange.class).warn("relay failed", e);
      fail(ErrorKind.INTERNAL, null);
    } finally {
      readDone();
    }
  }

  private void adoptHedge(HedgeAttempt h, ByteBuf out, long readNanos, boolean midEvent, boolean last) {
    hedge = null;
    if (upstream != null) {
      closeUpstream(); // never pooled: the model server must see the close to stop generating
      metrics.hedgeCancelled.inc();
      lease.noTokenAfter(clock.nanoTime() - books.requestSentNanos()); // it lost: its first token was at least this late
    }
    lease.end();
    lease = h.lease();
    client.discardHeld();
    metrics.hedgeWins.inc();
    hedgeOutcome = "second";
    upstream = h.upstream();
    upstreamChannel = h.channel();
    upstreamHead = h.head();
    upstreamReusable = h.reusable();
    inInformational = false;
    rawBody = null; // the hedge's connection still reads through its codec
    deferredFraming = null;
    upstreamChannel.pipeline().get(UpstreamHandler.class).bind(this);
    upstreamChannel.config().setAutoRead(ctx.channel().isWritable());
    relay = h.relay();
    scanner = new StreamScanner(h.framing(), false, books);
    books.requestSent(h.sentNanos(), lease);
    lastUpstreamReadNanos = readNanos;
    armIdleTimer(gw.config().upstreamIdleTimeout().toNanos());
    moveTo(StreamState.RELAYING);
    if (!client.headSent()) {
      cancel(headWaitTimer);
      client.streamHead(upstreamHead, h.framing());
    }
    ByteBuf held = h.takeHeld();
    boolean outTaken = false;
    try {
      if (held != null) {
        try {
          scanner.feed(held, readNanos); // its books start with the events it held, as if relayed from the start
        } catch (SseException e) {
          held.release();
          throw e;
        }
        client.hold(held); // after the scan: hold may copy it to its size, and release it
      }
      outTaken = true;
      relayOut(out, readNanos, midEvent, !last);
    } catch (SseException e) {
      if (!outTaken) {
        out.release();
      }
      attemptFailed(ErrorKind.INVALID_SSE, null, true);
      return;
    }
    if (last && state == StreamState.RELAYING) {
      onUpstreamEnd(readNanos);
    }
  }

  /** The hedge failed before deciding: the first attempt goes on alone, or, if it failed too, the usual failover. */
  @Override
  public void hedgeFailed(HedgeAttempt h, ErrorKind kind, ApiError error) {
    if (h != hedge || state.isTerminal()) {
      return;
    }
    hedge = null;
    metrics.hedgeFailures.inc();
    hedgeOutcome = "hedge_failed";
    if (upstream != null) {
      moveTo(upstreamHead != null ? StreamState.RELAYING : StreamState.PENDING);
      sendDeferredHead();
      return;
    }
    upstream = h.upstream(); // its health was already marked
    attemptFailed(kind, error, false);
  }

  /** Only an SSE response can carry the gateway's own early head (a comment keeps it alive; NDJSON has none). */
  private boolean expectsSse() {
    return dialect.framing() == Framing.SSE;
  }

  /** The one place where the state changes. */
  private void moveTo(StreamState next) {
    if (!state.canMoveTo(next)) {
      throw new IllegalStateException("stream state " + state + " -> " + next + " is not allowed");
    }
    state = next;
  }

  StreamState state() {
    return state;
  }

  /** The event loop this exchange (and its upstream connection) runs on. */
  io.netty.util.concurrent.EventExecutor executor() {
    return ctx.executor();
  }

  private void attempt(Upstream u) {
    if (tried.size() > (hedge != null ? 1 : 0)) { // the hedge's upstream is no earlier attempt of this one
      metrics.retries.inc();
    }
    tried.add(u);
    upstream = u;
    lease.end();
    lease = gw.upstreams().begin(u);
    upstreamHead = null;
    upstreamReusable = false;
    inInformational = false;
    rawBody = null;
    Future<Channel> f = gw.pool().acquire(ctx.channel().eventLoop(), u);
    reusedConnection = f.isDone(); // an idle pooled connection is handed out already completed
    f.addListener(done -> onAcquired(f, u));
  }

  private void onAcquired(Future<Channel> f, Upstream u) {
    if (state.isTerminal() || u != upstream) {
      if (f.isSuccess()) {
        f.getNow().close();
      }
      return;
    }
    if (!f.isSuccess()) {
      ConnectFailure failure = ConnectFailure.of(f.cause(), metrics);
      if (failure.local()) {
        // Our own socket failed (e.g. EMFILE): not the upstream's fault, so no mark and one more try on it.
        if (!localRetried) {
          localRetried = true;
          tried.remove(u);
          attempt(u);
          return;
        }
        fail(failure.kind(), failure.error());
        return;
      }
      gw.upstreams().markFailed(u);
      attemptFailed(failure.kind(), failure.error(), false);
      return;
    }
    Channel ch = f.getNow();
    upstreamChannel = ch;
    ch.pipeline().get(UpstreamHandler.class).bind(this);
    ch.config().setAutoRead(ctx.channel().isWritable());
    long now = clock.nanoTime();
    books.requestSent(now, lease);
    lastUpstreamReadNanos = now;
    ch.writeAndFlush(upstreamRequest(u)).addListener((ChannelFutureListener) wf -> {
      if (!wf.isSuccess()) {
        wf.channel().close(); // reported through channelInactive -> onUpstreamClosed
      }
    });
    armIdleTimer(gw.config().upstreamIdleTimeout().toNanos());
  }

  private FullHttpRequest upstreamRequest(Upstream u) {
    FullHttpRequest r = new DefaultFullHttpRequest(
        HttpVersion.HTTP_1_1, method, u.target(upstreamUri), upstreamBody.retainedDuplicate());
    r.headers().set(clientRequest.headers());
    StreamHeaders.toUpstream(r.headers(), u, gw.config().upstreamKey(), dialect, !gw.apiKeys().enabled());
    if (api == Api.TOKENS) {
      r.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON);
      r.headers().set(HttpHeaderNames.ACCEPT, "text/event-stream");
    }
    if (upstreamBody.isReadable() || method.equals(HttpMethod.POST) || method.equals(HttpMethod.PUT)) {
      r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, upstreamBody.readableBytes());
    }
    return r;
  }

  /**
   * The current attempt failed: try another healthy upstream while the client has seen nothing a fresh
   * stream could contradict, else end with the error.
   *
   * @param error the error to fail with, or null for the kind's own
   * @param upstreamAtFault whether the failure counts against the upstream's health
   */
  private void attemptFailed(ErrorKind kind, ApiError error, boolean upstreamAtFault) {
    closeUpstream();
    if (upstreamAtFault) {
      // A cut mid-way counts too: one is that stream's error, but only a run of them marks the upstream
      // down, and only a complete response (onUpstreamEnd) breaks the run.
      gw.upstreams().markFailed(upstream);
    }
    if (hedge != null) {
      // The hedge races on alone: it is this request's retry, no other starts while it runs.
      client.discardHeld();
      upstream = null;
      upstreamHead = null;
      deferredFraming = null;
      return;
    }
    if (RetryPolicy.mayRetry(client, tried.size(), gw.config().maxAttempts())) {
      Upstream next = gw.upstreams().pick(tried);
      if (next != null) {
        client.discardHeld();
        deferredFraming = null; // the failed attempt's head goes with its events
        moveTo(StreamState.PENDING);
        attempt(next);
        return;
      }
    }
    fail(kind, error);
  }

  // ---------------------------------------------------------------- upstream events

  /** Everything the upstream connection reads. Releases {@code msg}. What it writes leaves in one flush. */
  @Override
  public void onUpstreamMessage(Object msg) {
    client.readStarted();
    try {
      if (state.isTerminal()) {
        return;
      }
      long now = clock.nanoTime();
      lastUpstreamReadNanos = now;
      if (msg instanceof ByteBuf raw) {
        onRawBody(raw, now);
        endIfTerminated(now);
        return;
      }
      if (msg instanceof HttpObject o && o.decoderResult().isFailure()) {
        // Not HTTP, a cut/oversized/NUL-bearing head, broken chunk framing: the connection is unusable.
        upstreamReusable = false;
        if (state == StreamState.ERROR_BODY) {
          failWithUpstreamError();
        } else {
          attemptFailed(ErrorKind.UPSTREAM_PROTOCOL, oversizedHead(o.decoderResult().cause()), true);
        }
        return;
      }
      if (msg instanceof HttpResponse head) {
        if (head.status().code() == HttpResponseStatus.SWITCHING_PROTOCOLS.code()) {
          // Never asked for (Upgrade is hop-by-hop, never forwarded), so a broken upstream. Relayed, it told the
          // client its connection had switched protocols, and the codec hands on what follows as raw bytes.
          upstreamReusable = false;
          attemptFailed(ErrorKind.UPSTREAM_PROTOCOL,
              ErrorKind.UPSTREAM_PROTOCOL.apiError("The upstream switched protocols (101) though none was asked for."),
              true);
          return;
        }
        if (head.status().codeClass() == HttpStatusClass.INFORMATIONAL) {
          inInformational = true; // 103 Early Hints, 100 Continue: the final head is still to come
          return;
        }
        onUpstreamHead(head);
      }
      if (msg instanceof HttpContent content && !state.isTerminal()) {
        if (inInformational) {
          inInformational = !(content instanceof LastHttpContent);
          return;
        }
        onUpstreamContent(content, now);
        endIfTerminated(now);
      }
    } catch (RuntimeException e) {
      LoggerFactory.getLogger(ProxyExchange.class).warn("relay failed", e);
      fail(ErrorKind.INTERNAL, null);
    } finally {
      try {
        readDone();
      } finally {
        ReferenceCountUtil.release(msg);
      }
    }
  }

  /**
   * A head over the codec's bounds is valid HTTP the gateway will not read, and the bound is what an operator
   * would look for, so the error names it; any other decoder failure keeps the kind's own message (null). The
   * bounds are the defaults of the {@link io.netty.handler.codec.http.HttpClientCodec} the upstream pipeline uses.
   */
  private static ApiError oversizedHead(Throwable cause) {
    if (cause instanceof TooLongHttpLineException) {
      return ErrorKind.UPSTREAM_PROTOCOL.apiError("The upstream's status line is longer than "
          + HttpObjectDecoder.DEFAULT_MAX_INITIAL_LINE_LENGTH / 1024 + " KiB, the most the gateway reads.");
    }
    if (cause instanceof TooLongHttpHeaderException) {
      return ErrorKind.UPSTREAM_PROTOCOL.apiError("The upstream's response headers are larger than "
          + HttpObjectDecoder.DEFAULT_MAX_HEADER_SIZE / 1024 + " KiB, the most the gateway reads.");
    }
    return null;
  }

  /** The read's writes leave in one flush. */
  private void readDone() {
    client.readDone();
    flushed();
  }

  /**
   * Books the first generated event's delivery once its bytes are flushed: now, or at the flush that carries
   * them ({@link #flushed}). Called right after a generated event was written.
   */
  private void delivered() {
    if (client.hasUnflushed()) {
      deliveryUnflushed = true;
    } else {
      books.delivered();
    }
  }

  /** After a flush: a delivery {@link #delivered} left waiting for it is booked. */
  private void flushed() {
    if (deliveryUnflushed && !client.hasUnflushed()) {
      deliveryUnflushed = false;
      books.delivered();
    }
  }

  private void onUpstreamHead(HttpResponse head) {
    upstreamHead = head;
    int status = head.status().code();
    // A 204 or 304 ends at its head whatever its headers say (RFC 9112 §6.3): never a stream, and a 304 is the
    // upstream's answer to a conditional request, not an error, so it goes to the client as it came.
    boolean bodyless = StreamHeaders.bodyless(head.status());
    // So does any answer to a HEAD (its codec has already taken a chunked coding out of the head): nothing to relay,
    // cut or wait for after it.
    boolean noBody = bodyless || HttpMethod.HEAD.equals(method);
    upstreamReusable = HttpUtil.isKeepAlive(head)
        && (noBody || HttpUtil.isContentLengthSet(head) || HttpUtil.isTransferEncodingChunked(head));
    Framing framing = noBody ? Framing.RAW : Framing.of(head.headers());
    // A stream labelled as a page: Flask's Response(generator()) and Django's StreamingHttpResponse say text/html
    // unless told, and the SDKs read such a stream fine. Read it as the event stream asked for, its head held
    // until an event shows it is one; a body with no event in it is the page it says it is (onUpstreamEnd).
    textLabelled = framing == Framing.RAW && expectStream && !noBody && status >= 200 && status < 300
        && dialect.framing() == Framing.SSE && textType(head);
    if (textLabelled) {
      framing = Framing.SSE;
    }
    closeDelimited = !noBody && !HttpUtil.isContentLengthSet(head) && !HttpUtil.isTransferEncodingChunked(head);
    if (status >= 200 && status < 300 || bodyless) {
      // While another attempt may still replace this one (a hedge, or a failover before the first generated event),
      // its head waits with its events: the client's head must be that of the stream it gets, its x-request-id and
      // rate limits included. The head wait still bounds it (onHeadWait).
      boolean deferHead = framing.isStream() && (hedge != null || retryPossible() || textLabelled);
      if (!deferHead) {
        cancel(headWaitTimer);
      }
      if (state != StreamState.HEDGING) {
        moveTo(StreamState.RELAYING);
      }
      if (api == Api.TOKENS) {
        if (framing != Framing.SSE) {
          attemptFailed(ErrorKind.INVALID_SSE, null, false);
          return;
        }
        translator = new TokenTranslator(this::writeTranslated,
            json -> fail(ErrorKind.UPSTREAM_STATUS, UpstreamErrorBody.toApiError(dialect, 502, json)), books);
        translatorParser = new SseParser(translator);
        if (deferHead) {
          deferredFraming = Framing.SSE; // its tokens are the gateway's events: the head goes with the first
        } else {
          client.streamHead(head, Framing.SSE);
        }
      } else if (framing == Framing.SSE && !expectStream && !noBody && eventStreamApiPath() && !client.headSent()) {
        // An event stream where a whole answer was asked for: the SDKs' create() returns the SSE text as the
        // answer (choices undefined), and a cut of it ends as clean text. Another upstream may answer whole.
        attemptFailed(ErrorKind.INVALID_SSE, ErrorKind.notAWholeAnswer(status), true);
      } else if (framing.isStream()) {
        relay = new EventRelay(framing, ctx.alloc());
        scanner = new StreamScanner(framing, false, books);
        if (deferHead) {
          deferredFraming = framing; // the race, or a failover, decides whose head the client gets
        } else {
          client.streamHead(head, framing);
        }
        if (rawChunked(head) && upstreamChannel != null) {
          // Last: the codec hands on the body bytes it already read as it leaves, before this returns.
          rawBody = new ChunkedBody();
          if (!UpstreamInitializer.readBodyRaw(upstreamChannel.pipeline())) {
            rawBody = null;
          }
        }
      } else if (client.headSent()
          || expectStream && !noBody && head.headers().contains(HttpHeaderNames.CONTENT_TYPE) && !ndjsonReadsIt(head)) {
        // A whole body (a web server's page, a whole JSON answer) where a stream was asked for: the SDKs would read
        // it as an event stream without events and end their loop cleanly with nothing. Another upstream may
        // stream; else the client gets the error. Without a Content-Type it passes when no head went out yet:
        // servers that stream without naming a type exist (a FastAPI StreamingResponse without media_type).
        attemptFailed(ErrorKind.INVALID_SSE, ErrorKind.notAStream(status,
            head.headers().get(HttpHeaderNames.CONTENT_TYPE), dialect.framing()), true);
      } else {
        firstAttemptDecided();
        client.passthroughHead(head);
        answer = AnswerUsage.forHead(head);
        cancel(firstTokenTimer); // a whole answer has no first token to wait for
      }
      return;
    }
    if (RetryPolicy.unhealthyStatus(status)) {
      gw.upstreams().markFailed(upstream);
    }
    if (RetryPolicy.retriableStatus(status) && (hedge != null || retryPossible())) {
      attemptFailed(ErrorKind.UPSTREAM_STATUS, null, false);
      return;
    }
    // Collect the error body: it becomes the client's error response (or the in-band error event). The
    // request itself was refused, so a hedge would fare no better.
    cancelHedge();
    moveTo(StreamState.ERROR_BODY);
    errorBody = ctx.alloc().buffer(256);
  }

  /**
   * A POST to a token API whose clients stream events only when they ask for it (OpenAI's, Anthropic's): paths that
   * are no token API are relayed as they come, and Ollama's clients read a streamed body line by line.
   */
  private boolean eventStreamApiPath() {
    return HttpMethod.POST.equals(method) && dialect.framing() == Framing.SSE
        && Dialects.forPath(Route.pathOf(path)) != null;
  }

  /** A {@code text/html} or {@code text/plain} head: a type a streaming web framework gives by default. */
  private static boolean textType(HttpResponse head) {
    String type = head.headers().get(HttpHeaderNames.CONTENT_TYPE);
    String t = type == null ? "" : type.strip().toLowerCase(Locale.ROOT);
    return t.startsWith("text/html") || t.startsWith("text/plain");
  }

  /**
   * Whether a whole JSON answer is a stream this API's clients read: Ollama answers a model load or unload (a
   * request without a prompt or messages, or keep_alive 0) with one application/json object whatever the stream
   * flag, and its clients read an NDJSON body line by line, so that object is their whole answer. An event stream's
   * clients find no event in it.
   */
  private boolean ndjsonReadsIt(HttpResponse head) {
    String type = head.headers().get(HttpHeaderNames.CONTENT_TYPE);
    return dialect.framing() == Framing.NDJSON && type != null
        && type.strip().toLowerCase(Locale.ROOT).startsWith("application/json");
  }

  private void onUpstreamContent(HttpContent content, long readNanos) {
    ByteBuf buf = content.content();
    boolean last = content instanceof LastHttpContent;
    if (state == StreamState.ERROR_BODY) {
      int room = MAX_ERROR_BODY_BYTES - errorBody.readableBytes();
      errorBody.writeBytes(buf, buf.readerIndex(), Math.min(room, buf.readableBytes()));
      if (last) {
        failWithUpstreamError();
      }
      return;
    }
    if (buf.isReadable()) {
      try {
        if (translatorParser != null) {
          translator.readAt(readNanos);
          translatorParser.feed(buf);
        } else if (relay != null) {
          relayEvents(buf, readNanos);
        } else {
          if (answer != null) {
            answer.feed(buf);
          }
          client.forwardBody(buf.retainedSlice(), readNanos);
        }
      } catch (SseException e) {
        attemptFailed(ErrorKind.INVALID_SSE, null, true);
        return;
      }
    }
    if (last && (state == StreamState.RELAYING || state == StreamState.HEDGING)) {
      onUpstreamEnd(readNanos);
    }
  }

  /**
   * A stream body that can be read in place: HTTP/1.1 {@code chunked} framing (what model servers send). Whether
   * the body is content-coded is not judged here but by {@link UpstreamInitializer#readBodyRaw}, which asks the
   * decompressor: it saw the head before taking the coding out of the copy that reaches this method. A head
   * that carries no body whatever it says, a HEAD request's answer or a 204, reaches here with its
   * {@code Transfer-Encoding} taken out by the codec, so no raw body is ever awaited after one.
   */
  private static boolean rawChunked(HttpResponse head) {
    String te = head.headers().get(HttpHeaderNames.TRANSFER_ENCODING);
    return head.protocolVersion().equals(HttpVersion.HTTP_1_1) && te != null
        && HttpHeaderValues.CHUNKED.contentEqualsIgnoreCase(te.strip())
        && !head.headers().contains(HttpHeaderNames.CONTENT_LENGTH);
  }

  /**
   * A read of a raw chunked stream body ({@link #rawBody}): a read that is one whole chunk of whole events goes
   * to the client as it came ({@link #relayWholeChunk}); any other read is decoded in place, and its data (the
   * pieces of its chunks gathered into one, when there are several) takes the token path like the codec's would.
   */
  private void onRawBody(ByteBuf in, long readNanos) {
    ChunkedBody body = rawBody;
    if (body == null) {
      // Bytes without a head, on a connection whose codec is out: cannot happen; never guess at framing.
      upstreamReusable = false;
      attemptFailed(ErrorKind.UPSTREAM_PROTOCOL, null, true);
      return;
    }
    // The data of a read's chunks, when it has several: they go on as one piece, in one write. Per chunk, a
    // read of 10,000 tiny chunks made 10,000 writes, each counted 96 bytes more by Netty, for a client that had
    // stopped reading (docs/serve.md, "Memory per stream").
    ByteBuf gathered = null;
    try {
      if (relayWholeChunk(in, readNanos)) {
        return;
      }
      for (;;) {
        ChunkedBody.Step step = body.next(in);
        if (step == ChunkedBody.Step.DATA) {
          int from = body.dataFrom();
          int to = body.dataTo();
          if (gathered == null && in.writerIndex() - to <= 2) {
            // The read's only data (nothing after it but the chunk's CRLF): out at once, before its scan.
            relayEvents(in, from, to, readNanos, true);
            if (rawBody != body) {
              return; // the attempt failed (and maybe another started) on what these events said
            }
          } else {
            if (gathered == null) {
              gathered = ctx.alloc().buffer(in.readableBytes() + (to - from));
            }
            gathered.writeBytes(in, from, to - from);
          }
          continue;
        }
        if (gathered != null) {
          ByteBuf pieces = gathered;
          gathered = null;
          relayGathered(pieces, readNanos, step == ChunkedBody.Step.NEED_MORE);
          if (rawBody != body) {
            return;
          }
        }
        if (step == ChunkedBody.Step.NEED_MORE) {
          return;
        }
        rawBody = null; // END
        if (in.isReadable()) {
          upstreamReusable = false; // bytes past the response: the upstream and we disagree on framing
        } else if (upstreamReusable && upstreamChannel != null) {
          UpstreamInitializer.readHttpAgain(upstreamChannel.pipeline());
        }
        if (state == StreamState.RELAYING || state == StreamState.HEDGING) {
          onUpstreamEnd(readNanos);
        }
        return;
      }
    } catch (ChunkedBody.FramingException e) {
      if (gathered != null) {
        ByteBuf pieces = gathered;
        gathered = null;
        try {
          relayGathered(pieces, readNanos, false); // the events before the broken framing go first, with the error
        } catch (SseException ignored) {
          // the framing error below says more
        }
        if (rawBody != body) {
          return;
        }
      }
      upstreamReusable = false;
      attemptFailed(ErrorKind.UPSTREAM_PROTOCOL, null, true);
    } catch (SseException e) {
      attemptFailed(ErrorKind.INVALID_SSE, null, true);
    } finally {
      if (gathered != null) {
        gathered.release();
      }
    }
  }

  /** {@link #relayEvents} for the gathered data of a read's chunks; releases {@code pieces}. */
  private void relayGathered(ByteBuf pieces, long readNanos, boolean readEnds) {
    try {
      relayEvents(pieces, pieces.readerIndex(), pieces.writerIndex(), readNanos, readEnds);
    } finally {
      pieces.release();
    }
  }

  /**
   * The zero-copy token path: when the read is exactly one whole chunk whose data is whole events and the
   * client takes chunks as they come ({@link ClientStream#takesUpstreamChunks}), the read itself goes to the
   * client, framing and all, then its events are scanned for the books. Issue 15: this skips the HTTP decoder's
   * objects, the copy into a re-framed chunk and its buffer. False when the read takes the general path.
   */
  private boolean relayWholeChunk(ByteBuf in, long readNanos) {
    if (!rawBody.atChunkStart() || !client.takesUpstreamChunks()) {
      return false;
    }
    int length = ChunkedBody.wholeChunk(in);
    int to = in.writerIndex() - 2;
    if (length < 0 || !relay.wholeEvents(in, to - length, to)) {
      return false;
    }
    client.forwardChunk(in.retain(), readNanos); // flushed at once: the read is this one chunk
    scanner.feed(in, to - length, to, readNanos);
    delivered();
    return true;
  }

  /**
   * The token path: the whole events this read completed go to the client as the upstream's bytes, written
   * and flushed at once, then are scanned for the books. Before the first generated output the events are
   * scanned first, to hold what carries none and to catch an in-band error worth a retry.
   */
  private void relayEvents(ByteBuf buf, long readNanos) {
    relayEvents(buf, buf.readerIndex(), buf.writerIndex(), readNanos, true);
  }

  /**
   * {@link #relayEvents(ByteBuf, long)} for the bytes [from, to) of {@code buf}.
   *
   * @param readEnds nothing of this read follows: the events are flushed before they are scanned, not at the
   *     read's end (measured: scanning first cost the loop about 10% more CPU per event, docs/benchmarks.md)
   */
  private void relayEvents(ByteBuf buf, int from, int to, long readNanos, boolean readEnds) {
    if (client.wroteOwnBytes()) {
      relay.stripLeadingBom();
    }
    ByteBuf out = relay.feed(buf, from, to);
    if (out == null) {
      return;
    }
    relayOut(out, readNanos, !relay.atBoundary(), readEnds);
  }

  /** The rest of {@link #relayEvents}, for whole events {@code out} (owned) cut from a read. */
  private void relayOut(ByteBuf out, long readNanos, boolean midEvent, boolean readEnds) {
    if (client.committed()) {
      out.retain();
      try {
        client.forward(out, readNanos, midEvent, readEnds);
        scanner.feed(out, readNanos);
      } finally {
        out.release();
      }
      delivered();
      return;
    }
    try {
      scanner.feed(out, readNanos);
    } catch (SseException e) {
      out.release();
      throw e;
    }
    if (books.upstreamError() != null && !books.sawGenerated() && (hedge != null || retryPossible())) {
      out.release();
      attemptFailed(ErrorKind.UPSTREAM_STATUS, UpstreamErrorBody.toApiError(dialect, 502, books.upstreamError()), true);
      return;
    }
    // A stream nobody asked for tokens from (Ollama's pull progress, a job's event stream) has no generated event
    // to wait for: its events go at once, as the first event of a token stream would.
    // A stream labelled text/html is held until an event shows it is one: until then it may be the page its label
    // says (onUpstreamEnd), whose lines are no events, opaque or cut mid-block.
    if (!maybePage() && (books.sawGenerated() || books.sawTerminator() || books.upstreamError() != null
        || books.sawOpaque() || midEvent || !expectStream)) {
      firstAttemptDecided();
      client.forward(out, readNanos, midEvent, readEnds);
      delivered();
    } else if (!client.hold(out)) {
      firstAttemptDecided();
      client.forward(null, readNanos, false); // past the hold bound: commit, no failover from here
    }
  }

  /** A stream labelled text/html or text/plain that no event has shown to be one yet ({@link #textLabelled}). */
  private boolean maybePage() {
    return textLabelled && !books.sawGenerated() && !books.sawTerminator() && books.upstreamError() == null;
  }

  /** Memory the client's held events occupy ({@link ClientStream#heldMemory}). */
  long heldMemory() {
    return client.heldMemory();
  }

  private boolean retryPossible() {
    return RetryPolicy.mayRetry(client, tried.size(), gw.config().maxAttempts()) && gw.upstreams().pick(tried) != null;
  }

  /** A gateway-made event of the translated API. */
  private void writeTranslated(String event) {
    sendDeferredHead();
    client.writeEvent(event);
    delivered();
  }

  private void onUpstreamEnd(long readNanos) {
    // After the terminator the answer is whole, and the SDKs have stopped reading: what follows is no error of it.
    ApiError unframed = expectStream && !books.sawTerminator() ? unframedError() : null;
    if (unframed != null) {
      upstreamReusable = false;
      attemptFailed(ErrorKind.UPSTREAM_STATUS, unframed, true);
      return;
    }
    if (!endUnendedLastEvent(readNanos)) {
      return;
    }
    if (scanner != null) {
      scanner.end();
    }
    if (maybePage() && !client.headSent() && !books.sawFinish(1)) {
      // Read as a stream, it held no event: a web page where a stream was asked for (see onUpstreamHead). Its
      // head and its lines are no stream's, so neither goes out: the client gets the 502.
      client.discardHeld();
      deferredFraming = null;
      attemptFailed(ErrorKind.INVALID_SSE, ErrorKind.notAStream(upstreamHead.status().code(),
          upstreamHead.headers().get(HttpHeaderNames.CONTENT_TYPE), dialect.framing()), true);
      return;
    }
    // Servers that send no terminator end with the model's finish_reason and their body's own end (its last
    // chunk, or its length); a close proves nothing, and then only the terminator does. Each choice asked for
    // ("n") must have finished; the request is read for it only here, on a stream that came without its terminator.
    boolean finishedAndFramed = !closeDelimited && !books.sawTerminator() && books.sawFinish(1)
        && books.sawFinish(Route.requestedChoices(upstreamBody));
    boolean complete;
    if (translator != null) {
      complete = translator.sawDone() || finishedAndFramed;
      if (complete && !translator.sawDone()) {
        writeTranslated(SseEncoder.data(SseEncoder.DONE)); // this API's own end, which its clients wait for
      }
    } else if (relay != null) {
      // For a stream the client asked for, the upstream's terminator (or its own error event) is the proof of
      // completion, or the finish above: a clean-looking end without either is a cut.
      complete = books.sawTerminator() || books.upstreamError() != null || finishedAndFramed
          || !expectStream; // an event stream nobody asked for (not an LLM API) has no terminator to check
    } else {
      // A non-stream body: its length or last chunk is its proof. One that ends at the close has none, but a JSON
      // answer read whole that is not whole JSON was cut (a server that died mid-answer closes just the same).
      if (closeDelimited && answer != null && answer.provenCut()) {
        upstreamReusable = false;
        attemptFailed(ErrorKind.UPSTREAM_CUT, ErrorKind.UPSTREAM_CUT.apiError(
            "The upstream closed the connection before its answer was whole."), true);
        return;
      }
      complete = true;
      books.answerTokens(answer != null ? answer.tokens() : -1);
    }
    if (!complete) {
      upstreamReusable = false;
      attemptFailed(ErrorKind.UPSTREAM_CUT, ErrorKind.UPSTREAM_CUT.apiError(
          "The upstream ended the stream without its terminator."), true);
      return;
    }
    endComplete(readNanos, true);
  }

  /**
   * The upstream's error when its event stream ended in a bare JSON error object instead of an event
   * ({@code {"error":{"message":"model overloaded"}}} with no {@code data:}, as some servers write a failure into
   * a stream already begun): no SSE client dispatches it, so relayed it was "ended without its terminator", and
   * the upstream's reason was lost. Its object (wrapped in the client's API shape when it is not) is the stream's
   * error. Null for anything else held at the end, which stays a cut.
   */
  private ApiError unframedError() {
    String held = relay == null ? null : relay.heldText();
    if (held == null) {
      return null;
    }
    String text = held.strip();
    if (!text.startsWith("{") || !text.endsWith("}")) {
      return null;
    }
    try {
      com.fasterxml.jackson.databind.JsonNode root = dev.tokenpipe.openai.Json.MAPPER.readTree(text);
      return root != null && root.isObject() && root.hasNonNull("error")
          ? UpstreamErrorBody.toApiError(dialect, 502, text) : null;
    } catch (java.io.IOException notJson) {
      return null;
    }
  }

  /**
   * A stream body that ended by its framing (its last chunk, or its length) while its last event still lacked
   * its blank line: some servers end so (openai/openai-node#2725), and the SDKs then drop that event without a
   * word. The framing proves the event whole, so it is ended here and relayed like any other, and a terminator
   * in it ends the stream complete (before, it was held as a cut event: "ended without its terminator").
   * Only whole lines, or an unfinished {@code data: [DONE]} line, are completed; a close-delimited body's close
   * proves nothing, and a half line of data stays a cut.
   *
   * @return false when what the event said ended this attempt (an error event before any output, a failover)
   */
  private boolean endUnendedLastEvent(long readNanos) {
    if (!expectStream || upstreamHead == null || closeDelimited) {
      return true;
    }
    byte[] ending = relay != null ? relay.endOfHeldEvent()
        : translatorParser != null ? translatorParser.endOfPendingEvent() : null;
    if (ending == null) {
      return true;
    }
    StreamState before = state;
    ByteBuf tail = Unpooled.wrappedBuffer(ending);
    try {
      if (relay != null) {
        relayEvents(tail, readNanos);
      } else {
        translator.readAt(readNanos);
        translatorParser.feed(tail);
      }
    } catch (SseException e) {
      attemptFailed(ErrorKind.INVALID_SSE, null, true);
      return false;
    } finally {
      tail.release();
    }
    return state == before;
  }

  /**
   * The upstream's terminator was relayed but its body goes on (its end in a later read, or never): the client's
   * stream ends now, as the terminator says, and not when the upstream gets round to ending its body. An SDK
   * that reads to the body's end after {@code [DONE]} (the openai one does) would otherwise wait, and an upstream
   * that keeps the body open (mistral.rs#1874) would hold the stream until the idle timeout, then get an error
   * event appended after its {@code [DONE]}. The connection waits for its body's end apart ({@link UpstreamDrain}):
   * anything it sends after the terminator is never relayed.
   */
  private void endIfTerminated(long readNanos) {
    if (state != StreamState.RELAYING || hedge != null || !expectStream) {
      return;
    }
    if (relay != null ? books.sawTerminator() : translator != null && translator.sawDone()) {
      endBeforeTheBody(readNanos);
    } else if (relay != null && books.upstreamError() != null && client.committed() && upstreamErrorEnd == null) {
      // The upstream's own error event decided the stream, but a terminator may still follow it (vLLM writes
      // [DONE] after its error event): it gets a grace to come, or to end its body (mistral.rs#1874 does neither).
      upstreamErrorEnd = ctx.executor().schedule(this::onUpstreamErrorGraceOver, UpstreamDrain.GRACE_MILLIS,
          TimeUnit.MILLISECONDS);
    }
  }

  /** The upstream's error event was the stream's last word: it ends as if the upstream had ended its body. */
  private void onUpstreamErrorGraceOver() {
    if (state == StreamState.RELAYING && hedge == null) {
      endBeforeTheBody(clock.nanoTime());
    }
  }

  /** The stream ends complete while the upstream's body goes on: the connection is drained ({@link UpstreamDrain}). */
  private void endBeforeTheBody(long nanos) {
    if (scanner != null) {
      scanner.end();
    }
    endComplete(nanos, false);
  }

  /**
   * The stream ended complete.
   *
   * @param bodyEnded the upstream's body ended too (its connection goes back to the pool now), else it is drained
   */
  private void endComplete(long readNanos, boolean bodyEnded) {
    firstAttemptDecided();
    if (books.upstreamError() == null) {
      gw.upstreams().markHealthy(upstream); // a complete response is the upstream's success, not its 2xx head
    } else if (errorKind == null) {
      // The upstream's own error event ended it: relayed as sent, but the stream failed, and the books say so.
      errorKind = ErrorKind.UPSTREAM_STATUS;
    }
    if (books.sawEventsAfterTerminator()) {
      // The upstream went on past its own end: it and the gateway disagree on where an answer ends, so the
      // connection is closed, as UpstreamDrain closes one that sends anything after the terminator later.
      upstreamReusable = false;
    }
    if (bodyEnded) {
      releaseUpstream();
    } else {
      drainUpstream();
    }
    client.end(readNanos);
    moveTo(StreamState.DONE);
    finish(errorKind == null ? "done" : "error:" + errorKind.label());
  }

  /** The upstream connection closed (or failed) while serving us. */
  @Override
  public void onUpstreamClosed(Throwable cause) {
    upstreamChannel = null;
    if (state.isTerminal()) {
      return;
    }
    if (state == StreamState.ERROR_BODY) {
      failWithUpstreamError();
      return;
    }
    if ((state == StreamState.PENDING || state == StreamState.HEDGING) && upstreamHead == null && reusedConnection
        && !staleRetried) {
      // A pooled keep-alive connection the upstream had already closed: not the upstream's fault.
      staleRetried = true;
      tried.remove(upstream);
      attempt(upstream);
      return;
    }
    attemptFailed(ErrorKind.ofUpstreamClose(cause), null, true);
  }

  // ---------------------------------------------------------------- client events

  /** Backpressure: an unwritable client pauses its upstream's reads; a client stuck too long is dropped. */
  void onClientWritabilityChanged() {
    if (state.isTerminal()) {
      return;
    }
    boolean writable = ctx.channel().isWritable();
    if (upstreamChannel != null) {
      upstreamChannel.config().setAutoRead(writable);
    }
    if (!writable) {
      metrics.pauses.inc();
      long slow = gw.config().slowClientTimeout().toNanos();
      if (slow > 0 && slowClientTimer == null) {
        slowClientTimer = ctx.executor().schedule(this::onSlowClient, slow, TimeUnit.NANOSECONDS);
      }
    } else {
      lastUpstreamReadNanos = clock.nanoTime(); // the pause was the client's, not the upstream's silence
      cancel(slowClientTimer);
      slowClientTimer = null;
    }
  }

  /** The client closed its connection: close the upstream at once, which is how it learns to stop generating. */
  void onClientGone() {
    if (state.isTerminal()) {
      return;
    }
    closeUpstream();
    metrics.cancels.inc();
    moveTo(StreamState.CANCELLED);
    finish("cancelled");
  }

  private void onSlowClient() {
    if (state.isTerminal() || ctx.channel().isWritable()) {
      return;
    }
    metrics.slowClients.inc();
    errorKind = ErrorKind.SLOW_CLIENT;
    closeUpstream();
    moveTo(StreamState.CANCELLED);
    client.abort(); // nothing more can be written to it; the close tells it the stream is incomplete
    finish("error:" + ErrorKind.SLOW_CLIENT.label());
  }

  private void onHeadWait() {
    if (state == StreamState.ERROR_BODY) {
      errorBodyStalled(); // the upstream's head did come in time: its status is the answer, not our 200
      return;
    }
    if (!state.isTerminal() && !client.headSent()) {
      if (deferredFraming != null && hedge == null) {
        sendDeferredHead(); // the upstream's head did come in time: it is the answer, not our 200
        return;
      }
      metrics.earlyHeads.inc();
      client.earlyHead(true);
    }
  }

  private void onFirstTokenTimeout() {
    if (!state.isTerminal() && !books.sawGenerated() && !client.passthrough()) {
      upstreamTimedOut();
      fail(ErrorKind.FIRST_TOKEN_TIMEOUT, null);
    }
  }

  /** A first-token or idle timeout is the upstream's failure; with no token yet, its latency is at least this long. */
  private void upstreamTimedOut() {
    if (upstream != null) {
      gw.upstreams().markFailed(upstream);
    }
    if (!books.sawGenerated() && books.requestSentNanos() != 0) {
      lease.noTokenAfter(clock.nanoTime() - books.requestSentNanos());
    }
  }

  private void armIdleTimer(long timeoutNanos) {
    cancel(idleTimer);
    if (timeoutNanos > 0) {
      idleTimer = ctx.executor().schedule(this::checkIdle, timeoutNanos, TimeUnit.NANOSECONDS);
    }
  }

  private void checkIdle() {
    if (state.isTerminal() || upstreamChannel == null) {
      return;
    }
    long timeout = gw.config().upstreamIdleTimeout().toNanos();
    long idle = clock.nanoTime() - lastUpstreamReadNanos;
    if (idle >= timeout && upstreamChannel.config().isAutoRead()) {
      upstreamTimedOut();
      if (state == StreamState.ERROR_BODY) {
        errorBodyStalled();
      } else if (upstreamHead == null) {
        // No read was handed on since the request went up, but the codec hands on a head only once it is whole:
        // its lines may have kept coming. What ran out is the head's deadline, not the upstream's voice.
        fail(ErrorKind.UPSTREAM_HEAD_TIMEOUT, ErrorKind.headTimeout(gw.config().upstreamIdleTimeout()));
      } else {
        fail(ErrorKind.UPSTREAM_IDLE_TIMEOUT, null);
      }
      return;
    }
    armIdleTimer(Math.max(timeout - idle, timeout / 4));
  }

  /** Graceful shutdown ran out of time for this stream. Call on its loop. */
  void shutdown() {
    fail(ErrorKind.SHUTDOWN, null);
  }

  // ---------------------------------------------------------------- failing

  /**
   * The upstream's error head came but its body stalls (the head-wait or the idle timeout ran out while it was
   * collected): the client gets that status with the body read so far, as when the upstream closes mid-body. Our
   * own 200 head, or a 504, would hide the answer the upstream did give.
   */
  private void errorBodyStalled() {
    upstreamReusable = false; // the rest of the body is still to come on it
    failWithUpstreamError();
  }

  /** The upstream's error response is complete (or cut): the client gets its status, or an in-band error. */
  private void failWithUpstreamError() {
    int status = upstreamHead.status().code();
    String body = errorBody == null ? "" : errorBody.toString(StandardCharsets.UTF_8);
    if (client.headSent()) {
      fail(ErrorKind.UPSTREAM_STATUS, UpstreamErrorBody.toApiError(dialect, status, body));
      return;
    }
    errorKind = ErrorKind.UPSTREAM_STATUS;
    releaseUpstream();
    client.errorResponse(upstreamHead.status(), UpstreamErrorBody.forClient(dialect, status, body), upstreamHead.headers());
    moveTo(StreamState.FAILED);
    finish("error:" + ErrorKind.UPSTREAM_STATUS.label());
  }

  /**
   * Ends the request with an error: a JSON error response if the head has not gone out, else an in-band
   * error in the body's framing ({@link ClientStream#fail}).
   *
   * @param error the error to send, or null for the kind's own
   */
  private void fail(ErrorKind kind, ApiError error) {
    if (state.isTerminal()) {
      return;
    }
    errorKind = kind;
    closeUpstream();
    if (hedge == null) {
      sendDeferredHead(); // the attempt that fails is the answer: its status, then the error in-band
    }
    client.fail(kind.status, error != null ? error : kind.apiError(), kind.retryAfter());
    moveTo(StreamState.FAILED);
    finish("error:" + kind.label());
  }

  /** The response ended cleanly on the upstream connection: pool it if its framing allows, else close it. */
  private void releaseUpstream() {
    lease.end(); // the attempt is over: out of flight before the client's end is written, which a client may see first
    Channel up = upstreamChannel;
    upstreamChannel = null;
    if (up == null) {
      return;
    }
    if (upstreamReusable && up.isActive()) {
      gw.pool().release(up, upstream);
    } else {
      up.pipeline().get(UpstreamHandler.class).unbind();
      up.close();
    }
  }

  /** The stream ended before the upstream's body did: the connection waits for that end apart ({@link UpstreamDrain}). */
  private void drainUpstream() {
    lease.end(); // as in releaseUpstream
    Channel up = upstreamChannel;
    ChunkedBody body = rawBody;
    upstreamChannel = null;
    rawBody = null;
    if (up == null) {
      return;
    }
    if (upstreamReusable && up.isActive()) {
      UpstreamDrain.start(up, upstream, gw.pool(), body, ctx.executor());
    } else {
      up.pipeline().get(UpstreamHandler.class).unbind();
      up.close();
    }
  }

  private void closeUpstream() {
    lease.end(); // as in releaseUpstream
    Channel up = upstreamChannel;
    upstreamChannel = null;
    if (relay != null) {
      relay.release();
      relay = null;
    }
    scanner = null;
    translator = null;
    translatorParser = null;
    rawBody = null;
    if (up != null) {
      up.pipeline().get(UpstreamHandler.class).unbind();
      up.close();
    }
  }

  private static void cancel(ScheduledFuture<?> timer) {
    if (timer != null) {
      timer.cancel(false);
    }
  }

  private void finish(String outcome) {
    client.flush(); // before the books close: the end may have come in the read that brought the first token
    flushed();
    cancel(hedgeTimer);
    cancelHedge();
    cancel(headWaitTimer);
    cancel(firstTokenTimer);
    cancel(idleTimer);
    cancel(slowClientTimer);
    cancel(upstreamErrorEnd);
    if (scanner != null) {
      scanner.end();
    }
    if (translatorParser != null) {
      translatorParser.end();
    }
    if (relay != null) {
      relay.release();
    }
    client.release();
    ReferenceCountUtil.release(clientRequest);
    ReferenceCountUtil.release(upstreamBody);
    if (errorBody != null) {
      errorBody.release();
      errorBody = null;
    }
    lease.end();
    // Running until booked: whoever waits for no stream (the drain, the warm-up, a test reading a counter) then sees
    // every ended stream's metrics and access-log line, not one booked a moment after.
    try {
      gw.hedging().recordFirstToken(books.upstreamTtftNanos());
      books.hedged(hedgeOutcome);
      books.finish(gw.accessLog(), method.name(), path, client.status(), upstream == null ? "-" : upstream.name(), outcome,
          errorKind);
    } finally {
      gw.unregister(this);
    }
    owner.exchangeEnded(this, keepAlive && state != StreamState.CANCELLED && !client.closedConnection());
  }
}
