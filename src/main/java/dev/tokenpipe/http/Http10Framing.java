package dev.tokenpipe.http;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.ArrayDeque;

/**
 * Close-delimited bodies for HTTP/1.0 clients, which do not know chunked transfer coding (RFC 9112
 * §6.1: a server MUST NOT send it to a 1.0 request). For a response to a 1.0 request that would be
 * chunked, it removes {@code Transfer-Encoding} from the head (Netty's encoder then writes every content
 * as raw bytes, each write still flushed on its own), says {@code Connection: close}, and closes the
 * connection once the last content is written: the close is the end of the body. Responses with a
 * {@code Content-Length} pass unchanged, so a 1.0 keep-alive client keeps its connection for those.
 *
 * <p>Sits right after the HTTP codec, so it sees every request head (also those the body aggregator
 * answers itself) and every response; responses come in request order, so a queue of versions pairs them.
 */
public final class Http10Framing extends ChannelDuplexHandler {
  private final ArrayDeque<Boolean> http10 = new ArrayDeque<>();
  private boolean closeAfterLast;

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof HttpRequest req) {
      http10.add(req.protocolVersion().equals(HttpVersion.HTTP_1_0));
    }
    ctx.fireChannelRead(msg);
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    if (msg instanceof HttpResponse res && res.status().codeClass() != HttpStatusClass.INFORMATIONAL) {
      Boolean old = http10.poll();
      if (Boolean.TRUE.equals(old) && HttpUtil.isTransferEncodingChunked(res)) {
        res.headers().remove(HttpHeaderNames.TRANSFER_ENCODING);
        res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        closeAfterLast = true;
      }
    }
    if (closeAfterLast && msg instanceof LastHttpContent) {
      closeAfterLast = false;
      ChannelPromise p = promise.unvoid();
      ctx.write(msg, p);
      p.addListener(ChannelFutureListener.CLOSE);
      return;
    }
    ctx.write(msg, promise);
  }
}
