package dev.tokenpipe.sim;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokenpipe.http.HttpResponses;
import dev.tokenpipe.http.PrometheusText;
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
import java.nio.charset.StandardCharsets;
import java.util.random.RandomGenerator;
import org.HdrHistogram.Histogram;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Routes requests of one connection. While a response is in progress the channel stops reading,
 * so a pipelined request waits its turn instead of interleaving with a stream.
 */
final class SimHttpHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
  private static final Logger log = LoggerFactory.getLogger(SimHttpHandler.class);

  private final SimServer server;
  private boolean responding;

  SimHttpHandler(SimServer server) {
    this.server = server;
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
    boolean keepAlive = HttpUtil.isKeepAlive(req);
    if (req.decoderResult().isFailure()) {
      reply(ctx, ApiError.invalidRequest("Malformed HTTP request: " + req.decoderResult().cause().getMessage(), null), false);
      return;
    }
    responding = true;
    ctx.channel().config().setAutoRead(false);
    String path = new QueryStringDecoder(req.uri()).path();
    HttpMethod method = req.method();
    try {
      switch (path) {
        case "/healthz" -> requireGet(method, path, () -> json(ctx, "{\"status\":\"ok\"}", keepAlive));
        case "/metrics" -> requireGet(method, path, () -> send(ctx,
            HttpResponses.body(ctx, HttpResponseStatus.OK, PrometheusText.CONTENT_TYPE, server.metrics().scrape()), keepAlive));
        case "/v1/models" -> requireGet(method, path, () -> json(ctx, modelsJson(), keepAlive));
        case "/tokenpipe/pacing" -> requireGet(method, path, () -> json(ctx, pacingJson(), keepAlive));
        case ProbeRequest.PATH -> requireGet(method, path,
            () -> ProbeStream.start(ctx, ProbeRequest.parse(req.uri()), keepAlive, () -> resumeReading(ctx)));
        default -> {
          SimApi api = SimApi.forPath(path);
          if (api == null) {
            throw new ApiException(ApiError.notFound("Invalid URL (" + method + " " + path + ")", "unknown_url"));
          }
          if (!HttpMethod.POST.equals(method)) {
            throw new ApiException(ApiError.methodNotAllowed(method.name(), path));
          }
          generate(ctx, req, api, keepAlive);
        }
      }
    } catch (ApiException e) {
      reply(ctx, e.error(), keepAlive);
    }
  }

  private void generate(ChannelHandlerContext ctx, FullHttpRequest req, SimApi api, boolean keepAlive) {
    SimRequest request = SimRequest.parse(
        api, req.content().toString(StandardCharsets.UTF_8), req.headers().get(StreamProfile.HEADER), server.config());
    RandomGenerator random = server.newRandom();
    StreamProfile profile = request.profile();
    if (profile.errorRate() > 0 && random.nextDouble() < profile.errorRate()) {
      HttpResponseStatus status = HttpResponseStatus.valueOf(profile.errorStatus());
      ApiError err = ApiError.server(status, "Injected fault: the simulated model answered " + status, "injected_fault");
      FullHttpResponse res = HttpResponses.error(ctx, err);
      if (status.code() == 429) {
        res.headers().set(HttpHeaderNames.RETRY_AFTER, "1");
      }
      server.metrics().errors.labelValues(String.valueOf(status.code())).inc();
      send(ctx, res, keepAlive);
      return;
    }
    Runnable onEnd = () -> resumeReading(ctx);
    if (request.stream()) {
      server.slots().run(ctx, release -> new TokenStream(ctx, request, server.metrics(), random, keepAlive, () -> {
        release.run();
        onEnd.run();
      }).start());
    } else {
      CompleteResponse.schedule(ctx, request, server.metrics(), random, keepAlive, onEnd);
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

  private void json(ChannelHandlerContext ctx, String body, boolean keepAlive) {
    send(ctx, HttpResponses.json(ctx, HttpResponseStatus.OK, body), keepAlive);
  }

  private void reply(ChannelHandlerContext ctx, ApiError error, boolean keepAlive) {
    server.metrics().errors.labelValues(String.valueOf(error.status().code())).inc();
    send(ctx, HttpResponses.error(ctx, error), keepAlive);
  }

  private void send(ChannelHandlerContext ctx, FullHttpResponse res, boolean keepAlive) {
    HttpResponses.send(ctx, res, keepAlive);
    resumeReading(ctx);
  }

  private void resumeReading(ChannelHandlerContext ctx) {
    responding = false;
    ctx.channel().config().setAutoRead(true);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    log.debug("sim connection error", cause);
    if (responding || !ctx.channel().isActive()) {
      ctx.close();
      return;
    }
    send(ctx, HttpResponses.error(ctx, ApiError.server(HttpResponseStatus.INTERNAL_SERVER_ERROR,
        "Internal error in the simulated model", "internal_error")), false);
  }
}
