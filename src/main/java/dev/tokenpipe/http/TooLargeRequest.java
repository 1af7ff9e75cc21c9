package dev.tokenpipe.http;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.TooLongHttpContentException;

/**
 * What a body aggregator passes on in place of a request whose body is over its limit: the request's head with no
 * body, its decoder result failed with Netty's {@link TooLongHttpContentException}. The server's handler answers
 * it 413 in its turn, after the responses to the requests pipelined before it, and closes; the aggregator drops
 * the rest of the body as it comes. Netty's own 413 went out at once, into the middle of a response still
 * streaming on the same connection, and its close cut that response. Used by {@code serve} and {@code sim} alike.
 */
public final class TooLargeRequest {
  private TooLargeRequest() {}

  /** The body-less stand-in for {@code head}, whose body is over {@code maxBodyBytes}. */
  public static FullHttpRequest of(HttpRequest head, int maxBodyBytes) {
    FullHttpRequest req = new DefaultFullHttpRequest(head.protocolVersion(), head.method(), head.uri(),
        Unpooled.EMPTY_BUFFER, head.headers().copy(), EmptyHttpHeaders.INSTANCE);
    req.setDecoderResult(DecoderResult.failure(new TooLongHttpContentException(
        "request body larger than " + maxBodyBytes + " bytes")));
    return req;
  }

  /** Whether {@code req} stands for a request whose body was over the limit. */
  public static boolean is(FullHttpRequest req) {
    return req.decoderResult().cause() instanceof TooLongHttpContentException;
  }
}
