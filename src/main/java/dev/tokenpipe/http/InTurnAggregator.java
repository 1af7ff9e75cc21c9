package dev.tokenpipe.http;

import dev.tokenpipe.net.Buffers;
import dev.tokenpipe.openai.ApiError;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.FullHttpMessage;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.util.ReferenceCountUtil;
import java.util.function.BooleanSupplier;

/**
 * Aggregates request bodies up to a limit, for serve and the sim alike. An oversized request (a body over the limit, or {@code Expect:
 * 100-continue} with a declared length over it, RFC 9110 §10.1.1) and a request with any other expectation are passed
 * on as a {@link RefusedRequest}, without their bodies (dropped as they come), for the server's handler to answer in its turn (413 or 417) and close. A {@code 100 Continue} goes out only
 * in its request's turn: at once when every request before it was answered, else when the handler says so
 * ({@link #inTurn}, {@link ContinueInTurn}). No refusal is written here: written at once, it went into the middle
 * of a response still streaming on the same connection, and the close after it cut that response.
 *
 * <p>Memory: an aggregated body is a composite of slices of the socket reads it came in, and each slice holds its
 * whole receive buffer (Netty's adaptive receive buffer jumps to 64 KiB after one full read and shrinks one step
 * per two short reads). The gateway keeps a request for its whole stream (it may send it again to another
 * upstream), so a body that occupies more than twice its bytes is copied into one buffer of its size when it is
 * complete: at most twice the limit per request (docs/serve.md, "Memory per stream").
 */
public final class InTurnAggregator extends HttpObjectAggregator {
  private final int maxBodyBytes;
  private final ContinueInTurn continues;

  /** @param answeredAll the server handler's: no answer to a request before the one being read is owed */
  public InTurnAggregator(int maxBodyBytes, BooleanSupplier answeredAll) {
    super(maxBodyBytes); // it writes no failed expectation's answer of its own, so none to close after
    this.maxBodyBytes = maxBodyBytes;
    this.continues = new ContinueInTurn(answeredAll);
  }

  /**
   * The answer, in its turn, to a request passed on failed: over the limit (413), an unsupported expectation (417),
   * or one the HTTP decoder could not parse (414 for the request line, 431 for the headers, else 400; RFC 9110
   * §15.5, RFC 6585 §5). The server closes after it.
   */
  public static ApiError refusal(FullHttpRequest req, int maxBodyBytes) {
    if (RefusedRequest.tooLarge(req)) {
      return ApiError.tooLarge(maxBodyBytes);
    }
    if (RefusedRequest.expectationFailed(req)) {
      return ApiError.expectationFailed();
    }
    Throwable cause = req.decoderResult().cause();
    if (cause instanceof TooLongHttpLineException) {
      return new ApiError(HttpResponseStatus.REQUEST_URI_TOO_LONG, "The request line is too long.",
          "invalid_request_error", null, "uri_too_long");
    }
    if (cause instanceof TooLongHttpHeaderException) {
      return new ApiError(HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "The request headers are too large.",
          "invalid_request_error", null, "headers_too_large");
    }
    return new ApiError(HttpResponseStatus.BAD_REQUEST, "Malformed HTTP request.", "invalid_request_error", null,
        "malformed_request");
  }

  /** Every request before the one being read was answered: its 100 Continue goes out now if it is owed. */
  public void inTurn() {
    continues.inTurn(ctx());
  }

  @Override
  protected void finishAggregation(FullHttpMessage aggregated) throws Exception {
    continues.settled(); // the body came without it
    super.finishAggregation(aggregated);
    if (aggregated.content() instanceof CompositeByteBuf body && Buffers.memory(body) > 2L * body.readableBytes()) {
      // One buffer of exactly its bytes in place of its parts, which are released (consolidate() leaves a body
      // of one part, one read's slice, as it is).
      ByteBuf copy = body.alloc().buffer(body.readableBytes());
      Buffers.copy(body, copy, body.readableBytes());
      body.removeComponents(0, body.numComponents());
      body.setIndex(0, 0);
      body.addComponent(true, copy);
    }
  }

  /**
   * A request refused before its body: a declared length over the limit, or an unsupported expectation (which
   * Netty's aggregator answered 417 at once), the latter checked first as Netty does. The aggregator then passes
   * it on through {@link #handleOversizedMessage} and drops the body, if one follows, as it comes.
   */
  @Override
  protected boolean isContentLengthInvalid(HttpMessage start, int maxContentLength) {
    return RefusedRequest.unsupportedExpectation(start) || super.isContentLengthInvalid(start, maxContentLength);
  }

  @Override
  protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
    continues.settled(); // a chunked body over the limit: refused in its turn, with no 100 before the refusal
    if (oversized instanceof HttpRequest req) {
      ctx.fireChannelRead(RefusedRequest.of(req, maxBodyBytes));
    } else {
      ctx.close();
    }
  }

  @Override
  protected Object newContinueResponse(HttpMessage start, int maxContentLength, ChannelPipeline pipeline) {
    if (RefusedRequest.unsupportedExpectation(start)) {
      return null; // on to handleOversizedMessage (isContentLengthInvalid): answered 417 in its turn
    }
    Object answer = super.newContinueResponse(start, maxContentLength, pipeline);
    if (answer instanceof HttpResponse netty && netty.status().code() == 413) {
      ReferenceCountUtil.release(answer);
      return null; // on to handleOversizedMessage: answered in its turn, with the requests before it
    }
    return continues.offer(answer); // null (no Expect), or 100 Continue: now, or held back for its turn
  }
}
