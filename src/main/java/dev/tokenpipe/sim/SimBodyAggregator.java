package dev.tokenpipe.sim;

import dev.tokenpipe.http.ContinueInTurn;
import dev.tokenpipe.http.ExpectationFailed;
import dev.tokenpipe.http.TooLargeRequest;
import dev.tokenpipe.openai.ApiError;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.FullHttpMessage;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpUtil;
import java.util.function.BooleanSupplier;

/**
 * Aggregates request bodies up to {@code --max-body}. A request refused here is not answered here (Netty's
 * aggregator would write its own empty 413 or 417 at once, into the middle of a response still streaming on
 * the same connection): it is passed on marked as failed, and the handler answers it with an OpenAI-style
 * error ({@link #refusal}) in its turn, then closes. For the same reason a {@code 100 Continue} is written only
 * in its request's turn: at once when every request before it was answered, else when the handler says so
 * ({@link #inTurn}, {@link ContinueInTurn}).
 */
final class SimBodyAggregator extends HttpObjectAggregator {
  private final int maxBodyBytes;
  private final ContinueInTurn continues;

  /** @param answeredAll the handler's: no answer to a request before the one being read is owed */
  SimBodyAggregator(int maxBodyBytes, BooleanSupplier answeredAll) {
    super(maxBodyBytes);
    this.maxBodyBytes = maxBodyBytes;
    this.continues = new ContinueInTurn(answeredAll);
  }

  /** Every request before the one being read was answered: its 100 Continue goes out now if it is owed. */
  void inTurn() {
    continues.inTurn(ctx());
  }

  /** The answer to a request this aggregator marked or the decoder could not parse: 413, 417 or 400. */
  static ApiError refusal(FullHttpRequest req, int maxBodyBytes) {
    if (TooLargeRequest.is(req)) {
      return ApiError.tooLarge(maxBodyBytes);
    }
    if (ExpectationFailed.is(req)) {
      return ApiError.expectationFailed();
    }
    return ApiError.invalidRequest("Malformed HTTP request: " + req.decoderResult().cause().getMessage(), null);
  }

  /**
   * Netty answers a failed expectation itself, at once and with an empty body: a declared length over the limit
   * with 413 (curl sends {@code Expect: 100-continue} for a large body), any other expectation with 417, leaving
   * the connection open. Here it gives no answer of its own: an oversized declared length then goes on to
   * {@link #handleOversizedMessage} like one sent without Expect, before the client sends its body; another
   * expectation is aggregated with its (bounded) body and marked in {@link #finishAggregation}.
   */
  @Override
  protected Object newContinueResponse(HttpMessage start, int maxContentLength, ChannelPipeline pipeline) {
    if (ExpectationFailed.unsupported(start)
        || (HttpUtil.is100ContinueExpected(start) && isContentLengthInvalid(start, maxContentLength))) {
      return null;
    }
    return continues.offer(super.newContinueResponse(start, maxContentLength, pipeline));
  }

  @Override
  protected void finishAggregation(FullHttpMessage aggregated) throws Exception {
    continues.settled(); // the body came without it
    super.finishAggregation(aggregated);
    if (aggregated instanceof FullHttpRequest req && ExpectationFailed.unsupported(req)) {
      ExpectationFailed.mark(req);
    }
  }

  @Override
  protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
    continues.settled(); // a chunked body over the limit: refused in its turn, with no 100 before the refusal
    if (!(oversized instanceof HttpRequest head)) {
      ctx.close();
      return;
    }
    ctx.fireChannelRead(TooLargeRequest.of(head, maxBodyBytes));
  }
}
