package dev.tokenpipe.gateway;

import dev.tokenpipe.http.ConnectionTimeouts;
import dev.tokenpipe.http.HttpResponses;
import dev.tokenpipe.http.InTurnAggregator;
import dev.tokenpipe.http.LingeringClose;
import dev.tokenpipe.http.PrometheusText;
import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.openai.ApiException;
import dev.tokenpipe.probe.ProbeRequest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Routes the requests of one client connection ({@link Route}): the gateway's own endpoints
 * ({@code /healthz}, {@code /readyz}, {@code /metrics}), CORS preflights, and {@code /v1/*} and
 * {@code /api/*} after path normalisation ({@link RequestPath}), authentication and admission, to a
 * {@link ProxyExchange}.
 *
 * <p>Connection lifecycle:
 * <ul>
 *   <li>One response at a time (HTTP/1.1); pipelined requests wait in order. At {@value #READ_PAUSE_AT}
 *       waiting requests the connection stops reading its socket (the client then meets TCP
 *       backpressure); requests already read past that wait too, up to {@value #MAX_WAITING}; a request
 *       beyond that is refused with a 503 {@code too_many_pipelined} after all before it were answered,
 *       and the connection closes. A running stream is never cut for it.</li>
 *   <li>A pipelined request's {@code 100 Continue} goes out in its turn, when every answer before it has ended
 *       ({@link #answeredAll}; the aggregator holds it back until then).</li>
 *   <li>Every close after a final answer here is a {@link LingeringClose}, so that unread request bytes
 *       cannot turn the close into a reset that destroys the answer.</li>
 *   <li>While fewer requests wait, the connection keeps reading during a stream, so a client close is seen
 *       at once; while reading is paused, it is seen at the next write.</li>
 *   <li>A request-side protocol error (malformed request 400, request line too long 414, head too large
 *       431) is answered, then the connection closes: the decoder cannot find the next request.</li>
 *   <li>A request the aggregator refuses (a body over {@code --max-body} 413, an {@code Expect} other than
 *       {@code 100-continue} 417) is answered in its turn, after the responses before it, then the connection
 *       closes: its body is unread, or may or may not follow.</li>
 *   <li>While the gateway drains, every request but the local endpoints gets 503 {@code gateway_draining},
 *       and every response closes its connection.</li>
 * </ul>
 */
final class GatewayHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
  private static final Logger log = LoggerFactory.getLogger(GatewayHandler.class);
  /** Waiting requests at which the connection stops reading from its socket. */
  static final int READ_PAUSE_AT = 8;
  /** Most requests that may wait; more were already read from the socket before the pause only. */
  static final int MAX_WAITING = 64;
  static final String STREAM_PATH = Route.STREAM_PATH;
  /** {@code Access-Control-Allow-Methods} of a preflight on a proxied path: the methods the APIs use. */
  private static final String PROXY_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE";

  private final GatewayContext gw;
  private final CorsPolicy cors;
  private final ArrayDeque<FullHttpRequest> pipelined = new ArrayDeque<>();
  private ChannelHandlerContext ctx;
  /** The aggregator before this handler, which holds back a 100 Continue until its request's turn. */
  private InTurnAggregator body;
  private ProxyExchange exchange;
  private boolean probing;
  /** More than {@link #MAX_WAITING} requests came: after the waiting ones, a 503 and the close. */
  private boolean overflowed;
  /** A response that closes the connection went out: nothing more is answered. */
  private boolean closing;

  GatewayHandler(GatewayContext gw, CorsPolicy cors) {
    super(false); // requests are released here or handed to the exchange
    this.gw = gw;
    this.cors = cors;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
    this.body = ctx.pipeline().get(InTurnAggregator.class);
  }

  /** Nothing is being answered or waits to be: a request being read now is the next one answered. */
  boolean answeredAll() {
    return !busy() && !closing && !overflowed && pipelined.isEmpty();
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
    requestTimeout().requestRead();
    if (closing || overflowed) {
      req.release(); // refused with the 503 that follows the waiting ones, or the connection is closing
      return;
    }
    if (busy() || !pipelined.isEmpty()) {
      if (pipelined.size() >= MAX_WAITING) {
        overflowed = true;
        req.release();
      } else {
        pipelined.add(req);
      }
      updateReading();
      return;
    }
    handle(req);
    next();
  }

  /** Answers waiting requests in order while no response is running; then waits for the next request. */
  private void next() {
    FullHttpRequest r;
    while (!busy() && !closing && (r = pipelined.poll()) != null) {
      handle(r);
    }
    if (!busy() && pipelined.isEmpty() && !closing) {
      if (overflowed) {
        gw.metrics().rejected.labelValues("503").inc();
        send(HttpResponses.error(ctx, ApiError.server(HttpResponseStatus.SERVICE_UNAVAILABLE,
            "More than " + MAX_WAITING + " requests were pipelined on this connection; send the rest on a new one.",
            "too_many_pipelined")), false);
      } else {
        body.inTurn();
        requestTimeout().awaitNext();
      }
    }
    updateReading();
  }

  /** TCP backpressure toward a client that pipelines faster than it is answered. */
  private void updateReading() {
    if (closing) {
      return; // the lingering close reads (and drops) until the end
    }
    boolean read = !probing && !overflowed && pipelined.size() < READ_PAUSE_AT;
    if (ctx.channel().config().isAutoRead() != read) {
      ctx.channel().config().setAutoRead(read);
    }
  }

  private void handle(FullHttpRequest req) {
    long start = System.nanoTime();
    boolean malformed = req.decoderResult().isFailure();
    boolean keepAlive = HttpUtil.isKeepAlive(req) && !malformed && !gw.draining();
    Route route = Route.NOT_FOUND;
    try {
      if (malformed) {
        // A body over --max-body and an Expect other than 100-continue come here from the aggregator, in their
        // turn (InTurnAggregator); a closing refusal like the decoder's errors.
        throw new ApiException(InTurnAggregator.refusal(req, gw.config().maxBodyBytes()));
      }
      RequestPath target = RequestPath.parse(req.uri());
      route = Route.of(target.path());
      if (gw.draining() && !route.local()) {
        throw new ApiException(ApiError.server(HttpResponseStatus.SERVICE_UNAVAILABLE,
            "The gateway is shutting down; retry on a new connection.", "gateway_draining"));
      }
      if (cors.enabled() && route != Route.NOT_FOUND && CorsPolicy.isPreflight(req.method().name(), req.headers())) {
        preflight(req, route, start, keepAlive);
        return;
      }
      switch (route) {
        case HEALTHZ -> local(req, start, HttpResponses.json(ctx, HttpResponseStatus.OK, "{\"status\":\"ok\"}"), keepAlive);
        case READYZ -> local(req, start, readiness(), keepAlive);
        case METRICS -> local(req, start,
            HttpResponses.body(ctx, HttpResponseStatus.OK, PrometheusText.CONTENT_TYPE, gw.metrics().scrape()), keepAlive);
        case PROBE -> {
          probe(req, start, keepAlive);
          return;
        }
        case TOKENS, PROXY -> {
          proxy(req, route, target);
          return; // the exchange owns the request now
        }
        case NOT_FOUND ->
            throw new ApiException(ApiError.notFound("Invalid URL (" + req.method() + " " + target.path() + ")", "unknown_url"));
      }
      req.release();
    } catch (ApiException e) {
      gw.metrics().rejected.labelValues(String.valueOf(e.error().status().code())).inc();
      // In the shape of the API the client called: an Anthropic SDK parses Anthropic's error object.
      FullHttpResponse res = HttpResponses.error(ctx.alloc(), e.error(), route.allow, Route.dialect(req.uri()));
      if (e.error().status().code() == 429) {
        res.headers().set(HttpHeaderNames.RETRY_AFTER, "1");
      }
      gw.accessLog().local(req.method().name(), req.uri(), e.error().status().code(), start);
      req.release();
      send(res, keepAlive);
    }
  }

  private void proxy(FullHttpRequest req, Route route, RequestPath target) {
    ApiError denied = gw.apiKeys().check(req.headers());
    if (denied != null) {
      throw new ApiException(denied);
    }
    ProxyExchange.Api api = ProxyExchange.Api.PROXY;
    String upstreamUri = target.uri();
    ByteBuf body;
    if (route == Route.TOKENS) {
      if (!HttpMethod.POST.equals(req.method())) {
        throw new ApiException(ApiError.methodNotAllowed(req.method().name(), target.path()));
      }
      String chat = TokenTranslator.upstreamBody(
          req.content().toString(StandardCharsets.UTF_8), gw.config().model(), gw.defaultModel());
      api = ProxyExchange.Api.TOKENS;
      upstreamUri = "/v1/chat/completions";
      body = ByteBufUtil.writeUtf8(ctx.alloc(), chat);
    } else {
      body = req.content().retain();
    }
    if (!gw.tryAdmit()) {
      body.release();
      throw new ApiException(ApiError.server(HttpResponseStatus.TOO_MANY_REQUESTS,
          "The gateway is at its limit of " + gw.config().maxStreams() + " concurrent streams; retry shortly.",
          "too_many_streams"));
    }
    boolean expectStream = api == ProxyExchange.Api.TOKENS || Route.asksForStream(target.path(), req);
    exchange = new ProxyExchange(gw, ctx, this, api, req, upstreamUri, body, expectStream);
    exchange.start();
  }

  /**
   * Answers a CORS preflight for an allowed origin with 204; {@link CorsHandler} adds the allowed origin on
   * the way out. A preflight is never forwarded: the upstream has no say in the gateway's CORS policy.
   */
  private void preflight(FullHttpRequest req, Route route, long start, boolean keepAlive) {
    String origin = req.headers().get(HttpHeaderNames.ORIGIN);
    if (cors.allowOrigin(origin) == null) {
      throw new ApiException(new ApiError(HttpResponseStatus.FORBIDDEN,
          "Origin " + origin + " is not allowed by this gateway's --cors-origins.", "invalid_request_error", null,
          "origin_not_allowed"));
    }
    FullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.NO_CONTENT);
    res.headers().set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_METHODS, route.allow != null ? route.allow : PROXY_METHODS);
    res.headers().set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_HEADERS, CorsPolicy.allowHeaders(req.headers()));
    res.headers().setInt(HttpHeaderNames.ACCESS_CONTROL_MAX_AGE, CorsPolicy.MAX_AGE_SECONDS);
    gw.accessLog().local(req.method().name(), req.uri(), 204, start);
    req.release();
    send(res, keepAlive);
  }

  private FullHttpResponse readiness() {
    int usable = gw.upstreams().usableCount();
    boolean healthy = usable > 0;
    boolean ready = healthy && !gw.draining() && !gw.warming();
    String status = gw.draining() ? "draining" : gw.warming() ? "warming" : ready ? "ready" : "not_ready";
    return HttpResponses.json(ctx, ready ? HttpResponseStatus.OK : HttpResponseStatus.SERVICE_UNAVAILABLE,
        "{\"status\":\"" + status + "\",\"upstreams_healthy\":" + healthy
            + ",\"upstreams_usable\":" + usable + ",\"upstreams\":" + gw.upstreams().all().size() + "}");
  }

  private void local(FullHttpRequest req, long start, FullHttpResponse res, boolean keepAlive) {
    if (!HttpMethod.GET.equals(req.method()) && !HttpMethod.HEAD.equals(req.method())) {
      res.release();
      throw new ApiException(ApiError.methodNotAllowed(req.method().name(), req.uri()));
    }
    gw.accessLog().local(req.method().name(), req.uri(), res.status().code(), start);
    send(res, keepAlive);
  }

  private void send(FullHttpResponse res, boolean keepAlive) {
    if (keepAlive) {
      HttpResponses.send(ctx, res, true);
      return;
    }
    closing = true;
    HttpUtil.setKeepAlive(res, false);
    res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    // Unread request bytes may follow (pipelined requests, a refused body): a plain close would reset the
    // connection and could destroy this answer at the client before it was read.
    LingeringClose.after(ctx.writeAndFlush(res));
  }

  /**
   * Serves the known-pacing probe from the gateway itself, so doctor can time every layer between
   * the client and this gateway. The connection reads no further request until the probe ends.
   */
  private void probe(FullHttpRequest req, long start, boolean keepAlive) {
    probing = true; // no pipelined request is answered in the middle of the probe's stream
    updateReading();
    try {
      ProbeRoute.serve(gw, ctx, req, start, keepAlive, () -> {
        probing = false;
        next();
      });
    } catch (ApiException e) {
      probing = false;
      updateReading();
      throw e;
    }
  }


  /** Called by the exchange when it has ended (on this loop). */
  void exchangeEnded(ProxyExchange ended, boolean connectionReusable) {
    if (exchange != ended) {
      return;
    }
    exchange = null;
    if (!connectionReusable || !ctx.channel().isActive()) {
      closing = true;
      releasePipelined();
      return;
    }
    next();
  }

  private ConnectionTimeouts requestTimeout() {
    return ctx.pipeline().get(ConnectionTimeouts.class);
  }

  /** A response (an exchange or the probe) is running on this connection. */
  boolean busy() {
    return exchange != null || probing;
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    if (exchange != null) {
      exchange.onClientWritabilityChanged();
    }
    ctx.fireChannelWritabilityChanged();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    closing = true;
    releasePipelined();
    if (exchange != null) {
      exchange.onClientGone();
    }
    ctx.fireChannelInactive();
  }

  private void releasePipelined() {
    FullHttpRequest r;
    while ((r = pipelined.poll()) != null) {
      r.release();
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    log.debug("client connection error", cause);
    ctx.close(); // channelInactive cancels a running exchange
  }
}
