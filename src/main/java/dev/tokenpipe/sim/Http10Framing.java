package dev.tokenpipe.sim;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.ArrayDeque;

/**
 * Frames responses to HTTP/1.0 requests the way HTTP/1.0 can read them: chunked transfer coding is
 * HTTP/1.1 only (RFC 9112 section 6.1: a server must not send it to a 1.0 client), so a streamed body
 * to a 1.0 client goes without {@code Transfer-Encoding} and without a length, with
 * {@code Connection: close}, and the connection closes after its last byte, which is what ends the body
 * (RFC 9112 section 6.3, rule 8). Complete responses keep their {@code Content-Length} and are untouched.
 *
 * <p>It sits right after the HTTP codec: it sees each request head inbound (in order) and each response
 * outbound (in the same order, responses are never reordered on a connection). Interim 1xx responses
 * do not consume a request.
 */
final class Http10Framing extends ChannelDuplexHandler {
  private final ArrayDeque<HttpVersion> requests = new ArrayDeque<>();
  private boolean closeAfterBody;

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof HttpRequest req) {
      requests.add(req.protocolVersion());
    }
    ctx.fireChannelRead(msg);
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    if (msg instanceof HttpResponse res && res.status().codeClass() != io.netty.handler.codec.http.HttpStatusClass.INFORMATIONAL) {
      HttpVersion version = requests.poll();
      if (version == HttpVersion.HTTP_1_0 && !(res instanceof FullHttpResponse) && HttpUtil.isTransferEncodingChunked(res)) {
        res.headers().remove(HttpHeaderNames.TRANSFER_ENCODING);
        res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        closeAfterBody = true;
      }
    }
    if (closeAfterBody && msg instanceof LastHttpContent) {
      closeAfterBody = false;
      ctx.write(msg, promise).addListener(ChannelFutureListener.CLOSE);
      return;
    }
    ctx.write(msg, promise);
  }
}
