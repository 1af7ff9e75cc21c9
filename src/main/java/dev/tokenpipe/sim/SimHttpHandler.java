package dev.tokenpipe.sim;

import dev.tokenpipe.dialect.Dialect;
import dev.tokenpipe.http.ConnectionTimeouts;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokenpipe.http.HttpResponses;
import dev.tokenpipe.http.InTurnAggregator;
import dev.tokenpipe.http.PrometheusText;
import dev.tokenpipe.http.RequestTarget;
import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.openai.ApiException;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.probe.ProbeRequest;
import dev.tokenpipe.probe.ProbeStream;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.random.RandomGenerator;
import org.HdrHistogram.Histogram;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers the requests of one connection, one at a time and in order. Pipelined requests wait in a
 * queue of at most {@link #MAX_QUEUED} requests (and at most {@code --max-body} of queued bodies);
 * when it is full, the {@link InboundGate} stops parsing and reading until there is room, so a
 * client that pipelines more is simply not read. A response never starts while the connection is
 * unwritable: a client that does not read holds at most one response beyond the high-water mark.
 *
 * <p>During a drain ({@link SimServer#close()}), a request not yet started is answered 503 with
 * {@code Connection: close}; a connection with nothing running closes.
 */
final class SimHttpHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
  private static final Logger log = LoggerFactory.getLogger(SimHttpHandler.class);
  /** The sim sends no heartbeats; its probe says so. */
  private static final ProbeStream.Options SIM_PROBE = new ProbeStream.Options("sim", java.time.Duration.ZERO);
  /** Requests received but not yet answered, beyond the one being answered. */
  static final int MAX_QUEUED = 16;

  private final SimServer server;
  private final ConnectionTimeouts timeouts;
  private final InboundGate gate;
  private final ArrayDeque<FullHttpRequest> queue = new ArrayDeque<>();
  /** The aggregator before this handler, which holds back a 100 Continue until its request's turn. */
  private InTurnAggregator body;
  private long queuedBodyBytes;
  private ChannelHandlerContext ctx;
  /** A response is being written (instant ones) or is running ({@link #current}). */
  private boolean responding;
  /** The running response that takes time, or null. */
  private SimResponse current;
  /** A response with {@code Connection: close} went out: nothing after it is answered. */
  private boolean closing;

  SimHttpHandler(SimServer server, ConnectionTimeouts timeouts, InboundGate gate) {
    super(false);
    this.server = server;
    this.timeouts = timeouts;
    this.gate = gate;
  }

  static ApiError shuttingDown() {
    return ApiError.server(HttpResponseStatus.SERVICE_UNAVAILABLE, "The simulated model is shutting down.", "sim_shutdown");
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
    this.body = ctx.pipeline().get(InTurnAggregator.class);
  }

  /** Nothing is being answered or waits to be: a request being read now is the next one answered. */
  boolean answeredAll() {
    return !responding && !closing && queue.isEmpty();
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
    timeouts.requestRead();
    if (closing) {
      req.release();
      return;
    }
    queue.add(req);
    queuedBodyBytes += req.content().readableBytes();
    server.metrics().recordQueued(queue.size());
    if (queue.size() >= MAX_QUEUED || queuedBodyBytes >= server.config().maxBodyBytes()) {
      gate.close();
    }
    pump();
  }

  /** Starts queued requests while nothing runs and the client keeps up. */
  private void pump() {
    while (!responding && !closing && !queue.isEmpty() && ctx.channel().isActive()) {
      if (!ctx.channel().isWritable()) {
        return; // channelWritabilityChanged pumps again
      }
      FullHttpRequest req = queue.poll();
      queuedBodyBytes -= req.content().readableBytes();
      try {
        handle(req);
      } finally {
        req.release();
      }
    }
    if (responding || closing || !ctx.channel().isActive()) {
      return;
    }
    if (queue.isEmpty()) {
      if (server.draining()) {
        ctx.close();
        return;
      }
      body.inTurn();
      timeouts.awaitNext();
    }
    if (queue.size() < MAX_QUEUED && queuedBodyBytes < server.config().maxBodyBytes()) {
      gate.open();
    }
  }

  private void handle(FullHttpRequest req) {
    responding = true;
    boolean keepAlive = HttpUtil.isKeepAlive(req);
    if (req.decoderResult().isFailure()) {
      reply(InTurnAggregator.refusal(req, server.config().maxBodyBytes()), false);
      return;
    }
    if (server.draining()) {
      reply(shuttingDown(), false);
      return;
    }
    String target = RequestTarget.originForm(req.uri());
    String path = new QueryStringDecoder(target).path();
    HttpMethod method = req.method();
    try {
      switch (path) {
        case "/healthz" -> requireGet(method, path, () -> json("{\"status\":\"ok\"}", keepAlive));
        case "/metrics" -> requireGet(method, path, () -> send(
            HttpResponses.body(ctx, HttpResponseStatus.OK, PrometheusText.CONTENT_TYPE, server.metrics().scrape()), keepAlive));
        case "/v1/models" -> requireGet(method, path, () -> json(modelsJson(), keepAlive));
        case "/tokenpipe/pacing" -> requireGet(method, path, () -> json(pacingJson(), keepAlive));
        case ProbeRequest.PATH -> requireGet(method, path, () -> {
          // HTTP/1.0 gets a close-delimited body (Http10Framing): nothing can follow it.
          boolean reuse = keepAlive && !HttpVersion.HTTP_1_0.equals(req.protocolVersion());
          closing = !reuse;
          running(new SimResponse() {
            @Override
            public void onWritable() { }

            @Override
            public void shutdown() {
              ctx.close(); // the probe writes its own events; it has no in-band error to end with
            }

            @Override
            public void onClientGone() { } // the probe watches its connection itself, and lets go when it ends
          });
          ProbeStream.start(ctx, ProbeRequest.parse(target), SIM_PROBE, reuse, this::responseEnded);
        });
        default -> {
          SimApi api = SimApi.forPath(path);
          if (api == null) {
            throw new ApiException(ApiError.notFound("Invalid URL (" + method + " " + path + ")", "unknown_url"));
          }
          try {
            if (!HttpMethod.POST.equals(method)) {
              throw new ApiException(ApiError.methodNotAllowed(method.name(), path));
            }
            generate(req, api, keepAlive);
          } catch (ApiException e) {
            reply(e.error(), api.dialect, keepAlive);
          }
        }
      }
    } catch (ApiException e) {
      reply(e.error(), keepAlive);
    }
  }

  /**
   * The error as a JSON response in {@code dialect}'s own shape (OpenAI's for the OpenAI APIs, Anthropic's
   * {@code {"type":"error","error":{"type","message"}}} for Messages); a 405 says {@code Allow: POST}, the
   * one method the generation endpoints take.
   */
  static FullHttpResponse errorResponse(ChannelHandlerContext ctx, ApiError error, Dialect dialect) {
    FullHttpResponse res = HttpResponses.json(ctx, error.status(), dialect.errorBody(error));
    if (error.status().code() == 405) {
      res.headers().set(HttpHeaderNames.ALLOW, "POST");
    }
    return res;
  }

  private void running(SimResponse response) {
    current = response;
  }

  /** The running response ended (it wrote its last byte, or gave up on a client that left). */
  private void responseEnded() {
    current = null;
    responding = false;
    pump();
  }

  /** The drain began: a connection with nothing running closes now; a running one closes after its response. */
  void drain() {
    if (!responding) {
      ctx.close();
    }
  }

  /** The drain period ran out: end the running response with its error, or close. */
  void shutdownNow() {
    if (current != null) {
      current.shutdown();
    } else {
      ctx.close();
    }
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    if (ctx.channel().isWritable()) {
      if (current != null) {
        current.onWritable();
      } else {
        pump();
      }
    }
    ctx.fireChannelWritabilityChanged();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    releaseQueue();
    if (current != null) {
      current.onClientGone();
    }
    ctx.fireChannelInactive();
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    releaseQueue();
  }

  private void releaseQueue() {
    FullHttpRequest r;
    while ((r = queue.poll()) != null) {
      r.release();
    }
    queuedBodyBytes = 0;
  }

  private void generate(FullHttpRequest req, SimApi api, boolean keepAlive) {
    SimRequest request = SimRequest.parse(
        api, req.content().toString(StandardCharsets.UTF_8), req.headers().get(StreamProfile.HEADER), server.config());
    RandomGenerator random = server.newRandom();
    StreamProfile profile = request.profile();
    if (profile.errorRate() > 0 && random.nextDouble() < profile.errorRate()) {
      HttpResponseStatus status = HttpResponseStatus.valueOf(profile.errorStatus());
      ApiError err = ApiError.server(status, "Injected fault: the simulated model answered " + status, "injected_fault");
      FullHttpResponse res = errorResponse(ctx, err, api.dialect);
      if (status.code() == 429) {
        res.headers().set(HttpHeaderNames.RETRY_AFTER, "1");
      }
      server.metrics().errors.labelValues(String.valueOf(status.code())).inc();
      send(res, keepAlive);
      return;
    }
    if (request.stream()) {
      // HTTP/1.0 gets a close-delimited body (Http10Framing): nothing can follow it.
      boolean reuse = keepAlive && !HttpVersion.HTTP_1_0.equals(req.protocolVersion());
      closing = !reuse;
      // Above --capacity the stream waits for a slot (its TTFT starts then); it stays this connection's response.
      server.slots().run(ctx, release -> {
        TokenStream stream = new TokenStream(ctx, request, server.metrics(), random, reuse, () -> {
          release.run();
          responseEnded();
        });
        running(stream);
        stream.start();
      });
    } else {
      closing = !keepAlive;
      running(CompleteResponse.schedule(ctx, request, server.metrics(), random, keepAlive, this::responseEnded));
    }
  }

  private static void requireGet(HttpMethod method, String path, Runnable action) {
    if (!HttpMethod.GET.equals(method) && !HttpMethod.HEAD.equals(method)) {
      throw new ApiException(ApiError.methodNotAllowed(method.name(), path));
    }
    action.run();
  }

  private String modelsJson() {
    ObjectNode root = Json.MAPPER.createObjectNode().put("object", "list");
    ArrayNode data = root.putArray("data");
    for (String id : server.config().models()) {
      data.addObject().put("id", id).put("object", "model").put("created", 1_700_000_000L).put("owned_by", "tokenpipe");
    }
    return root.toString();
  }

  private String pacingJson() {
    Histogram h = server.metrics().pacingErrorMicrosInterval();
    return Json.MAPPER.createObjectNode()
        .put("events", h.getTotalCount())
        .put("p50_us", h.getValueAtPercentile(50))
        .put("p99_us", h.getValueAtPercentile(99))
        .put("p999_us", h.getValueAtPercentile(99.9))
        .put("max_us", h.getMaxValue())
        .put("active_streams", server.metrics().activeStreams())
        .toString();
  }

  private void json(String body, boolean keepAlive) {
    send(HttpResponses.json(ctx, HttpResponseStatus.OK, body), keepAlive);
  }

  /** An error of the sim's own endpoints (models, health, metrics, probe), whose only methods are GET and HEAD. */
  private void reply(ApiError error, boolean keepAlive) {
    server.metrics().errors.labelValues(String.valueOf(error.status().code())).inc();
    send(HttpResponses.error(ctx.alloc(), error, "GET, HEAD"), keepAlive);
  }

  private void reply(ApiError error, Dialect dialect, boolean keepAlive) {
    server.metrics().errors.labelValues(String.valueOf(error.status().code())).inc();
    send(errorResponse(ctx, error, dialect), keepAlive);
  }

  /** An instant response: written whole; the next request may start once the connection is writable. */
  private void send(FullHttpResponse res, boolean keepAlive) {
    HttpResponses.send(ctx, res, keepAlive);
    server.metrics().recordPending(ctx.channel());
    closing |= !keepAlive;
    responding = false;
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    log.debug("sim connection error", cause);
    if (responding || !ctx.channel().isActive()) {
      ctx.close();
      return;
    }
    responding = true;
    send(HttpResponses.error(ctx, ApiError.server(HttpResponseStatus.INTERNAL_SERVER_ERROR,
        "Internal error in the simulated model", "internal_error")), false);
  }
}
