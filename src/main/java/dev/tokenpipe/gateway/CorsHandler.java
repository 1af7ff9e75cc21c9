package dev.tokenpipe.gateway;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpStatusClass;
import java.util.ArrayDeque;
import java.util.List;

/**
 * Adds the CORS response headers ({@link CorsPolicy}) to every response of a client connection, the
 * gateway's own, the upstream's relayed ones and streams alike (only the head is touched; the body passes
 * as it is). It remembers each request's {@code Origin} on the way in and decorates the response head
 * to that request on the way out (responses come in request order). Installed only with
 * {@code --cors-origins}; preflights themselves are answered by {@link GatewayHandler}.
 */
final class CorsHandler extends ChannelDuplexHandler {
  private static final String NONE = "";

  private final CorsPolicy policy;
  private final ArrayDeque<String> origins = new ArrayDeque<>();

  CorsHandler(CorsPolicy policy) {
    this.policy = policy;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof HttpRequest req) {
      String origin = req.headers().get(HttpHeaderNames.ORIGIN);
      origins.add(origin == null ? NONE : origin);
    }
    ctx.fireChannelRead(msg);
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    if (msg instanceof HttpResponse res && res.status().codeClass() != HttpStatusClass.INFORMATIONAL) {
      String origin = origins.poll();
      decorate(res.headers(), origin == null || origin.equals(NONE) ? null : origin);
    }
    ctx.write(msg, promise);
  }

  private void decorate(HttpHeaders h, String origin) {
    // The gateway owns CORS: the upstream's answer for its own origin list must not leak through.
    for (String name : List.copyOf(h.names())) {
      String lower = name.toLowerCase(java.util.Locale.ROOT);
      if (lower.startsWith("access-control-allow-origin") || lower.equals("access-control-allow-credentials")
          || lower.equals("access-control-expose-headers")) {
        h.remove(name);
      }
    }
    if (!policy.any()) {
      h.add(HttpHeaderNames.VARY, HttpHeaderNames.ORIGIN);
    }
    String allow = policy.allowOrigin(origin);
    if (allow != null) {
      h.set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_ORIGIN, allow);
      h.set(HttpHeaderNames.ACCESS_CONTROL_EXPOSE_HEADERS, CorsPolicy.EXPOSE);
    }
  }
}
