package dev.tokenpipe.gateway;

import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.openai.ApiException;
import dev.tokenpipe.probe.ProbeRequest;
import dev.tokenpipe.probe.ProbeStream;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.QueryStringDecoder;

/**
 * {@code GET /tokenpipe/probe} on {@code serve}: the known-pacing probe served by the gateway itself, so
 * {@code doctor} can time every layer between a client and this gateway and tell it apart from what the
 * upstream does. Safe on a public port:
 * <ul>
 *   <li>{@code --probe off} removes the route (404, like any unknown URL);
 *   <li>with {@code --api-keys-file} it asks for a key like {@code /v1/*} (401 without one);
 *   <li>bounded per request (4 MiB of event data, 5 minutes: {@link ProbeRequest}), per client address
 *       (20 running probes, then 429: {@link dev.tokenpipe.probe.ProbeLimiter}) and in memory (events wait
 *       while the client is unwritable: {@link ProbeStream});
 *   <li>it advertises the gateway's heartbeat ({@code X-Tokenpipe-Heartbeat: 15.0s}) and sends those
 *       heartbeats while quiet, as proxied streams do.
 * </ul>
 * Errors are {@link ApiException}s for the caller's usual JSON error path.
 */
final class ProbeRoute {
  private ProbeRoute() {}

  /**
   * Serves one probe request. The connection reads no further request until the probe ends; then
   * {@code onEnd} runs on the connection's loop. {@code req} is released here on success.
   */
  static void serve(GatewayContext gw, ChannelHandlerContext ctx, FullHttpRequest req, long start, boolean keepAlive,
      Runnable onEnd) {
    if (!gw.config().probe()) {
      String path = new QueryStringDecoder(req.uri()).path();
      throw new ApiException(ApiError.notFound("Invalid URL (" + req.method() + " " + path + ")", "unknown_url"));
    }
    if (!HttpMethod.GET.equals(req.method())) {
      throw new ApiException(ApiError.methodNotAllowed(req.method().name(), ProbeRequest.PATH));
    }
    ApiError denied = gw.apiKeys().check(req.headers());
    if (denied != null) {
      throw new ApiException(denied);
    }
    ProbeRequest probe = ProbeRequest.parse(req.uri());
    ProbeStream.Options options = new ProbeStream.Options("serve", gw.config().heartbeat());
    String method = req.method().name();
    String uri = req.uri();
    // Logged when the stream ends, as a proxied stream is: its line then has the stream's duration and how it
    // ended. Logged when the head went out, it said duration_ms=1.6 for a probe that ran 2.9 s.
    ProbeStream.start(ctx, probe, options, keepAlive, onEnd,
        ended -> gw.accessLog().local(method, uri, 200, start, outcome(ended)));
    req.release();
  }

  /** The access log's outcome, in the words of a proxied stream's. */
  private static String outcome(ProbeStream.Ended ended) {
    return switch (ended) {
      case DONE -> "done";
      case CANCELLED -> "cancelled";
      case CUT -> "error:" + ErrorKind.SLOW_CLIENT.label();
    };
  }
}
