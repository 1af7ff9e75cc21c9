package dev.tokenpipe.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.http.HttpResponses;
import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.sse.SseEncoder;
import dev.tokenpipe.sse.SseEvent;
import dev.tokenpipe.sse.SseException;
import dev.tokenpipe.sse.SseParser;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * One proxied request, from the client's request to the end of the response, on the client channel's
 * event loop (its upstream channel lives on the same loop, so every method here runs on one thread).
 *
 * <p>The token path is {@link #relay}: each upstream read is written and flushed to the client at once,
 * as the same bytes (a retained slice), and only afterwards scanned on the side by {@link StreamScanner}.
 *
 * <p>State changes go through {@link #moveTo}; the allowed ones are listed in {@link StreamState}. The
 * completeness contract: a stream whose head went out ends with the upstream's own terminator, or with an
 * in-band {@code event: error} carrying an OpenAI error object followed by the terminating chunk, never
 * with a bare close (except a non-stream body cut mid-way, where closing without the last chunk is how
 * HTTP/1.1 says "incomplete").
 */
final class ProxyExchange implements StreamScanner.Sink {
  /** Which API the client called: relayed bytes, or the translated simple token API. */
  enum Api { PROXY, TOKENS }

  private static final int MAX_ERROR_BODY_BYTES = 64 * 1024;

  private final GatewayContext gw;
  private final GatewayMetrics metrics;
  private final ChannelHandlerContext client;
  private final GatewayHandler owner;
  private final Api api;
  private final HttpMethod method;
  private final String path;
  private final String upstreamUri;
  private final FullHttpRequest clientRequest;
  private final ByteBuf upstreamBody;
  private final boolean expectStream;
  private final boolean keepAlive;
  private final long startNanos = System.nanoTime();
  private final Set<Upstream> tried = new HashSet<>(4);
  private final HeartbeatTimer heartbeat;

  private StreamState state = StreamState.PENDING;
  private Upstream upstream;
  private Channel upstreamChannel;
  private boolean reusedConnection;
  private boolean staleRetried;
  private boolean localRetried;
  private boolean upstreamKeepAlive;
  private int upstreamStatus;

  /** The client's response head went out (ours, or the upstream's passed through). */
  private boolean headSent;
  /** The head that went out was the upstream's non-stream head: no retry, no in-band errors possible. */
  private boolean passthrough;
  private int status;
  private Framing framing = Framing.RAW;
  /** Upstream body bytes written to the client (comments and heartbeats are not counted). */
  private long forwardedBytes;
  private StreamScanner scanner;
  private SseParser translatorParser;
  private TokenTranslator translator;
  private ByteBuf errorBody;
  private ErrorKind errorKind;

  private ScheduledFuture<?> firstTokenTimer;
  private ScheduledFuture<?> idleTimer;
  private ScheduledFuture<?> slowClientTimer;
  private long upstreamRequestNanos;
  private long lastUpstreamReadNanos;
  private long upstreamTtftNanos = -1;
  private long deliveredTtftNanos = -1;
  private long lastContentNanos;
  private long contentEvents;
  private long usageTokens = -1;
  private boolean sawDone;

  /**
   * @param clientRequest the aggregated request; this exchange takes over one reference and releases it
   * @param upstreamBody the body to send upstream (the client's, or the translated one); taken over too
   */
  ProxyExchange(GatewayContext gw, ChannelHandlerContext client, GatewayHandler owner, Api api,
      FullHttpRequest clientRequest, String upstreamUri, ByteBuf upstreamBody, boolean expectStream) {
    this.gw = gw;
    this.metrics = gw.metrics();
    this.client = client;
    this.owner = owner;
    this.api = api;
    this.clientRequest = clientRequest;
    this.method = api == Api.TOKENS ? HttpMethod.POST : clientRequest.method();
    this.path = clientRequest.uri();
    this.upstreamUri = upstreamUri;
    this.upstreamBody = upstreamBody;
    this.expectStream = expectStream;
    this.keepAlive = HttpUtil.isKeepAlive(clientRequest);
    this.heartbeat = new HeartbeatTimer(client.executor(), gw.config().heartbeat().toNanos(), this::heartbeatNow);
  }

  // ---------------------------------------------------------------- lifecycle

  void start() {
    gw.register(this);
    if (expectStream && gw.config().initialComment()) {
      // Headers leave now, before the upstream answers: proxies and clients see a live stream at once.
      // Trade-off: the client's TTFB no longer measures the upstream, and upstream HTTP errors can
      // only be reported in-band from here on.
      sendStreamHead(null, Framing.SSE);
      writeText(SseEncoder.comment("ok"));
    }
    long ftt = gw.config().firstTokenTimeout().toNanos();
    if (ftt > 0) {
      firstTokenTimer = client.executor().schedule(this::onFirstTokenTimeout, ftt, TimeUnit.NANOSECONDS);
    }
    Upstream first = gw.upstreams().pick(tried);
    if (first == null) {
      fail(ErrorKind.NO_UPSTREAM, null);
      return;
    }
    attempt(first);
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
    return client.executor();
  }

  private void attempt(Upstream u) {
    if (!tried.isEmpty()) {
      metrics.retries.inc();
    }
    tried.add(u);
    upstream = u;
    Future<Channel> f = gw.pool().acquire(client.channel().eventLoop(), u);
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
        fail(failure.kind(), failure.json());
        return;
      }
      gw.upstreams().markFailed(u);
      retryOrFail(failure.kind(), failure.json());
      return;
    }
    Channel ch = f.getNow();
    upstreamChannel = ch;
    ch.pipeline().get(UpstreamHandler.class).bind(this);
    ch.config().setAutoRead(client.channel().isWritable());
    upstreamRequestNanos = System.nanoTime();
    lastUpstreamReadNanos = upstreamRequestNanos;
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
    StreamHeaders.toUpstream(r.headers(), u, gw.config().upstreamKey(), !gw.apiKeys().enabled());
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
   * Retries on another healthy upstream while nothing but comments reached the client, else fails.
   *
   * @param json the OpenAI error JSON to fail with, or null for the kind's own
   */
  private void retryOrFail(ErrorKind kind, String json) {
    if (canRetry()) {
      Upstream next = gw.upstreams().pick(tried);
      if (next != null) {
        moveTo(StreamState.PENDING);
        attempt(next);
        return;
      }
    }
    fail(kind, json);
  }

  private boolean canRetry() {
    return forwardedBytes == 0 && !passthrough && tried.size() < gw.config().maxAttempts();
  }

  // ---------------------------------------------------------------- upstream events

  /** Everything the upstream connection reads. Releases {@code msg}. */
  void onUpstreamMessage(Object msg) {
    try {
      if (state.isTerminal()) {
        return;
      }
      long now = System.nanoTime();
      lastUpstreamReadNanos = now;
      if (msg instanceof HttpResponse head) {
        onUpstreamHead(head);
      }
      if (msg instanceof HttpContent content && !state.isTerminal()) {
        onUpstreamContent(content, now);
      }
    } catch (RuntimeException e) {
      org.slf4j.LoggerFactory.getLogger(ProxyExchange.class).warn("relay failed", e);
      fail(ErrorKind.INTERNAL, null);
    } finally {
      ReferenceCountUtil.release(msg);
    }
  }

  private void onUpstreamHead(HttpResponse head) {
    upstreamStatus = head.status().code();
    upstreamKeepAlive = HttpUtil.isKeepAlive(head);
    Framing upstreamFraming = Framing.of(head.headers());
    if (upstreamStatus >= 200 && upstreamStatus < 300) {
      gw.upstreams().markHealthy(upstream);
      moveTo(StreamState.RELAYING);
      if (api == Api.TOKENS) {
        if (upstreamFraming != Framing.SSE) {
          fail(ErrorKind.INVALID_SSE, null);
          return;
        }
        translator = new TokenTranslator(this::writeEvent, this::failWithErrorJson, this);
        translatorParser = new SseParser(translator);
        sendStreamHead(null, Framing.SSE);
      } else if (upstreamFraming.isStream()) {
        sendStreamHead(head.headers(), upstreamFraming);
        scanner = new StreamScanner(upstreamFraming, false, this);
      } else {
        if (!headSent) {
          passthrough = true;
          sendHead(StreamHeaders.passthroughHead(head, keepAlive), Framing.RAW);
        }
        cancel(firstTokenTimer); // a whole answer has no first token to wait for
      }
      return;
    }
    boolean overloaded = upstreamStatus == 502 || upstreamStatus == 503 || upstreamStatus == 504;
    if (overloaded) {
      gw.upstreams().markFailed(upstream);
      if (canRetry()) {
        Upstream next = gw.upstreams().pick(tried);
        if (next != null) {
          closeUpstream();
          moveTo(StreamState.PENDING);
          attempt(next);
          return;
        }
      }
    }
    if (headSent) {
      // The client already holds a 200 event-stream head: collect the error for an in-band event.
      moveTo(StreamState.ERROR_BODY);
      errorBody = client.alloc().buffer(256);
      return;
    }
    // Nothing went out yet: the client gets the upstream's own status and body.
    moveTo(StreamState.RELAYING);
    passthrough = true;
    errorKind = ErrorKind.UPSTREAM_STATUS;
    sendHead(StreamHeaders.passthroughHead(head, keepAlive), Framing.RAW);
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
      if (translatorParser != null) {
        translator.readAt(readNanos);
        feedChecked(() -> translatorParser.feed(buf));
      } else {
        relay(buf, readNanos);
      }
    }
    if (last && state == StreamState.RELAYING) {
      onUpstreamEnd();
    }
  }

  /**
   * The token path: the bytes just read go to the client unchanged, written and flushed at once (one
   * flush per upstream read, no consolidation), then are scanned for the books.
   */
  private void relay(ByteBuf buf, long readNanos) {
    int skip = forwardedBytes == 0 && framing == Framing.SSE ? leadingBom(buf) : 0;
    ByteBuf out = buf.retainedSlice(buf.readerIndex() + skip, buf.readableBytes() - skip);
    forwardedBytes += out.readableBytes();
    ChannelFuture written = client.writeAndFlush(new DefaultHttpContent(out));
    measure(written, readNanos);
    if (scanner != null) {
      feedChecked(() -> scanner.feed(buf, readNanos));
    }
  }

  /**
   * A leading UTF-8 BOM is dropped: the client's parser skips one only at the very start of its stream,
   * and our initial comment or a heartbeat may already have been there.
   */
  private static int leadingBom(ByteBuf buf) {
    int i = buf.readerIndex();
    return buf.readableBytes() >= 3 && buf.getByte(i) == (byte) 0xEF && buf.getByte(i + 1) == (byte) 0xBB
        && buf.getByte(i + 2) == (byte) 0xBF ? 3 : 0;
  }

  private void feedChecked(Runnable feed) {
    try {
      feed.run();
    } catch (SseException e) {
      fail(ErrorKind.INVALID_SSE, null);
    }
  }

  /** Books of one event (from the scanner or the translator), after its bytes went out. */
  @Override
  public void onChunk(Chunk chunk, SseEvent event, long readNanos) {
    metrics.events.inc();
    if (chunk.usageTokens() >= 0) {
      usageTokens = chunk.usageTokens();
    }
    if (chunk.done()) {
      sawDone = true;
    }
    if (!chunk.isContent()) {
      return;
    }
    contentEvents++;
    if (upstreamTtftNanos < 0) {
      upstreamTtftNanos = readNanos - upstreamRequestNanos;
      deliveredTtftNanos = System.nanoTime() - startNanos; // its write+flush has returned by now
      metrics.upstreamTtft.observe(upstreamTtftNanos / 1e9);
      metrics.deliveredTtft.observe(deliveredTtftNanos / 1e9);
      cancel(firstTokenTimer);
    } else {
      metrics.itl.observe((readNanos - lastContentNanos) / 1e9);
    }
    lastContentNanos = readNanos;
  }

  private void onUpstreamEnd() {
    if (scanner != null) {
      scanner.end();
    }
    if (translator != null && !translator.sawDone()) {
      writeEvent(SseEncoder.data(SseEncoder.DONE)); // the simple API always ends with [DONE]
    }
    Channel up = upstreamChannel;
    upstreamChannel = null;
    if (up != null) {
      if (upstreamKeepAlive) {
        gw.pool().release(up, upstream);
      } else {
        up.pipeline().get(UpstreamHandler.class).unbind();
        up.close();
      }
    }
    writeLast();
    moveTo(StreamState.DONE);
    finish(errorKind == null ? "done" : "error:" + errorKind.label());
  }

  /** The upstream connection closed (or failed) while serving us. */
  void onUpstreamClosed(Throwable cause) {
    upstreamChannel = null;
    if (state.isTerminal()) {
      return;
    }
    if (state == StreamState.ERROR_BODY) {
      failWithUpstreamError();
      return;
    }
    boolean beforeHead = state == StreamState.PENDING;
    if (beforeHead && reusedConnection && !staleRetried) {
      // A pooled keep-alive connection the upstream had already closed: not the upstream's fault.
      staleRetried = true;
      tried.remove(upstream);
      attempt(upstream);
      return;
    }
    if (beforeHead || canRetry()) {
      gw.upstreams().markFailed(upstream);
      retryOrFail(ErrorKind.UPSTREAM_CUT, null);
      return;
    }
    fail(ErrorKind.UPSTREAM_CUT, null);
  }

  // ---------------------------------------------------------------- client events

  /** Backpressure: an unwritable client pauses its upstream's reads; a client stuck too long is dropped. */
  void onClientWritabilityChanged() {
    if (state.isTerminal()) {
      return;
    }
    boolean writable = client.channel().isWritable();
    if (upstreamChannel != null) {
      upstreamChannel.config().setAutoRead(writable);
    }
    if (!writable) {
      metrics.pauses.inc();
      long slow = gw.config().slowClientTimeout().toNanos();
      if (slow > 0 && slowClientTimer == null) {
        slowClientTimer = client.executor().schedule(this::onSlowClient, slow, TimeUnit.NANOSECONDS);
      }
    } else {
      lastUpstreamReadNanos = System.nanoTime(); // the pause was the client's, not the upstream's silence
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
    if (state.isTerminal() || client.channel().isWritable()) {
      return;
    }
    metrics.slowClients.inc();
    errorKind = ErrorKind.SLOW_CLIENT;
    closeUpstream();
    moveTo(StreamState.CANCELLED);
    client.close(); // nothing more can be written to it; the close tells it the stream is incomplete
    finish("error:" + ErrorKind.SLOW_CLIENT.label());
  }

  private void onFirstTokenTimeout() {
    if (!state.isTerminal() && upstreamTtftNanos < 0 && !passthrough) {
      fail(ErrorKind.FIRST_TOKEN_TIMEOUT, null);
    }
  }

  private void armIdleTimer(long timeoutNanos) {
    cancel(idleTimer);
    if (timeoutNanos > 0) {
      idleTimer = client.executor().schedule(this::checkIdle, timeoutNanos, TimeUnit.NANOSECONDS);
    }
  }

  private void checkIdle() {
    if (state.isTerminal() || upstreamChannel == null) {
      return;
    }
    long timeout = gw.config().upstreamIdleTimeout().toNanos();
    long idle = System.nanoTime() - lastUpstreamReadNanos;
    if (idle >= timeout && upstreamChannel.config().isAutoRead()) {
      fail(ErrorKind.UPSTREAM_IDLE_TIMEOUT, null);
      return;
    }
    armIdleTimer(Math.max(timeout - idle, timeout / 4));
  }

  /** Graceful shutdown ran out of time for this stream. Call on its loop. */
  void shutdown() {
    fail(ErrorKind.SHUTDOWN, null);
  }

  // ---------------------------------------------------------------- writing to the client

  private void sendStreamHead(io.netty.handler.codec.http.HttpHeaders upstreamHeaders, Framing f) {
    if (!headSent) {
      sendHead(StreamHeaders.streamHead(upstreamHeaders, f, keepAlive), f);
      heartbeat.start();
    }
  }

  private void sendHead(HttpResponse head, Framing f) {
    headSent = true;
    framing = f;
    status = head.status().code();
    client.writeAndFlush(head);
  }

  private boolean heartbeatNow() {
    if (state.isTerminal() || framing != Framing.SSE || !client.channel().isWritable()) {
      return false;
    }
    if (scanner != null && !scanner.atEventBoundary()) {
      return false; // never inside an event: a comment line there would be harmless, the blank line after it not
    }
    writeText(SseEncoder.comment("ping"));
    metrics.heartbeats.inc();
    return true;
  }

  /** A gateway-made event of the translated API, counted as forwarded upstream content. */
  private void writeEvent(String event) {
    long readNanos = System.nanoTime();
    ByteBuf buf = ByteBufUtil.writeUtf8(client.alloc(), event);
    forwardedBytes += buf.readableBytes();
    measure(client.writeAndFlush(new DefaultHttpContent(buf)), readNanos);
  }

  private void writeText(String text) {
    client.writeAndFlush(new DefaultHttpContent(ByteBufUtil.writeUtf8(client.alloc(), text)));
    heartbeat.written(System.nanoTime());
  }

  private void measure(ChannelFuture written, long readNanos) {
    heartbeat.written(readNanos);
    written.addListener(f -> {
      if (f.isSuccess()) {
        metrics.recordAdded(System.nanoTime() - readNanos);
      }
    });
    ChannelOutboundBuffer out = client.channel().unsafe().outboundBuffer();
    if (out != null) {
      metrics.recordPending(out.totalPendingWriteBytes());
    }
  }

  private void writeLast() {
    ChannelFuture f = client.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
    if (!keepAlive) {
      f.addListener(ChannelFutureListener.CLOSE);
    }
  }

  // ---------------------------------------------------------------- failing

  private void failWithUpstreamError() {
    String body = errorBody == null ? "" : errorBody.toString(StandardCharsets.UTF_8);
    String json = openAiError(body);
    errorKind = ErrorKind.UPSTREAM_STATUS;
    if (json == null) {
      String snippet = body.length() > 200 ? body.substring(0, 200) + "..." : body;
      json = ApiError.server(HttpResponseStatus.BAD_GATEWAY,
          "The upstream answered " + upstreamStatus + (snippet.isBlank() ? "" : ": " + snippet.strip()),
          ErrorKind.UPSTREAM_STATUS.code).toJson();
    }
    fail(ErrorKind.UPSTREAM_STATUS, json);
  }

  /** An error the upstream itself sent as an event (translated API): pass it on and end. */
  private void failWithErrorJson(String json) {
    fail(ErrorKind.UPSTREAM_STATUS, json);
  }

  /** {@code body} compacted when it is an OpenAI error object, else null. */
  private static String openAiError(String body) {
    try {
      JsonNode n = Json.MAPPER.readTree(body);
      return n != null && n.path("error").isObject() ? n.toString() : null;
    } catch (Exception e) {
      return null;
    }
  }

  /**
   * Ends the request with an error: a JSON error response if the head has not gone out, else an in-band
   * error event and the terminating chunk (SSE), an error line (NDJSON), or a close (other bodies).
   *
   * @param json the OpenAI error JSON to send, or null for the kind's own
   */
  private void fail(ErrorKind kind, String json) {
    if (state.isTerminal()) {
      return;
    }
    errorKind = kind;
    closeUpstream();
    String error = json != null ? json : kind.apiError().toJson();
    if (!headSent) {
      FullHttpResponse res = HttpResponses.json(client, kind.status, error);
      if (kind.retryAfter() != null) {
        res.headers().set(HttpHeaderNames.RETRY_AFTER, kind.retryAfter());
      }
      status = kind.status.code();
      headSent = true;
      HttpResponses.send(client, res, keepAlive);
    } else if (framing == Framing.SSE) {
      boolean midEvent = scanner != null && !scanner.atEventBoundary();
      // Mid-event, the blank line ends the partial event first: the client sees it cut, then the error.
      writeText((midEvent ? "\n\n" : "") + SseEncoder.event("error", null, error));
      writeLast();
    } else if (framing == Framing.NDJSON) {
      writeText("\n" + error + "\n");
      writeLast();
    } else {
      client.close();
    }
    moveTo(StreamState.FAILED);
    finish("error:" + kind.label());
  }

  private void closeUpstream() {
    Channel up = upstreamChannel;
    upstreamChannel = null;
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
    heartbeat.stop();
    cancel(firstTokenTimer);
    cancel(idleTimer);
    cancel(slowClientTimer);
    if (scanner != null) {
      scanner.end();
    }
    if (translatorParser != null) {
      translatorParser.end();
    }
    ReferenceCountUtil.release(clientRequest);
    ReferenceCountUtil.release(upstreamBody);
    if (errorBody != null) {
      errorBody.release();
      errorBody = null;
    }
    gw.unregister(this);
    long e2e = System.nanoTime() - startNanos;
    long tokens = usageTokens >= 0 ? usageTokens : contentEvents;
    metrics.e2e.observe(e2e / 1e9);
    if (deliveredTtftNanos >= 0 && tokens > 1) {
      metrics.tpot.observe((e2e - deliveredTtftNanos) / 1e9 / (tokens - 1));
    }
    metrics.tokens.inc(tokens);
    String kind = outcome.startsWith("error:") ? "error" : outcome;
    metrics.requests.labelValues(kind).inc();
    if (errorKind != null) {
      metrics.errors.labelValues(errorKind.label()).inc();
    }
    AccessLog.write(new AccessLog.Entry(method.name(), path, status, upstream == null ? "-" : upstream.name(),
        upstreamTtftNanos, deliveredTtftNanos, tokens, e2e, outcome));
    owner.exchangeEnded(this, keepAlive && state != StreamState.CANCELLED && !(passthrough && state == StreamState.FAILED));
  }
}
