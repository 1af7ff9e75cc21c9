package dev.tokenpipe.http;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;

/**
 * The mark the body aggregator ({@link InTurnAggregator}) puts on a request whose {@code Expect} is not {@code 100-continue} (RFC 9110
 * §10.1.1): its decoder result failed with this class's cause. The server's handler answers it 417 in its turn,
 * after the responses to the requests pipelined before it, and closes: whether its body follows or not is
 * unknown, so nothing after it on the connection can be trusted. Netty's aggregator answered it the moment it
 * parsed the head, into the middle of a response still streaming on the same connection. Used by {@code serve}
 * and {@code sim} alike, as {@link TooLargeRequest} is for a body over the limit.
 */
public final class ExpectationFailed {
  private ExpectationFailed() {}

  /** The decoder-result cause that marks the request. */
  private static final class Unsupported extends RuntimeException {
    Unsupported() {
      super("unsupported expectation", null, false, false);
    }
  }

  /** Expect other than 100-continue on an HTTP/1.1 request, as Netty tests it (its HttpUtil method is not public). */
  public static boolean unsupported(HttpMessage m) {
    String expect = m.headers().get(HttpHeaderNames.EXPECT);
    return m instanceof HttpRequest && m.protocolVersion().compareTo(HttpVersion.HTTP_1_1) >= 0 && expect != null
        && !HttpHeaderValues.CONTINUE.contentEqualsIgnoreCase(expect);
  }

  /** The marked, body-less stand-in for {@code head}, passed on without waiting for a body that may never come. */
  public static FullHttpRequest of(HttpRequest head) {
    FullHttpRequest req = new DefaultFullHttpRequest(head.protocolVersion(), head.method(), head.uri(),
        Unpooled.EMPTY_BUFFER, head.headers().copy(), EmptyHttpHeaders.INSTANCE);
    req.setDecoderResult(DecoderResult.failure(new Unsupported()));
    return req;
  }

  /** Whether {@code req} is marked: its expectation is to be answered 417. */
  public static boolean is(FullHttpRequest req) {
    return req.decoderResult().cause() instanceof Unsupported;
  }
}
