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
import io.netty.handler.codec.http.TooLongHttpContentException;

/**
 * What {@link InTurnAggregator} passes on in place of a request it refuses before its body: the request's head
 * with no body, its decoder result failed with the reason, a body over the limit (Netty's
 * {@link TooLongHttpContentException}: 413) or an {@code Expect} other than {@code 100-continue} (RFC 9110 §10.1.1:
 * 417). The server's handler answers it in its turn, after the responses to the requests pipelined before it, and
 * closes (whether the body follows is then unknown); the aggregator drops the body as it comes. Netty's own 413 and
 * 417 went out at once, into the middle of a response still streaming on the same connection, and the close after
 * them cut that response.
 */
final class RefusedRequest {
  private RefusedRequest() {}

  /** The decoder-result cause of an unsupported expectation. */
  private static final class UnsupportedExpectation extends RuntimeException {
    UnsupportedExpectation() {
      super("unsupported expectation", null, false, false);
    }
  }

  /** Expect other than 100-continue on an HTTP/1.1 request, as Netty tests it (its HttpUtil method is not public). */
  static boolean unsupportedExpectation(HttpMessage m) {
    String expect = m.headers().get(HttpHeaderNames.EXPECT);
    return m instanceof HttpRequest && m.protocolVersion().compareTo(HttpVersion.HTTP_1_1) >= 0 && expect != null
        && !HttpHeaderValues.CONTINUE.contentEqualsIgnoreCase(expect);
  }

  /** The stand-in for {@code head}: an unsupported expectation if it has one, else a body over {@code maxBodyBytes}. */
  static FullHttpRequest of(HttpRequest head, int maxBodyBytes) {
    FullHttpRequest req = new DefaultFullHttpRequest(head.protocolVersion(), head.method(), head.uri(),
        Unpooled.EMPTY_BUFFER, head.headers().copy(), EmptyHttpHeaders.INSTANCE);
    req.setDecoderResult(DecoderResult.failure(unsupportedExpectation(head) ? new UnsupportedExpectation()
        : new TooLongHttpContentException("request body larger than " + maxBodyBytes + " bytes")));
    return req;
  }

  /** Whether {@code req} stands for a request whose body was over the limit. */
  static boolean tooLarge(FullHttpRequest req) {
    return req.decoderResult().cause() instanceof TooLongHttpContentException;
  }

  /** Whether {@code req} stands for a request whose expectation is answered 417. */
  static boolean expectationFailed(FullHttpRequest req) {
    return req.decoderResult().cause() instanceof UnsupportedExpectation;
  }
}
