package dev.tokenpipe.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.http.HttpResponses;
import dev.tokenpipe.http.PrometheusText;
import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.openai.ApiException;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.probe.ProbeRequest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Routes the requests of one client connection: the gateway's own endpoints ({@code /healthz},
 * {@code /readyz}, {@code /metrics}), and {@code /v1/*} after authentication and admission, to a
 * {@link ProxyExchange}. One exchange at a time per connection (HTTP/1.1); pipelined requests wait in a
 * short queue. The connection keeps reading during a stream so that a client close is seen at once.
 */
final class GatewayHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
  private static final Logger log = LoggerFactory.getLogger(GatewayHandler.class);
  private static final int MAX_PIPELINED = 8;
  static final String STREAM_PATH = "/v1/stream";

  private final GatewayContext gw;
  private final ArrayDeque<FullHttpRequest> pipelined = new ArrayDeque<>();
  private ChannelHandlerContext ctx;
  private ProxyExchange exchange;

  GatewayHandler(GatewayContext gw) {
    super(false); // requests are released here or handed to the exchange
    this.gw = gw;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
    requestTimeout().requestRead();
    if (exchange != null) {
      if (pipelined.size() >= MAX_PIPELINED) {
        req.release();
        ctx.close();
        return;
      }
      pipelined.add(req);
      return;
    }
    handle(req);
  }

  private void handle(FullHttpRequest req) {
    long start = System.nanoTime();
    boolean keepAlive = HttpUtil.isKeepAlive(req);
    String path = new QueryStringDecoder(req.uri()).path();
    try {
      if (req.decoderResult().isFailure()) {
        throw new ApiException(ApiError.invalidRequest("Malformed HTTP request.", null));
      }
      switch (path) {
        case "/healthz" -> local(req, start, HttpResponses.json(ctx, HttpResponseStatus.OK, "{\"status\":\"ok\"}"), keepAlive);
        case "/readyz" -> local(req, start, readiness(), keepAlive);
        case "/metrics" -> local(req, start,
            HttpResponses.body(ctx, HttpResponseStatus.OK, PrometheusText.CONTENT_TYPE, gw.metrics().scrape()), keepAlive);
        case ProbeRequest.PATH -> {
          ProbeRoute.serve(gw, ctx, req, start, keepAlive, this::idle);
          return;
        }
        default -> {
          if (!path.startsWith("/v1/")) {
            throw new ApiException(ApiError.notFound("Invalid URL (" + req.method() + " " + path + ")", "unknown_url"));
          }
          proxy(req, path, start);
          return; // the exchange owns the request now
        }
      }
      req.release();
    } catch (ApiException e) {
      gw.metrics().rejected.labelValues(String.valueOf(e.error().status().code())).inc();
      FullHttpResponse res = HttpResponses.error(ctx, e.error());
      if (e.error().status().code() == 429) {
        res.headers().set(HttpHeaderNames.RETRY_AFTER, "1");
      }
      AccessLog.local(req.method().name(), req.uri(), e.error().status().code(), start);
      req.release();
      HttpResponses.send(ctx, res, keepAlive);
      idle();
    }
  }

  private void proxy(FullHttpRequest req, String path, long start) {
    ApiError denied = gw.apiKeys().check(req.headers());
    if (denied != null) {
      throw new ApiException(denied);
    }
    ProxyExchange.Api api = ProxyExchange.Api.PROXY;
    String upstreamUri = req.uri();
    ByteBuf body;
    if (path.equals(STREAM_PATH)) {
      if (!HttpMethod.POST.equals(req.method())) {
        throw new ApiException(ApiError.methodNotAllowed(req.method().name(), path));
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
    boolean expectStream = api == ProxyExchange.Api.TOKENS || asksForStream(req);
    exchange = new ProxyExchange(gw, ctx, this, api, req, upstreamUri, body, expectStream);
    exchange.start();
  }

  /** A JSON body with {@code "stream": true}: the client will get an event stream (if the upstream agrees). */
  private static boolean asksForStream(FullHttpRequest req) {
    if (!HttpMethod.POST.equals(req.method()) || !req.content().isReadable()) {
      return false;
    }
    try {
      JsonNode n = Json.MAPPER.readTree(req.content().toString(StandardCharsets.UTF_8));
      return n != null && n.path("stream").asBoolean(false);
    } catch (Exception e) {
      return false; // malformed JSON is the upstream's to judge; its 400 passes through unchanged
    }
  }

  private FullHttpResponse readiness() {
    boolean ready = gw.upstreams().anyHealthy() && !gw.draining();
    return HttpResponses.json(ctx, ready ? HttpResponseStatus.OK : HttpResponseStatus.SERVICE_UNAVAILABLE,
        "{\"status\":\"" + (ready ? "ready" : "not_ready") + "\",\"upstreams_healthy\":" + gw.upstreams().anyHealthy() + "}");
  }

  private void local(FullHttpRequest req, long start, FullHttpResponse res, boolean keepAlive) {
    if (!HttpMethod.GET.equals(req.method()) && !HttpMethod.HEAD.equals(req.method())) {
      res.release();
      throw new ApiException(ApiError.methodNotAllowed(req.method().name(), req.uri()));
    }
    AccessLog.local(req.method().name(), req.uri(), res.status().code(), start);
    HttpResponses.send(ctx, res, keepAlive);
    idle();
  }

  /** Called by the exchange when it has ended (on this loop). */
  void exchangeEnded(ProxyExchange ended, boolean connectionReusable) {
    if (exchange != ended) {
      return;
    }
    exchange = null;
    if (!connectionReusable || !ctx.channel().isActive()) {
      releasePipelined();
      return;
    }
    idle();
    FullHttpRequest next = pipelined.poll();
    if (next != null) {
      handle(next);
    }
  }

  private void idle() {
    if (exchange == null && pipelined.isEmpty()) {
      requestTimeout().awaitNext();
    }
  }

  private RequestTimeoutHandler requestTimeout() {
    return ctx.pipeline().get(RequestTimeoutHandler.class);
  }

  boolean busy() {
    return exchange != null;
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
